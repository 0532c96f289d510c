"""The Python example of docs/symbolic.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "symbolic.md"


def test_docs_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/symbolic.md has no python example"
    # our own documentation file, compiled as a test (the library itself never evals)
    exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "docs_example"})
