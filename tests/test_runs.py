"""Run folders own their contents: the lock, --force emptying, no writes through links,
provenance records, and no run.json left behind by a refused command (issue 20)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from physdistill.errors import PhysDistillError
from physdistill.runs import LOCK_NAME, RunFolder, config_hash, empty_folder, fingerprint

HOLDER = textwrap.dedent("""
    import sys, time
    from physdistill.runs import RunFolder
    run = RunFolder(sys.argv[1], "demo", force=True, config={"seed": 0})
    print("holding", flush=True)
    time.sleep(60)
""")


def _hold(path):
    """A second process that holds ``path``'s lock until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    """Issue 20, defect 3: two concurrent --force runs into one folder both went ahead."""
    out = tmp_path / "run"
    proc = _hold(out)
    try:
        for kwargs in ({"force": True}, {"resume": True}):
            with pytest.raises(PhysDistillError, match=f"in use by process {proc.pid} "):
                RunFolder(out, "demo", config={"seed": 1}, **kwargs)
        with pytest.raises(PhysDistillError, match=f"in use by process {proc.pid} "):
            RunFolder.open(out, lock=True)  # a report redraw waits its turn too
        assert json.loads((out / "run.json").read_text())["config"] == {"seed": 0}
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_holders_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    proc = _hold(out)
    proc.kill()
    proc.wait()
    assert str(proc.pid) in (out / LOCK_NAME).read_text()  # killed: its lock file stayed
    run = RunFolder(out, "demo", force=True, config={"seed": 1})
    err = capsys.readouterr().err
    assert "took over" in err and f"process {proc.pid} " in err
    assert f"process {os.getpid()} " in (out / LOCK_NAME).read_text()
    run.close()
    assert not (out / LOCK_NAME).exists()


def test_force_empties_the_folder_without_following_links(tmp_path):
    """Issue 20, defects 1 and 4: --force kept the old files, and a symlinked model/ made the
    new run write into the directory it pointed to."""
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "checkpoint.safetensors").write_text("not yours")
    (tmp_path / "precious.txt").write_text("keep")
    out = tmp_path / "run"
    with RunFolder(out, "demo", config={"a": 1}) as run:
        with run.stage("one"):
            run.write_json("distill.json", {"old": True})
    (out / "model").symlink_to(outside, target_is_directory=True)
    (out / "note.txt").symlink_to(tmp_path / "precious.txt")
    (out / "sub").mkdir()
    (out / "sub" / "f").write_text("x")
    with RunFolder(out, "demo", force=True, config={"a": 2}) as run:
        assert sorted(p.name for p in out.iterdir()) == ["run.json", LOCK_NAME]
        assert not run.done("one")
        run.write_json("model/checkpoint.json", {"new": True})
    assert (out / "model").is_dir() and not (out / "model").is_symlink()
    assert (outside / "checkpoint.safetensors").read_text() == "not yours"
    assert sorted(p.name for p in outside.iterdir()) == ["checkpoint.safetensors"]
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_writes_never_go_through_a_link(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "run"
    with RunFolder(out, "demo", config={}) as run:
        (out / "model").symlink_to(outside, target_is_directory=True)
        with pytest.raises(PhysDistillError, match="symbolic link"):
            run.write_json("model/checkpoint.json", {})
        with pytest.raises(PhysDistillError, match="leaves the run folder"):
            run.file("../escape.json")
    assert list(outside.iterdir()) == []


def test_empty_folder_removes_links_as_links(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    (target / "f").write_text("x")
    box = tmp_path / "box"
    box.mkdir()
    (box / "link").symlink_to(target, target_is_directory=True)
    (box / LOCK_NAME).write_text("kept")
    empty_folder(box)
    assert [p.name for p in box.iterdir()] == [LOCK_NAME] and (target / "f").exists()


def test_stages_record_what_they_were_made_from(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out, "demo", config={"a": 1}) as run:
        run.inputs["dataset"] = "abc"
        with run.stage("data", {"law": "spring"}):
            pass
        assert run.made_from("data") == {"config": config_hash({"a": 1}), "dataset": "abc",
                                         "law": "spring"}
        run.inputs.update(law="spring")
        run.check_stages()  # the same inputs: accepted
        run.inputs["dataset"] = "xyz"
        with pytest.raises(PhysDistillError, match="dataset: recorded 'abc', this run 'xyz'"):
            run.check_stages()
        run.meta["config"] = {"a": 2}  # run.json rewritten under a finished stage
        run.inputs["dataset"] = "abc"
        with pytest.raises(PhysDistillError, match="config: recorded"):
            run.check_made_from("data")
        with pytest.raises(PhysDistillError, match=r"has not finished the stages \['train'\]"):
            run.require("data", "train")


def test_a_refused_fresh_run_leaves_nothing(tmp_path):
    """Issue 20, smaller point: a validation error after the folder existed left run.json
    behind, so the corrected command needed --force."""
    out = tmp_path / "run"
    with pytest.raises(PhysDistillError, match="bad dataset"):
        with RunFolder(out, "demo", config={}):
            raise PhysDistillError("bad dataset")
    assert not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(PhysDistillError), RunFolder(existing, "demo", config={}):
        raise PhysDistillError("bad")
    assert existing.is_dir() and list(existing.iterdir()) == []
    # an interrupted run keeps its files for --resume
    with pytest.raises(KeyboardInterrupt), RunFolder(out, "demo", config={}) as run:
        run.write_json("partial.json", {})
        raise KeyboardInterrupt
    assert (out / "run.json").is_file() and (out / "partial.json").is_file()


def test_fingerprint_follows_contents(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_bytes(b"1")
    first = fingerprint(d)
    (d / ".tmp").write_bytes(b"ignored")
    assert fingerprint(d) == first
    (d / "a").write_bytes(b"2")
    assert fingerprint(d) != first and len(first) == 16


def test_an_interrupted_stage_is_checked_on_resume(tmp_path):
    """A stage killed midway (a half-trained checkpoint) records its inputs when it starts, so
    ``--resume`` on another dataset is refused before it continues from that checkpoint."""
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), RunFolder(out, "demo", config={}) as run:
        run.inputs["dataset"] = "abc"
        with run.stage("train"):
            raise KeyboardInterrupt
    with RunFolder(out, "demo", resume=True, config={}) as run:
        assert not run.done("train") and run.made_from("train")["dataset"] == "abc"
        run.inputs["dataset"] = "xyz"
        with pytest.raises(PhysDistillError, match="stage 'train' was made from other inputs"):
            run.check_stages()
        run.inputs["dataset"] = "abc"
        with run.stage("train"):
            pass
        assert run.done("train") and "train" not in run.meta["started"]


def test_force_refuses_to_empty_a_folder_holding_the_input(tmp_path):
    from physdistill.runs import check_not_inside

    with pytest.raises(PhysDistillError, match="inside the run folder"):
        check_not_inside(tmp_path / "R", tmp_path / "R" / "data", "dataset")
    check_not_inside(tmp_path / "R", tmp_path / "R2" / "data", "dataset")  # a sibling is fine
