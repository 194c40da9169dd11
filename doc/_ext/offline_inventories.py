"""Intersphinx inventories built from the installed packages, for offline builds.

The documentation links names of Python, NumPy, SciPy, scikit-learn, joblib, dask
and matplotlib to their online documentation through intersphinx. Intersphinx
reads each project's ``objects.inv`` from its site; a build machine without access
to those sites (CI) would lose every link and fail with ``-W``. This module writes
equivalent inventories from the installed packages instead: the public names of
each package, each mapped to the page its documentation generates for it (every
project above documents an object ``a.b.C`` at a predictable address). conf.py
lists the local file first and the site's own inventory second, so a machine that
can reach the sites still works from a local file and builds the same pages.
"""

import builtins
import importlib
import inspect
import zlib
from pathlib import Path

# project: (site, [(module, page pattern)]); "{name}" is the full dotted name.
SITES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "joblib": "https://joblib.readthedocs.io/en/stable/",
    "dask": "https://docs.dask.org/en/stable/",
    "distributed": "https://distributed.dask.org/en/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
}

_SKLEARN_MODULES = [
    "base",
    "compose",
    "datasets",
    "decomposition",
    "ensemble",
    "exceptions",
    "inspection",
    "kernel_ridge",
    "linear_model",
    "metrics",
    "model_selection",
    "neural_network",
    "pipeline",
    "preprocessing",
    "svm",
    "utils",
    "utils.estimator_checks",
    "utils.validation",
]
_SCIPY_MODULES = ["optimize", "linalg", "sparse.linalg", "integrate", "special"]
_NUMPY_MODULES = ["", "linalg", "polynomial.hermite_e"]
_DASK_MODULES = ["array"]


def _public(module):
    """(name, object) of a module's public API: its ``__all__`` if it has one."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in dir(module) if not name.startswith("_")]
    for name in names:
        try:
            yield name, getattr(module, name)
        except (AttributeError, ImportError):  # experimental or lazy names
            continue


def _role(obj):
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function"
    return None


def _methods(cls):
    return [
        name
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    ]


def _generated(package, modules, page):
    """Entries of the objects of ``package.<module>`` for each module, each on the
    page ``page.format(name=...)`` (classes with their methods)."""
    entries = []
    for module_name in modules:
        full = f"{package}.{module_name}" if module_name else package
        module = importlib.import_module(full)
        for name, obj in _public(module):
            role = _role(obj)
            if role is None:
                continue
            dotted = f"{full}.{name}"
            uri = page.format(name=dotted) + "#" + dotted
            entries.append((dotted, f"py:{role}", uri))
            if role == "class":
                for method in _methods(obj):
                    entries.append(
                        (f"{dotted}.{method}", "py:method", f"{uri}.{method}")
                    )
    return entries


def _python_entries():
    entries = []
    for name, obj in vars(builtins).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            entries.append((name, "py:exception", f"library/exceptions.html#{name}"))
        elif name in {"dict", "list", "tuple", "str", "set", "frozenset", "bytes"}:
            entries.append((name, "py:class", f"library/stdtypes.html#{name}"))
        elif inspect.isclass(obj):
            entries.append((name, "py:class", f"library/functions.html#{name}"))
        elif callable(obj):
            entries.append((name, "py:function", f"library/functions.html#{name}"))
    entries += [
        ("None", "py:data", "library/constants.html#None"),
        ("True", "py:data", "library/constants.html#True"),
        ("False", "py:data", "library/constants.html#False"),
        ("warnings.warn", "py:function", "library/warnings.html#warnings.warn"),
        ("warnings", "py:module", "library/warnings.html#module-warnings"),
    ]
    entries += [
        (term, "std:term", f"glossary.html#term-{term.replace(' ', '-')}")
        for term in ("generator", "iterable", "iterator", "file object", "sequence")
    ]
    return entries


def _numpy_entries():
    entries = _generated("numpy", _NUMPY_MODULES, "reference/generated/{name}.html")
    entries += [
        (
            "numpy.random.RandomState",
            "py:class",
            "reference/random/legacy.html#numpy.random.RandomState",
        ),
        (
            "numpy.random.Generator",
            "py:class",
            "reference/random/generator.html#numpy.random.Generator",
        ),
        (
            "numpy.random.default_rng",
            "py:function",
            "reference/random/generator.html#numpy.random.default_rng",
        ),
    ]
    return entries


def _sklearn_entries():
    entries = _generated("sklearn", _SKLEARN_MODULES, "modules/generated/{name}.html")
    entries += [
        ("glossary", "std:doc", "glossary.html"),
        *(
            (term, "std:term", f"glossary.html#term-{term}")
            for term in (
                "array-like",
                "random_state",
                "n_jobs",
                "estimator",
                "warm_start",
                "early_stopping",
                "partial_fit",
                "sample_weight",
            )
        ),
        ("metadata_routing", "std:label", "metadata_routing.html#metadata-routing"),
        ("developers/develop", "std:doc", "developers/develop.html"),
    ]
    return entries


def _matplotlib_entries():
    entries = _generated("matplotlib", ["pyplot"], "api/_as_gen/{name}.html")
    for cls in ("matplotlib.axes.Axes", "matplotlib.figure.Figure"):
        module, name = cls.rsplit(".", 1)
        obj = getattr(importlib.import_module(module), name)
        page = "api/axes_api.html" if name == "Axes" else f"api/_as_gen/{cls}.html"
        entries.append((cls, "py:class", f"{page}#{cls}"))
        for method in _methods(obj):
            target = f"{cls}.{method}"
            method_page = (
                f"api/_as_gen/{target}.html"
                if name == "Axes"
                else f"api/_as_gen/{cls}.html"
            )
            entries.append((target, "py:method", f"{method_page}#{target}"))
    return entries


def _inventory_entries():
    """Entries of every project in :data:`SITES`, by project."""
    return {
        "python": _python_entries,
        "numpy": _numpy_entries,
        "scipy": lambda: _generated(
            "scipy", _SCIPY_MODULES, "reference/generated/{name}.html"
        ),
        "sklearn": _sklearn_entries,
        "joblib": lambda: _generated("joblib", [""], "generated/{name}.html"),
        "dask": lambda: _generated("dask", _DASK_MODULES, "generated/{name}.html"),
        "distributed": lambda: [
            (f"distributed.{name}", "py:class", f"api.html#distributed.{name}")
            for name in ("Client", "LocalCluster", "Worker", "Scheduler")
        ],
        "matplotlib": _matplotlib_entries,
    }


def write_inventory(path, project, entries):
    """Write ``entries`` (name, domain:role, uri) as a Sphinx inventory (v2)."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        "# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    seen = set()
    lines = []
    for name, role, uri in entries:
        if (name, role) in seen:
            continue
        seen.add((name, role))
        lines.append(f"{name} {role} 1 {uri} -\n")
    Path(path).write_bytes(header.encode() + zlib.compress("".join(lines).encode()))


def intersphinx_mapping(directory):
    """Write the inventories into ``directory`` and return the intersphinx mapping
    that reads them first and the projects' own inventories second."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for project, entries in _inventory_entries().items():
        path = directory / f"{project}.inv"
        write_inventory(path, project, entries())
        mapping[project] = (SITES[project], (str(path), None))
    return mapping
