"""The n-body pipeline end to end: a real spring recovery, and the run-folder mechanics."""

from __future__ import annotations

import json

import pytest

from physdistill.errors import PhysDistillError
from physdistill.nbody.pipeline import NBodyConfig, force_operators, run_nbody
from physdistill.runs import RunFolder

#: a tiny run for the mechanics (it recovers nothing)
TINY = dict(law="spring", sims=30, steps=50, epochs=1, hidden=8, batch=16, sr_seconds=1.0,
            sr_samples=200, sr_restarts=1, rollout_systems=2, device="cpu")

#: the real default run, ``physdistill nbody spring`` (quick preset: 2,000 systems, 20 epochs,
#: width 128, 4 pooled searches per channel), with fewer rollout systems; ~3.5 min on 2 cores
SPRING = dict(law="spring", reg="bottleneck", rollout_systems=4, device="cpu")


def test_spring_bottleneck_end_to_end_recovers_the_law(tmp_path):
    """The default spring run, simulate -> train -> distil -> compare: the kept messages are the
    spring force, the distilled equations reproduce them, and the spring law is recovered in
    both channels.

    Training is deterministic for a seed on one CPU type and torch build (the initial weights
    follow the run's seed), and the searches end on an evaluation budget, not on the clock. This
    network (seed 0) recovered both channels here on 2026-11-30. Over the 16 quick-preset
    networks of spring, charge, r1 and r2 distilled that day, 1 channel of 32 carried a factor
    linear in ``m1`` and was not recovered: a machine whose CPU kernels round differently trains
    another network, which fails this test in the rare case that it learned such a factor.
    """
    m = run_nbody(NBodyConfig(**SPRING), tmp_path / "run", progress=False)
    assert m["target"] == "force"
    assert min(m["message_r2_all"]) > 0.99
    for c in m["channels"]:
        assert c["r2_vs_message"] > 0.9, c
        assert c["recovered"] and c["symbolic_match"] and c["law_form"] == "softened", c
    assert m["recovered"] is True
    assert all(c["share"] >= 0.9 for c in m["law_carried"]), m["law_carried"]
    for split in ("held_out", "ood"):
        assert all(0 <= m["rollout"][split][k] < 10 for k in ("truth", "gnn", "symbolic"))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["law"] == "spring" and saved["channels"] == m["channels"]


def test_run_folder_files_errors_resume_and_report(tmp_path):
    out = tmp_path / "run"
    m = run_nbody(NBodyConfig(**TINY), out, progress=False)
    for name in ("metrics.json", "equations.json", "report.md", "messages_vs_force.png",
                 "residuals.png", "loss.png", "pareto_channel0.png", "rollout_ood.png",
                 "law_carried.png", "model/checkpoint.safetensors"):
        assert (out / name).is_file(), name
    keys = {"law", "potential", "regulariser", "n", "dim", "train_loss", "val_loss",
            "message_r2_all", "message_r2_robust", "channels", "recovered", "timings",
            "versions", "seed"}
    assert keys <= set(m)
    assert set(m["channels"][0]) == {"index", "expression", "latex", "complexity",
                                     "r2_vs_message", "ood_rel_error", "symbolic_match",
                                     "recovered", "law_form"}
    assert set(m["timings"]) == {"data", "train", "distill", "rollout"}  # report: the writer
    report = (out / "report.md").read_text()
    assert "![messages](messages_vs_force.png)" in report
    assert "![law_carried](law_carried.png)" in report
    assert [c["index"] for c in m["law_carried"]] == [c["index"] for c in m["channels"]]
    assert all(0 <= c["share"] <= min(c["r"]["share"], c["m1"]["share"]) <= 1
               for c in m["law_carried"])
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


def test_table_on_a_tiny_grid_over_seeds(tmp_path):
    """``nbody-table --seeds``: every (law, regulariser) entry over two seeds, as k/n beside the
    published numbers, with the JSON rows and the heat map; a second call reuses the cells."""
    from physdistill.nbody.table import run_table

    base = NBodyConfig(**{k: v for k, v in TINY.items() if k != "law"})
    text = run_table(["spring"], ["l1"], tmp_path, base, seeds=[0, 1], progress=False)
    assert "| spring | l1 | 2 |" in text
    rows = [line for line in text.splitlines() if line.startswith("| spring")]
    assert all("/4 " in line or "/4 |" in line for line in rows), rows  # k/4: 2 seeds x 2
    assert "0.996 / 0.999" in text  # SymTorch's published spring/l1 robust R^2
    assert "Channels recovered: **" in text and "/4**" in text
    assert (tmp_path / "table.md").read_text() == text
    table = json.loads((tmp_path / "table.json").read_text())
    assert len(table["cells"]) == 2 and len(table["entries"]) == 1
    assert (tmp_path / "recovery.png").is_file() and (tmp_path / "recovery.svg").is_file()
    assert "spring-l1-s1/index.html" in (tmp_path / "index.html").read_text()
    for name in ("spring-l1-s0", "spring-l1-s1"):
        m = json.loads((tmp_path / name / "metrics.json").read_text())
        assert m["seed"] == int(name[-1])
        assert RunFolder.open(tmp_path / name).meta["stages"]["train"]["stack"] == [
            "spring-l1-s0", "spring-l1-s1"]
    before = (tmp_path / "spring-l1-s1" / "distill.json").stat().st_mtime_ns
    assert run_table(["spring"], ["l1"], tmp_path, base, seeds=[0, 1], progress=False) == text
    assert (tmp_path / "spring-l1-s1" / "distill.json").stat().st_mtime_ns == before  # not redone


def test_a_run_depends_on_its_seed_alone(tmp_path):
    """The network's initial weights come from the run's seed, not from whatever the process's
    global random state is (e.g. which tests ran before)."""
    import torch

    from physdistill._io import load_state

    def weights(name: str, global_seed: int) -> dict:
        torch.manual_seed(global_seed)
        run_nbody(NBodyConfig(**{**TINY, "epochs": 1}), tmp_path / name, progress=False)
        return load_state(tmp_path / name / "model" / "checkpoint.safetensors")["model"]

    a, b = weights("a", 1), weights("b", 2)
    assert a.keys() == b.keys() and len(a) > 0
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_grid_datasets_simulated_by_several_processes_equal_the_lone_runs(tmp_path, monkeypatch):
    """On a GPU the grid simulates its datasets in several processes at once; each dataset is
    the one a lone run simulates (here forced onto the parallel path on the CPU)."""
    from safetensors.torch import load_file

    from physdistill.nbody import grid

    cells = [NBodyConfig(**{**TINY, "seed": s}) for s in (0, 1)]
    monkeypatch.setattr(grid, "_sim_processes", lambda cfg, jobs: 2)
    par = grid._with_data(cells, tmp_path / "par", progress=False)
    monkeypatch.setattr(grid, "_sim_processes", lambda cfg, jobs: 1)
    seq = grid._with_data(cells, tmp_path / "seq", progress=False)
    for a, b in zip(par, seq):
        da, db = (load_file(f"{c.data}/data.safetensors") for c in (a, b))
        assert da.keys() == db.keys() and all(torch_equal(da[k], db[k]) for k in da)
    assert [c.data for c in grid._with_data(cells, tmp_path / "par", False)] == [
        c.data for c in par]  # found, not simulated again


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_tf32_flag_reaches_the_run_settings():
    """``--tf32`` is a recipe setting of ``nbody`` and ``nbody-table`` runs (and their stacks)."""
    from physdistill.cli import build_parser
    from physdistill.nbody.grid import STACK_KEY
    from physdistill.nbody.pipeline_cli import _config

    args = build_parser().parse_args(["nbody", "spring", "--tf32"])
    assert _config(args).tf32 is True
    assert _config(build_parser().parse_args(["nbody", "spring"])).tf32 is False
    assert "tf32" in STACK_KEY
