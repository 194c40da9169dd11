"""The code shown in the documentation's pages runs, and its assertions hold."""

import re
import warnings
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "doc"
_BLOCK = re.compile(r"^\.\. code-block:: python\n\n((?:(?: {4}.*)?\n)+)", re.MULTILINE)


def _code_blocks():
    for page in sorted(DOC.rglob("*.rst")):
        for index, match in enumerate(_BLOCK.finditer(page.read_text())):
            code = "\n".join(line[4:] for line in match.group(1).splitlines())
            yield pytest.param(code, id=f"{page.relative_to(DOC)}-{index}")


@pytest.mark.parametrize("code", list(_code_blocks()))
def test_documentation_code_runs(code):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, "<documentation>", "exec"), {})


def test_the_pages_show_code():
    pages = {param.id.rsplit("-", 1)[0] for param in _code_blocks()}
    for page in (
        "index",
        "tensor_init_gd",
        "convotron",
        "moment_recovery",
        "practical_size",
    ):
        assert any(name.endswith(f"{page}.rst") for name in pages), page
