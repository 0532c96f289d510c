"""The Python example of docs/symbolic.md runs as written."""

from __future__ import annotations

from tests.doc_blocks import DOCS, python_blocks

DOC = DOCS / "symbolic.md"


def test_docs_example_runs():
    blocks = python_blocks(DOC)
    assert blocks, "docs/symbolic.md has no python example"
    line, code = blocks[0]  # the example; the second block is the API listing
    # our own documentation file, compiled as a test (the library itself never evals)
    exec(compile("\n" * line + code, str(DOC), "exec"), {"__name__": "docs_example"})
