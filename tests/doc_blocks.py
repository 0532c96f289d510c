"""The python blocks of a documentation page, run in order in one namespace (the tutorials'
tests): a page that runs as written cannot drift from the API it documents."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """``(line, code)`` of each python block of ``page``; ``line`` is the 0-based line of the
    page on which the code starts."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)), m.group(1)) for m in BLOCK.finditer(text)]


def run_page(name: str, monkeypatch, min_blocks: int) -> dict:
    """Run ``docs/<name>``'s python blocks in order in one fresh module and return its
    namespace.

    The module is registered in ``sys.modules`` for the test (PyG's inspector looks layers'
    modules up), and each block is compiled at its line of the page, so a traceback names the
    page's own line.
    """
    page = DOCS / name
    blocks = python_blocks(page)
    assert len(blocks) >= min_blocks, f"docs/{name} lost its python blocks"
    module = types.ModuleType(page.stem)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    # our own documentation, compiled as a test (the library itself never evals)
    for line, code in blocks:
        exec(compile("\n" * line + code, str(page), "exec"), module.__dict__)
    return module.__dict__
