"""Stale and foreign results are refused (issue 20): the stale-run sequence, a model trained
on another law, a changed dataset under --resume, and a symlinked ``model/``."""

from __future__ import annotations

import json

import pytest

from physdistill.cli import main
from physdistill.errors import PhysDistillError
from physdistill.nbody import pipeline
from physdistill.nbody.dataset import make_dataset
from physdistill.nbody.laws import get_law
from physdistill.nbody.pipeline import NBodyConfig, run_nbody
from physdistill.nbody.simulate import SimConfig

#: data and training only (the distillation is stopped in these tests): seconds
TINY = dict(sims=12, steps=20, epochs=1, hidden=8, batch=8, sr_seconds=1.0, sr_samples=100,
            sr_restarts=1, rollout_systems=2, device="cpu")


class Stop(KeyboardInterrupt):
    """Stands for a kill during a stage."""


def _stop(*args, **kwargs):
    raise Stop


@pytest.fixture
def no_distill(monkeypatch):
    """Runs end after training, as if killed when the distillation starts."""
    monkeypatch.setattr(pipeline, "_stage_distill", _stop)


def _trained(out, law="spring", force=False):
    with pytest.raises(Stop):
        run_nbody(NBodyConfig(law=law, **TINY), out, force=force, progress=False)
    return (out / "model" / "checkpoint.safetensors").read_bytes()


def test_stale_run_sequence(tmp_path, no_distill, monkeypatch, capsys):
    """A spring run in R, then ``nbody damped --force --out R`` killed during the data stage:
    ``report R`` showed a "damped" report with spring's equations, and ``--resume`` kept
    spring's checkpoint byte for byte. Now --force has emptied R, so neither can happen."""
    out = tmp_path / "R"
    spring_ckpt = _trained(out)
    import physdistill.nbody.dataset as dataset_mod

    real_make = dataset_mod.make_dataset
    monkeypatch.setattr(dataset_mod, "make_dataset", _stop)
    with pytest.raises(Stop):
        run_nbody(NBodyConfig(law="damped", **TINY), out, force=True, progress=False)
    assert not (out / "model").exists() and not (out / "history.json").exists()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has not finished the stages" in err[0], err
    monkeypatch.setattr(dataset_mod, "make_dataset", real_make)
    with pytest.raises(Stop):
        run_nbody(NBodyConfig(law="damped", **TINY), out, resume=True, progress=False)
    assert (out / "model" / "checkpoint.safetensors").read_bytes() != spring_ckpt
    train = json.loads((out / "run.json").read_text())["stages"]["train"]["made_from"]
    assert train["law"].startswith("damped:")


def test_resume_refuses_a_changed_dataset(tmp_path, no_distill):
    out = tmp_path / "R"
    _trained(out)
    from safetensors.torch import load_file, save_file

    arrays = load_file(str(out / "data" / "data.safetensors"))
    arrays["pos"][0, 0, 0, 0] += 0.5
    save_file(arrays, str(out / "data" / "data.safetensors"))
    with pytest.raises(PhysDistillError, match=r"stage 'data' was made from other inputs "
                                               r"\(dataset: recorded '\w+', this run '\w+'\)"):
        run_nbody(NBodyConfig(law="spring", **TINY), out, resume=True, progress=False)


@pytest.fixture(scope="module")
def spring_model(tmp_path_factory):
    """A model trained by ``physdistill train`` on spring data."""
    root = tmp_path_factory.mktemp("model")
    make_dataset(get_law("spring"), SimConfig(sims=12, steps=20, seed=2), root / "data",
                 progress=False)
    assert main(["train", str(root / "data"), "--epochs", "1", "--batch", "8", "--hidden", "8",
                 "--out", str(root / "M"), "--device", "cpu", "--quiet"]) == 0
    return root / "M"


def test_a_model_trained_on_another_law_is_refused(spring_model, tmp_path, capsys):
    """``physdistill nbody r2 --model M`` with M trained on spring was distilled against r2
    without a word."""
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["nbody", "r2", "--model", str(spring_model), "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was trained on spring: U = (r-1)**2" in err[0] \
        and "this run analyses r2: U = -m1*m2/r" in err[0], err
    assert not out.exists()
    # a model recorded before provenance existed: its dataset's meta.json says the law
    meta = json.loads((spring_model / "run.json").read_text())
    del meta["stages"]["train"]["made_from"]
    (spring_model / "run.json").write_text(json.dumps(meta))
    with pytest.raises(PhysDistillError, match="recorded in its dataset"):
        run_nbody(NBodyConfig(law="r2", model=str(spring_model), **TINY), out, progress=False)
    from physdistill.nbody.provenance import check_model_law

    check_model_law(spring_model, pipeline.law_record(get_law("spring")))  # the right law


def test_a_symlinked_model_folder_is_never_written_through(tmp_path, no_distill):
    """A run folder's ``model/`` linked to another directory made ``nbody --force`` write its
    checkpoint files there, overwriting what was in it."""
    out = tmp_path / "R"
    _trained(out)
    outside = tmp_path / "elsewhere"
    (out / "model").rename(outside)
    (out / "model").symlink_to(outside, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    with pytest.raises(PhysDistillError, match="symbolic link"):
        run_nbody(NBodyConfig(law="spring", **TINY), out, resume=True, progress=False)
    _trained(out, force=True)
    assert not (out / "model").is_symlink() and (out / "model" / "checkpoint.json").is_file()
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


def test_too_few_systems_for_a_test_split_is_refused_before_the_run(tmp_path):
    """``nbody --sims 2`` simulated and trained, then failed in the distillation with "no
    messages were recorded" (its test split was empty)."""
    with pytest.raises(PhysDistillError, match="sims=2 leaves no test systems"):
        run_nbody(NBodyConfig(law="spring", **{**TINY, "sims": 2}), tmp_path / "R",
                  progress=False)
    assert not (tmp_path / "R").exists()


def test_report_refuses_records_of_another_run(tmp_path, no_distill, capsys):
    """``report`` drew a "damped" report from spring's files when run.json named damped."""
    out = tmp_path / "R"
    _trained(out)
    meta = json.loads((out / "run.json").read_text())
    meta["stages"]["distill"] = {"seconds": 0.0,
                                 "made_from": meta["stages"]["train"]["made_from"]}
    meta["config"]["law"] = "damped"
    (out / "run.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "law: recorded 'spring: U = (r-1)**2 (eps 0.01)', this run " \
        "'damped: " in err[0], err


def test_a_refused_dataset_leaves_no_run_folder(spring_model, tmp_path):
    """``nbody r2 --data D`` with D a spring dataset was refused after run.json was written, so
    the corrected command needed --force."""
    out = tmp_path / "run"
    with pytest.raises(PhysDistillError, match="this run needs r2"):
        run_nbody(NBodyConfig(law="r2", data=str(spring_model.parent / "data"), **TINY), out,
                  progress=False)
    assert not out.exists()
