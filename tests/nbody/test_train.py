"""The trainer: it learns, checkpoints, resumes bit for bit, refuses bad input, runs under DDP."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from physdistill._io import load_state
from physdistill.errors import PhysDistillError
from physdistill.nbody import train as train_mod
from physdistill.nbody.laws import get_law
from physdistill.nbody.model import OGN, OGNConfig
from physdistill.nbody.simulate import accelerations
from physdistill.nbody.train import (
    CHECKPOINT,
    CHECKPOINT_META,
    HISTORY,
    TrainConfig,
    Trainer,
    evaluate,
    load_checkpoint,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def spring_graphs(G, seed):
    """``G`` random 4-body states with their exact spring accelerations (float32); masses in
    [0.5, 2] keep the targets tame for a tiny, short training."""
    g = torch.Generator().manual_seed(seed)
    pos, vel = torch.randn(G, 4, 2, generator=g), torch.randn(G, 4, 2, generator=g)
    q, m = torch.randn(G, 4, generator=g), 0.5 + 1.5 * torch.rand(G, 4, generator=g)
    acc = accelerations(get_law("spring"), pos.double(), vel.double(), m.double(), q.double())
    x = torch.cat([pos, vel, q[..., None], m[..., None]], -1)
    return x, acc.float()


@pytest.fixture(scope="module")
def data():
    return spring_graphs(384, 0), spring_graphs(96, 1)


def tiny(variant="bottleneck", seed=0):
    torch.manual_seed(seed)
    return OGN(OGNConfig(variant=variant, hidden=24, msg_dim=8))


FAST = {"batch": 32, "lr": 1e-2, "device": "cpu"}


def test_loss_decreases(data):
    train, val = data
    model = tiny()
    before = evaluate(model, *val)
    trainer = Trainer(TrainConfig(epochs=5, **FAST), progress=False).fit(model, train, val)
    h = trainer.history_
    assert trainer.model_ is model and trainer.epochs_done_ == 5
    assert trainer.steps_per_epoch_ == 384 // 32
    assert h["epoch"] == [1, 2, 3, 4, 5] and len(h["train"]) == 5
    assert h["val"][-1] < 0.8 * before and h["train"][-1] < h["train"][0]
    assert h["lr"][-1] < 1e-6  # OneCycle annealed to lr / (25 * 1e5)
    assert all(v > 0 for v in h["graphs_per_s"])
    # the logged val loss is the per-graph sum of absolute errors
    assert h["val"][-1] == pytest.approx(evaluate(model, *val), rel=1e-6)


@pytest.mark.parametrize("variant", ["kl", "pruning"])
def test_resume_gives_bit_identical_weights(data, tmp_path, monkeypatch, variant):
    """Train 2 epochs straight; train 1, 'crash', resume for the second: same bits."""
    train, val = data
    cfg = TrainConfig(epochs=2, steps_per_epoch=5, **FAST)
    straight = Trainer(cfg, out=tmp_path / "a", progress=False).fit(tiny(variant), train, val)

    real_save = train_mod._save_checkpoint

    def save_then_crash(out, meta, state):
        real_save(out, meta, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, out=tmp_path / "b", progress=False).fit(tiny(variant), train, val)
    monkeypatch.undo()
    assert json.loads((tmp_path / "b" / CHECKPOINT_META).read_text())["epoch"] == 1
    resumed = Trainer(cfg, out=tmp_path / "b", resume=True, progress=False).fit(
        tiny(variant, seed=123), train, val)  # initial weights are replaced by the checkpoint

    a, b = straight.model_.state_dict(), resumed.model_.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for key in ("epoch", "train", "val", "lr"):
        assert straight.history_[key] == resumed.history_[key]
    if variant == "pruning":
        assert int(b["regularizer.mask"].sum()) < 8  # the mask was pruned and restored


def test_checkpoint_files_and_load(data, tmp_path):
    train, val = data
    out = tmp_path / "run"
    trainer = Trainer(TrainConfig(epochs=1, steps_per_epoch=3, **FAST), out=out,
                      progress=False).fit(tiny("l1"), train, val)
    assert {p.name for p in out.iterdir()} == {CHECKPOINT, CHECKPOINT_META, HISTORY}
    meta = json.loads((out / CHECKPOINT_META).read_text())
    assert meta["epoch"] == 1 and meta["model"]["variant"] == "l1"
    assert meta["train"]["batch"] == 32 and meta["steps_per_epoch"] == 3
    assert json.loads((out / HISTORY).read_text())["epoch"] == [1]
    assert set(load_state(out / CHECKPOINT)) == {"model", "optimizer", "scheduler", "epoch",
                                                 "history"}
    model, meta2 = load_checkpoint(out)
    assert meta2 == meta and not model.training
    trained = trainer.model_.eval()
    for k, v in trained.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    x = val[0][:4].reshape(16, 6)
    from physdistill.nbody.dataset import batched_edge_index

    assert torch.equal(model(x, batched_edge_index(4, 4)), trained(x, batched_edge_index(4, 4)))
    # the file itself works too
    assert load_checkpoint(out / CHECKPOINT)[1]["epoch"] == 1


def test_resume_refuses_other_settings(data, tmp_path):
    train, _ = data
    out = tmp_path / "run"
    Trainer(TrainConfig(epochs=1, steps_per_epoch=2, **FAST), out=out,
            progress=False).fit(tiny(), train)
    with pytest.raises(PhysDistillError, match="settings differ.*train"):
        Trainer(TrainConfig(epochs=2, steps_per_epoch=2, **FAST), out=out, resume=True,
                progress=False).fit(tiny(), train)


@pytest.mark.parametrize("make, fragment", [
    (lambda d: (d[0][0], None, {}), "must be a pair"),
    (lambda d: ((d[0][0], d[0][1][:10]), None, {}), "same G and n"),
    (lambda d: ((d[0][0][:0], d[0][1][:0]), None, {}), "train has no graphs"),
    (lambda d: ((d[0][0].long(), d[0][1]), None, {}), "floating point"),
    (lambda d: (d[0], (d[1][0][..., :5], d[1][1]), {}), "differ in shape"),
    (lambda d: ((d[0][0][:8], d[0][1][:8]), None, {}), "no full batch of 32"),
    (lambda d: (d[0], None, {"edge_index": torch.tensor([[0, 1], [1, 4]])}),
     "node ids in [0, 4)"),
])
def test_bad_inputs(data, make, fragment):
    train, val, kw = make(data)
    with pytest.raises(PhysDistillError) as info:
        Trainer(TrainConfig(epochs=1, **FAST), progress=False).fit(tiny(), train, val, **kw)
    assert fragment in str(info.value)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"batch": 2.5}, "batch must be an integer >= 1"),
    ({"lr": -1.0}, "lr must be a positive number"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"amp": "fp8"}, "amp must be one of"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"augment_std": -1.0}, "augment_std must be a number >= 0"),
])
def test_bad_config(data, kwargs, fragment):
    with pytest.raises(PhysDistillError) as info:
        Trainer(TrainConfig(**kwargs), progress=False).fit(tiny(), data[0])
    assert fragment in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(PhysDistillError, match="resume=True needs out="):
        Trainer(TrainConfig(), resume=True).fit(tiny(), spring_graphs(64, 0))
    with pytest.raises(PhysDistillError, match="checkpoint settings not found"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_META).write_text("{not json")
    with pytest.raises(PhysDistillError, match="not valid JSON"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_META).write_text(json.dumps({"model": OGNConfig().to_dict()}))
    (tmp_path / CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(PhysDistillError, match="not a readable safetensors checkpoint"):
        load_checkpoint(tmp_path)


DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    from safetensors.torch import save_file
    from physdistill.nbody import train as tm
    from physdistill.nbody.model import OGN, OGNConfig
    from physdistill.nbody.train import Trainer, TrainConfig
    from tests.nbody.test_train import spring_graphs

    torch.set_num_threads(1)
    out = sys.argv[1]
    real_save = tm._save_checkpoint
    def spy(*args):  # one log file per rank: the ranks' stdout lines can interleave
        with open(f"{out}/saves{os.environ['RANK']}.log", "a") as f:
            f.write("saved ")
        real_save(*args)
    tm._save_checkpoint = spy
    torch.manual_seed(1234 + int(os.environ["RANK"]))  # DDP starts every rank from rank 0's
    model = OGN(OGNConfig(variant="l1", hidden=16, msg_dim=4))
    t = Trainer(TrainConfig(epochs=2, batch=16, steps_per_epoch=3, lr=3e-3, device="cpu"),
                out=out + "/run", progress=False).fit(model, spring_graphs(200, 0))
    rank = t.dist_.rank
    assert t.dist_.world == 2 and t.steps_per_epoch_ == 3
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              f"{out}/rank{rank}.safetensors")
    with open(f"{out}/losses{rank}.txt", "w") as f:
        f.write(repr(t.history_["train"]))
""")


def test_ddp_two_processes_end_with_identical_weights(tmp_path):
    from safetensors.torch import load_file

    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": root}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=180, env=env, cwd=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    w0, w1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    torch.manual_seed(1234)
    init = OGN(OGNConfig(variant="l1", hidden=16, msg_dim=4)).state_dict()
    assert not torch.equal(init["edge_mlp.0.weight"], w0["edge_mlp.0.weight"])  # it trained
    # only rank 0 wrote the checkpoint (after each epoch), and it holds the final weights
    assert (tmp_path / "saves0.log").read_text().count("saved") == 2
    assert not (tmp_path / "saves1.log").exists()
    saved = load_state(tmp_path / "run" / CHECKPOINT)["model"]
    assert all(torch.equal(saved[k], w0[k]) for k in w0)
    assert json.loads((tmp_path / "run" / CHECKPOINT_META).read_text())["world"] == 2
    # both ranks report the same (all-reduced) epoch losses
    assert (tmp_path / "losses0.txt").read_text() == (tmp_path / "losses1.txt").read_text()
