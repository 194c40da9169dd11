"""The benchmark results (``benchmarks/results/*.md``) as reStructuredText.

The benchmark scripts write Markdown, readable on their own and in a diff; the
documentation includes each result as ``generated/benchmarks/<name>.inc``, written
here when the build starts: headings become rubrics, tables list-tables, the rest
paragraphs.
"""

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _inline(text):
    """Markdown's inline code (single backticks) as reStructuredText's (double)."""
    parts = text.split("`")
    return "".join(
        f"``{part}``" if index % 2 else part for index, part in enumerate(parts)
    )


def _table(rows, title):
    header, body = rows[0], rows[2:]
    lines = [
        f".. list-table:: {title}".rstrip(),
        "   :header-rows: 1",
        "   :class: benchmark",
        "",
    ]
    for row in [header, *body]:
        for index, cell in enumerate(row):
            lines.append(f"   {'* -' if index == 0 else '  -'} {_inline(cell) or '..'}")
    return lines + [""]


def markdown_to_rst(text):
    """reStructuredText of a benchmark report: its title (the page's section gives
    it) dropped, ``###`` headings as table titles, tables as list-tables."""
    lines, table, title = [], [], ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append(_cells(line))
            continue
        if table:
            lines += _table(table, title)
            table, title = [], ""
        if line.startswith("# "):
            continue
        if line.startswith("#"):
            title = _inline(line.lstrip("#").strip())
            continue
        lines.append(_inline(line))
    return "\n".join(lines) + "\n"


def write_tables(app):
    """Write ``generated/benchmarks/<name>.inc`` for every result file."""
    target = Path(app.srcdir) / "generated" / "benchmarks"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(RESULTS.glob("*.md")):
        if path.stem.endswith("_quick"):
            continue
        rst = markdown_to_rst(path.read_text())
        destination = target / f"{path.stem}.inc"
        if not destination.exists() or destination.read_text() != rst:
            destination.write_text(rst)
