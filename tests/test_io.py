"""Atomic writes and pickle-free checkpoints."""

import pytest
import torch

from physdistill._io import atomic_dir, atomic_write_text, load_state, save_state
from physdistill.errors import PhysDistillError
from physdistill.runs import RunFolder


def test_state_round_trip_with_optimizer(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
             "history": {"train": [1.0, 0.5]}, "pair": (1, "a")}
    save_state(tmp_path / "ck.safetensors", state)
    back = load_state(tmp_path / "ck.safetensors")
    assert back["epoch"] == 3 and back["history"] == {"train": [1.0, 0.5]}
    assert back["pair"] == (1, "a")
    for k, v in model.state_dict().items():
        assert torch.equal(back["model"][k], v)
    opt2 = torch.optim.Adam(model.parameters())
    opt2.load_state_dict(back["optimizer"])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_corrupt_and_foreign_checkpoints(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(PhysDistillError, match="not a readable safetensors"):
        load_state(bad)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(PhysDistillError, match="not a physdistill checkpoint"):
        load_state(tmp_path / "foreign.safetensors")


def test_atomic_text_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    import os

    def boom(*a, **k):
        raise OSError("no space")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_dir_refuses_existing_without_overwrite(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(PhysDistillError, match="already exists"):
        with atomic_dir(tmp_path / "x"):
            pass


def test_run_folder_force_resume_and_stages(tmp_path):
    run = RunFolder(tmp_path / "run", "demo", config={"a": 1})
    with run.stage("one") as info:
        info["note"] = "ok"
    assert run.done("one") and not run.done("two")
    with pytest.raises(PhysDistillError, match="already exists"):
        RunFolder(tmp_path / "run", "demo", config={"a": 1})
    again = RunFolder(tmp_path / "run", "demo", resume=True, config={"a": 1})
    assert again.done("one") and "one" in again.timings
    with pytest.raises(PhysDistillError, match="settings differ"):
        RunFolder(tmp_path / "run", "demo", resume=True, config={"a": 2})
    fresh = RunFolder(tmp_path / "run", "demo", force=True, config={"a": 2})
    assert not fresh.done("one")
    with pytest.raises(PhysDistillError, match="expected a 'other' run"):
        RunFolder.open(tmp_path / "run", kind="other")


def test_a_deeply_nested_checkpoint_structure_is_one_clear_error(tmp_path):
    """Issue 20: deeply nested JSON raised RecursionError instead of one clear error."""
    from safetensors.torch import save

    from physdistill._io import atomic_write_bytes, load_state

    for depth in (200_000, 900):  # json's own limit, then the structure walk's
        structure = "[" * depth + "]" * depth
        path = tmp_path / f"deep{depth}.safetensors"
        atomic_write_bytes(path, save({}, metadata={"physdistill_structure": structure}))
        with pytest.raises(PhysDistillError, match="corrupt metadata"):
            load_state(path)
