"""Datasets: round trip, determinism, splits by system, loader checks, atomic writing, batches."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.nbody import dataset as ds_mod
from physdistill.nbody.dataset import (
    GraphBatches,
    fully_connected,
    load_dataset,
    make_dataset,
)
from physdistill.nbody.laws import get_law
from physdistill.nbody.simulate import SimConfig

SMALL = SimConfig(sims=30, steps=40, keep_every=5, seed=3)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "spring"
    make_dataset(get_law("spring"), SMALL, path, progress=False)
    return path


def test_round_trip_and_metadata(small):
    ds = load_dataset(small)
    meta = ds.meta
    for key in ("law", "n", "dim", "dt", "steps", "seed", "split", "version", "simulator"):
        assert key in meta
    assert meta["law"]["eps"] == 0.01 and meta["law"]["name"] == "spring"
    assert meta["simulator"]["dropped"] + meta["simulator"]["kept"] == 30
    S = meta["simulator"]["kept"]
    assert ds.arrays["pos"].shape == (S, 8, 4, 2) and ds.arrays["pos"].dtype == torch.float32
    x, y = ds.graphs("train")
    assert x.shape[1:] == (4, 6) and y.shape[1:] == (4, 2)
    # node features are [pos, vel, q, m]
    assert torch.equal(x[0, :, 5], ds.arrays["mass"][ds.arrays["split"] == 0][0])


def test_same_seed_gives_bit_identical_arrays(small, tmp_path):
    other = tmp_path / "again"
    make_dataset(get_law("spring"), SMALL, other, progress=False)
    a, b = load_dataset(small).arrays, load_dataset(other).arrays
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (small / "data.safetensors").read_bytes() == (other / "data.safetensors").read_bytes()


def test_splits_are_by_system_and_disjoint(small):
    ds = load_dataset(small)
    split = ds.arrays["split"]
    counts = {k: int((split == v).sum()) for k, v in ds_mod.SPLITS.items()}
    assert sum(counts.values()) == split.numel() and min(counts.values()) > 0
    xs = {k: ds.graphs(k)[0] for k in ds_mod.SPLITS}
    T = ds.arrays["pos"].shape[1]
    assert {k: v.shape[0] for k, v in xs.items()} == {k: c * T for k, c in counts.items()}
    # no initial position of a system appears in two splits
    firsts = {k: {tuple(v[i * T, 0, :2].tolist()) for i in range(v.shape[0] // T)}
              for k, v in xs.items()}
    assert not (firsts["train"] & firsts["val"]) and not (firsts["train"] & firsts["test"])


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def _rewrite(path, **changes):
    from safetensors.torch import load_file, save_file

    arrays = load_file(str(path / "data.safetensors"))
    arrays.update(changes)
    save_file(arrays, str(path / "data.safetensors"))


def test_loader_reports_missing_folder_and_files(small, tmp_path):
    with pytest.raises(PhysDistillError, match="not found"):
        load_dataset(tmp_path / "nope")
    d = _copy(small, tmp_path)
    (d / "data.safetensors").unlink()
    with pytest.raises(PhysDistillError, match="missing data.safetensors"):
        load_dataset(d)


def test_loader_reports_nan(small, tmp_path):
    d = _copy(small, tmp_path)
    acc = load_dataset(d).arrays["acc"].clone()
    acc[0, 0, 0, 0] = float("nan")
    _rewrite(d, acc=acc)
    with pytest.raises(PhysDistillError, match="'acc' contains NaN or inf"):
        load_dataset(d)


def test_loader_reports_wrong_shape(small, tmp_path):
    d = _copy(small, tmp_path)
    _rewrite(d, mass=torch.ones(3, 7))
    with pytest.raises(PhysDistillError, match="'mass' has shape"):
        load_dataset(d)


def test_loader_reports_format_version_and_foreign_files(small, tmp_path):
    d = _copy(small, tmp_path)
    meta = json.loads((d / "meta.json").read_text())
    meta["format_version"] = 99
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PhysDistillError, match="format version 99"):
        load_dataset(d)
    (d / "meta.json").write_text("{not json")
    with pytest.raises(PhysDistillError, match="not valid JSON"):
        load_dataset(d)
    (d / "meta.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(PhysDistillError, match="not a physdistill n-body dataset"):
        load_dataset(d)
    d2 = _copy(small, tmp_path / "b")
    (d2 / "data.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(PhysDistillError, match="not a readable safetensors"):
        load_dataset(d2)


def test_crash_mid_write_leaves_nothing_loadable(tmp_path, monkeypatch):
    import safetensors.torch as st

    def crash(tensors, filename, *a, **k):
        with open(filename, "wb") as fh:  # half a file, then the "power cut"
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(st, "save_file", crash)
    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        make_dataset(get_law("spring"), SimConfig(sims=4, steps=10), out, progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone too


def test_crash_while_replacing_keeps_the_old_dataset(small, tmp_path, monkeypatch):
    d = _copy(small, tmp_path)
    before = (d / "data.safetensors").read_bytes()
    import physdistill._io as io

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(io, "atomic_write_json", crash)
    monkeypatch.setattr(ds_mod, "atomic_write_json", crash)
    with pytest.raises(OSError):
        make_dataset(get_law("spring"), SimConfig(sims=4, steps=10), d, force=True,
                     progress=False)
    assert (d / "data.safetensors").read_bytes() == before
    load_dataset(d)


def test_existing_folder_needs_force(small):
    with pytest.raises(PhysDistillError, match="already exists"):
        make_dataset(get_law("spring"), SMALL, small, progress=False)


def test_graph_batches_match_pyg_data(small):
    from torch_geometric.data import Batch

    ds = load_dataset(small)
    x, y = ds.graphs("val")
    batches = GraphBatches(x, y, batch_size=7, shuffle=False)
    xb, ei, yb = next(iter(batches))
    ref = Batch.from_data_list(ds.to_pyg("val", limit=7))
    assert torch.equal(xb, ref.x) and torch.equal(yb, ref.y)
    assert torch.equal(ei, ref.edge_index)
    assert ei.shape == (2, 7 * 12)
    assert len(batches) == -(-x.shape[0] // 7)


def test_fully_connected_graph_has_no_self_loops_and_all_pairs():
    ei = fully_connected(5)
    pairs = set(map(tuple, ei.t().tolist()))
    assert len(pairs) == 20 and all(i != j for i, j in pairs)


def test_shuffled_batches_are_seeded_and_cover_every_graph(small):
    x, y = load_dataset(small).graphs("train")
    order = lambda seed: torch.cat([b[0] for b in GraphBatches(x, y, 16, seed=seed)])  # noqa
    assert torch.equal(order(1), order(1)) and not torch.equal(order(1), order(2))
    assert order(1).shape[0] == x.shape[0] * x.shape[1]


def test_user_potential_dataset_keeps_its_law(tmp_path):
    out = tmp_path / "yukawa"
    make_dataset(get_law(potential="m1*m2*exp(-r)/r"), SimConfig(sims=4, steps=10), out,
                 progress=False)
    law = load_dataset(out).law
    assert law.name == "custom" and law.source == "m1*m2*exp(-r)/r"


@pytest.mark.parametrize("change, fragment", [
    (dict(pos=lambda a: a.double()), "array 'pos' is float64, expected float32"),
    (dict(split=lambda a: a.float()), "array 'split' is float32, expected an integer type"),
    (dict(drift=lambda a: a.fill_(float("nan"))), "'drift' contains NaN or inf"),
    (dict(times=lambda a: a.fill_(float("inf"))), "'times' contains NaN or inf"),
    (dict(mass=lambda a: a.fill_(0.0)), "'mass' has values <= 0"),
    (dict(mass=lambda a: a.fill_(-1.0)), "'mass' has values <= 0 (smallest -1)"),
])
def test_loader_refuses_bad_arrays(small, tmp_path, change, fragment):
    """Issue 20: float64 arrays gave a dtype traceback later; NaN drift, inf times and
    non-positive masses loaded silently."""
    d = _copy(small, tmp_path)
    arrays = load_dataset(d).arrays
    _rewrite(d, **{k: f(arrays[k].clone()) for k, f in change.items()})
    with pytest.raises(PhysDistillError, match=re.escape(fragment)):
        load_dataset(d)


def test_loader_refuses_meta_without_a_law(small, tmp_path):
    """Issue 20: a meta.json without ``law`` raised KeyError."""
    d = _copy(small, tmp_path)
    meta = json.loads((d / "meta.json").read_text())
    del meta["law"]
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PhysDistillError, match="has no 'law' entry"):
        load_dataset(d)
    meta["law"] = {"name": "spring", "potential": 3, "dt": 0.01, "eps": 0.01, "charged": False}
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PhysDistillError, match="law entry 'potential' is 3"):
        load_dataset(d)


def test_an_empty_split_gives_empty_graphs(tmp_path):
    """Issue 20: ``simulate --sims 5`` leaves no validation systems, and reading that split
    raised "cannot reshape tensor of 0 elements"."""
    make_dataset(get_law("spring"), SimConfig(sims=5, steps=20, seed=0), tmp_path / "d",
                 progress=False)
    ds = load_dataset(tmp_path / "d")
    assert ds.meta["split"]["counts"]["val"] == 0
    x, y = ds.graphs("val")
    assert tuple(x.shape) == (0, 4, 6) and tuple(y.shape) == (0, 4, 2)


def test_an_interrupted_force_is_recovered_by_the_next_run(small, tmp_path, capsys):
    """Issue 20: a killed ``simulate --force`` left ``.partial``/``.old`` folders that only
    hand work removed. The next write cleans up or restores them, and says so."""
    from physdistill._io import recover_interrupted

    d = _copy(small, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    partial = tmp_path / f".copy.{dead.pid}.abcd1234.partial"
    partial.mkdir()
    old = tmp_path / f".copy.old.{dead.pid}"
    d.rename(old)  # killed between its two renames: the dataset sits under .old
    assert recover_interrupted(d) == [
        f"removed {partial}, the unfinished output of an interrupted write",
        f"restored {d} from {old}, which an interrupted --force left"]
    assert load_dataset(d).n == 4 and not partial.exists() and not old.exists()
    assert "note: restored" in capsys.readouterr().err
    shutil.copytree(d, old)  # killed after the new folder was in place: the old one goes
    assert "removed" in recover_interrupted(d)[0] and not old.exists()
    live = tmp_path / f".copy.{os.getpid() + 10**6}.zzzz9999.partial"  # not a running pid
    mine = tmp_path / f".other.{os.getpid()}.abcd1234.partial"  # another folder's
    live.mkdir()
    mine.mkdir()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = tmp_path / f".copy.{running.pid}.abcd1234.partial"
        busy.mkdir()
        recover_interrupted(d)
        assert busy.exists() and mine.exists() and not live.exists()
    finally:
        running.kill()
        running.wait()
