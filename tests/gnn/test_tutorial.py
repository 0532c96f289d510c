"""docs/tutorial_gnn.md runs as written: its python blocks, in order, in one namespace."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "tutorial_gnn.md"


def test_tutorial_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4, "docs/tutorial_gnn.md lost its python blocks"
    monkeypatch.chdir(tmp_path)  # the tutorial writes runs/tutorial-gnn
    module = types.ModuleType("tutorial_gnn")  # PyG's inspector looks layers' modules up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in blocks:  # our own documentation, compiled as a test (the library never evals)
        exec(compile(block, str(DOC), "exec"), module.__dict__)
    assert (tmp_path / "runs" / "tutorial-gnn" / "index.html").is_file()
