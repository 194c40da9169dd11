"""Check the built documentation for regressions a successful build does not show.

Run after ``sphinx-build -b html doc doc/_build/html`` (CI does)::

    python doc/check_site.py doc/_build/html

Each estimator's API page documents its public members only (no private or special
methods), links the methods it inherits to scikit-learn's documentation and ends
with its examples; formulas are typeset; the benchmark tables are HTML tables.
"""

import re
import sys
from pathlib import Path

ESTIMATORS = [
    "TensorInitGD",
    "TensorInitGDClassifier",
    "Convotron",
    "DoubleConvotron",
    "MomentRecovery",
    "PracticalSizeGD",
    "PracticalSizeGDClassifier",
]
SCIKIT_LEARN = "https://scikit-learn.org/stable/modules/generated/sklearn.base."


def api_page_problems(html, name):
    members = re.findall(rf'id="skrecover\.{name}\.([^"]+)"', html)
    problems = [f"documents {member}" for member in members if member.startswith("_")]
    if (
        f'{SCIKIT_LEARN}BaseEstimator.html#sklearn.base.BaseEstimator.get_params"'
        not in (html)
    ):
        problems.append("does not link get_params to scikit-learn")
    if "fit" not in members:
        problems.append("does not document fit")
    if "Examples using <code" not in html:
        problems.append("has no examples section")
    return problems


def page_problems(site):
    problems = []
    for name in ESTIMATORS:
        html = (site / "generated" / f"skrecover.{name}.html").read_text()
        problems += [f"{name}: {p}" for p in api_page_problems(html, name)]
    for page in sorted((site / "user_guide").glob("*.html")):
        html = page.read_text()
        if page.stem != "index" and 'class="math' not in html:
            problems.append(f"{page.name}: no typeset formula")
        if re.search(r"<span class=\"pre\">[^<]*(sum_|\^T|E\[)", html):
            problems.append(f"{page.name}: a formula as code")
    benchmarks = (site / "benchmarks.html").read_text()
    if "|---|" in benchmarks or "<table" not in benchmarks:
        problems.append("benchmarks.html: tables not rendered as HTML")
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    site = Path(argv[0] if argv else "doc/_build/html")
    problems = page_problems(site)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems in {site}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
