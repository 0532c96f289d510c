"""docs/tutorial_pinn.md runs as written: its python blocks, in order, in one namespace.

The page asserts each step's result as it goes (the PINN's and the formula's rel. L2, the
formula's form and constants, the discovered terms and coefficients); this test also checks
what the run folders hold on disk.
"""

from __future__ import annotations

import json

from tests.doc_blocks import run_page

FORWARD_FILES = {"metrics.json", "equation.json", "report.md", "run.json", "solution.png",
                 "errors.png", "pde_residual.png", "loss.png"}
DISCOVERY_FILES = {"metrics.json", "equation.json", "report.md", "run.json", "pde_fit.png",
                   "fit_loss.png"}


def test_tutorial_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tutorial writes runs/
    ns = run_page("tutorial_pinn.md", monkeypatch, min_blocks=5)
    forward, found = tmp_path / "runs" / "tutorial-pinn", tmp_path / "runs" / \
        "tutorial-pinn-discover"
    assert FORWARD_FILES <= {p.name for p in forward.iterdir()}
    assert DISCOVERY_FILES <= {p.name for p in found.iterdir()}
    metrics = json.loads((forward / "metrics.json").read_text())
    assert metrics["rel_l2"] < 1e-3 and metrics["pde"] == str(ns["problem"].equation)
    eq = json.loads((found / "equation.json").read_text())
    assert set(eq["terms"]) == {"u_x", "u_xx"} and eq["truth"] == ns["truth"]
    for term, true in ns["truth"].items():  # the file's run agrees with the page's own run
        assert abs(eq["terms"][term] / true - 1) < 0.03
        assert abs(eq["terms"][term] - ns["found"].fit.terms[term]) < 1e-2 * abs(true)
    assert "two-modes.npz" in (found / "report.md").read_text()
