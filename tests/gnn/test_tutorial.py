"""docs/tutorial_gnn.md runs as written: its python blocks, in order, in one namespace."""

from __future__ import annotations

from tests.doc_blocks import run_page


def test_tutorial_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tutorial writes runs/tutorial-gnn
    run_page("tutorial_gnn.md", monkeypatch, min_blocks=4)
    assert (tmp_path / "runs" / "tutorial-gnn" / "index.html").is_file()
