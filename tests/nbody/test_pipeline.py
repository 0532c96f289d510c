"""The n-body pipeline end to end: a real spring recovery, and the run-folder mechanics."""

from __future__ import annotations

import json

import pytest

from physdistill.errors import PhysDistillError
from physdistill.nbody.pipeline import NBodyConfig, force_operators, run_nbody
from physdistill.runs import RunFolder

#: a tiny run for the mechanics (it recovers nothing)
TINY = dict(law="spring", sims=30, steps=50, epochs=1, hidden=8, batch=16, sr_seconds=1.0,
            sr_samples=200, rollout_systems=2, device="cpu")

#: the small real recovery: measured at ~2-3 min on 2 cores
SPRING = dict(law="spring", reg="bottleneck", sims=500, epochs=30, hidden=64,
              sr_seconds=20.0, rollout_systems=4, device="cpu")


def test_spring_bottleneck_is_recovered_end_to_end(tmp_path):
    """Both kept channels carry the spring force; SR recovers it from at least one of them.

    CPU training of this small model is not bit-identical across machines (thread and memory
    layout differences in the matrix products grow through training): on 2026-11-28 two runs
    of this test gave all-points R^2 0.997 / 0.997 with both channels recovered, and 0.981 /
    0.985 with one channel recovered and the other found as the spring form times a small
    m1-dependent factor. The test therefore asserts what held in every run.
    """
    m = run_nbody(NBodyConfig(**SPRING), tmp_path / "run", progress=False)
    assert m["target"] == "force"
    assert min(m["message_r2_all"]) > 0.97
    good = [c for c in m["channels"] if c["recovered"]]
    assert good, m["channels"]
    for c in good:
        assert c["symbolic_match"] and c["ood_rel_error"] < 0.05, c
    assert m["recovered"] == (len(good) == len(m["channels"]))
    # the symbolic edge model rolls out (the errors are reported, not judged here)
    for split in ("held_out", "ood"):
        assert all(0 <= m["rollout"][split][k] < 10 for k in ("truth", "gnn", "symbolic"))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["recovered"] is True and saved["law"] == "spring"


def test_run_folder_files_errors_resume_and_report(tmp_path):
    out = tmp_path / "run"
    m = run_nbody(NBodyConfig(**TINY), out, progress=False)
    for name in ("metrics.json", "equations.json", "report.md", "messages_vs_force.png",
                 "residuals.png", "loss.png", "pareto_channel0.png", "rollout_ood.png",
                 "model/checkpoint.safetensors"):
        assert (out / name).is_file(), name
    keys = {"law", "potential", "regulariser", "n", "dim", "train_loss", "val_loss",
            "message_r2_all", "message_r2_robust", "channels", "recovered", "timings",
            "versions", "seed"}
    assert keys <= set(m)
    assert set(m["channels"][0]) == {"index", "expression", "latex", "complexity",
                                     "r2_vs_message", "ood_rel_error", "symbolic_match",
                                     "recovered"}
    assert set(m["timings"]) == {"data", "train", "distill", "rollout"}  # report: the writer
    report = (out / "report.md").read_text()
    assert "![messages](messages_vs_force.png)" in report
    # an existing run is not overwritten without --force
    with pytest.raises(PhysDistillError, match="already exists"):
        run_nbody(NBodyConfig(**TINY), out, progress=False)
    # resume after an interruption: stages already done are not run again
    run = RunFolder.open(out)
    del run.meta["stages"]["rollout"], run.meta["stages"]["report"]
    run._save_meta()
    (out / "metrics.json").unlink()
    before = (out / "distill.json").read_bytes()
    m2 = run_nbody(NBodyConfig(**TINY), out, resume=True, progress=False)
    assert (out / "distill.json").read_bytes() == before
    assert m2["channels"] == m["channels"]
    # resuming with other settings is refused
    with pytest.raises(PhysDistillError, match="settings differ"):
        run_nbody(NBodyConfig(**{**TINY, "epochs": 2}), out, resume=True, progress=False)
    # the report is re-rendered from the files alone
    (out / "report.md").unlink()
    (out / "residuals.png").unlink()
    from physdistill.cli import main

    assert main(["report", str(out)]) == 0
    assert (out / "report.md").is_file() and (out / "residuals.png").is_file()


def test_bad_settings():
    with pytest.raises(PhysDistillError, match="unknown regulariser"):
        NBodyConfig(reg="dropout").resolved()
    with pytest.raises(PhysDistillError, match="unknown preset"):
        NBodyConfig(preset="huge").resolved()
    with pytest.raises(PhysDistillError, match="either a law name or a potential"):
        NBodyConfig(law="r2", potential="m1*m2/r").resolved()
    with pytest.raises(PhysDistillError, match="sims must be a positive integer"):
        NBodyConfig(sims=0).resolved()
    with pytest.raises(PhysDistillError, match="unknown force law"):
        run_nbody(NBodyConfig(law="r3"), "/nonexistent/never", progress=False)


def test_operators_follow_the_potential():
    from physdistill.nbody.laws import get_law

    assert force_operators(get_law("r2"), 2) == ("+", "-", "*", "/")
    assert "exp" in force_operators(get_law(potential="m1*m2*exp(-r)/r"), 2)


def test_table_on_a_tiny_grid(tmp_path):
    from physdistill.nbody.table import run_table

    base = NBodyConfig(**{k: v for k, v in TINY.items() if k != "law"})
    text = run_table(["spring"], ["bottleneck", "l1"], tmp_path, base, progress=False)
    assert "| spring | bottleneck |" in text and "| spring | l1 |" in text
    assert "1.000 / 1.000" in text  # SymTorch's published spring/bottleneck robust R^2
    assert (tmp_path / "table.md").read_text() == text
    assert (tmp_path / "spring-l1" / "metrics.json").is_file()
