"""``benchmarks/suite.py``: the table and its aggregation, a tiny SR section, skipped rows."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

SUITE_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "suite.py"


@pytest.fixture(scope="module")
def suite():
    """``benchmarks/suite.py`` as a module (``benchmarks`` is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("benchmark_suite", SUITE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_medians_alternate_and_table(suite):
    calls = []
    values = {"ours": iter([3.0, 1.0, 2.0]), "ref": iter([10.0, 30.0, 20.0])}

    def timed(name):
        def run():
            calls.append(name)
            return next(values[name])
        return run

    med = suite.medians({"ours": timed("ours"), "ref": timed("ref")}, repeats=3)
    assert calls == ["ours", "ref"] * 3  # they take turns in every repeat
    assert med == {"ours": 2.0, "ref": 20.0}

    rate = suite.Row("gnn", "graphs/s", 200.0, 100.0, "graphs/s", target=">= 10x", met=False)
    time_row = suite.Row("pinn", "time", 2.0, 8.0, "s", higher_is_better=False)
    never = suite.Row("pinn", "time", None, 8.0, "s", higher_is_better=False)
    skipped = suite.Row("pinn", "the whole section", status="skipped: deepxde not installed")
    assert rate.ratio == 2.0 and time_row.ratio == 4.0 and never.ratio is None
    text = suite.table([rate, time_row, never, skipped])
    lines = text.splitlines()
    assert lines[0].split("|")[1].strip() == "section" and len(lines) == 6
    assert "2.00x" in lines[2] and "missed" in lines[2] and "4.00x" in lines[3]
    assert "skipped: deepxde not installed" in lines[5]
    assert rate.to_dict()["ratio"] == 2.0


def test_sr_section_tiny(suite):
    size = {"laws": ["spring"], "targets": ["force"], "noise": [0.0], "seeds": 1,
            "sr_seconds": 1.0, "systems": 20}
    rows = suite.section_sr(suite.Settings(quick=True), size)
    assert len(rows) == 1
    row = rows[0]
    assert row.status == "ok" and row.section == "sr" and "spring" in row.what
    assert isinstance(row.ours, float) and math.isfinite(row.ours) and row.ours > 0
    assert row.details["n_runs"] == 1 and row.details["recovered"] in (0, 1)
    assert f"recovered {row.details['recovered']}/1" in row.note
    run = row.details["runs"][0]
    assert len(run["components"]) == 2 and run["edges"] == 20 * 12


def test_missing_optional_dependency_gives_skipped_rows(suite, monkeypatch):
    monkeypatch.setitem(sys.modules, "deepxde", None)  # importing it now raises ImportError
    rows = suite.run_sections(["pinn"], suite.Settings(quick=True))
    assert len(rows) == 1 and rows[0].status.startswith("skipped: deepxde not installed")
    assert "skipped" in suite.table(rows)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert suite.find_gpu("cpu") == (None, "")
    gpu, reason = suite.find_gpu("cuda")
    assert gpu is None and reason.startswith("CUDA not available")
