"""Stacked training: each model of a stack trains as it would alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from physdistill.nbody import stack as stack_mod
from physdistill.nbody.model import OGN, OGNConfig
from physdistill.nbody.stack import Member, StackedOGN, StackTrainer
from physdistill.nbody.train import TrainConfig, Trainer, load_checkpoint

CFG = TrainConfig(epochs=2, batch=16, steps_per_epoch=6, device="cpu", val_graphs=64)


def _data(seed: int, G: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(G, 4, 6, generator=g), torch.randn(G, 4, 2, generator=g)


def _model(seed: int, variant: str) -> OGN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(100 + seed)
        return OGN(OGNConfig(variant=variant, hidden=16))


def _members(variant: str, out=None) -> list[Member]:
    return [Member(f"m{s}", _model(s, variant), _data(s, 120 + 10 * s), _data(50 + s, 64), s,
                   None if out is None else out / f"m{s}") for s in range(3)]


def _close(a: dict, b: dict, tol: float = 1e-6) -> bool:
    return a.keys() == b.keys() and all(
        torch.allclose(a[k].float(), b[k].float(), atol=tol, rtol=0) for k in a)


@pytest.mark.parametrize("variant", ["bottleneck", "l1", "pruning"])
def test_a_stack_trains_each_model_as_it_trains_alone(variant):
    lone = []
    for s in range(3):
        t = Trainer(replace(CFG, seed=s), progress=False).fit(
            _model(s, variant), _data(s, 120 + 10 * s), _data(50 + s, 64))
        lone.append((t.model_.state_dict(), t.history_["val"]))
    members = _members(variant)
    StackTrainer(CFG, progress=False).fit(members)
    for m, (state, val) in zip(members, lone):
        assert _close(m.model.state_dict(), state), m.name
        assert m.history["val"] == pytest.approx(val, rel=1e-5)
        assert m.epoch == 2 and m.diverged is None


def test_stacked_forward_matches_the_models():
    models = [_model(s, "kl") for s in range(2)]
    stack = StackedOGN(models).eval()
    x = torch.randn(2, 5, 4, 6)
    out, _ = stack(x)
    from physdistill.nbody.dataset import batched_edge_index

    ei = batched_edge_index(5, 4)
    for k, m in enumerate(models):
        alone = m.eval()(x[k].reshape(20, 6), ei).reshape(5, 4, 2)
        assert torch.allclose(out[k], alone, atol=1e-5)
    with pytest.raises(Exception, match="one config"):
        StackedOGN([_model(0, "kl"), _model(1, "l1")])


def test_an_interrupted_stack_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """Killed while writing epoch 2's checkpoints (model 0 written, models 1-2 not), the stack
    resumes: the models behind catch up alone, then all end as an uninterrupted stack does; the
    checkpoints are the lone trainer's (load_checkpoint reads them)."""
    whole = _members("pruning")
    StackTrainer(CFG, progress=False).fit(whole)

    calls = {"n": 0}
    save = stack_mod._save_checkpoint

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # epoch 2, second model
            raise KeyboardInterrupt
        return save(*args, **kwargs)

    monkeypatch.setattr(stack_mod, "_save_checkpoint", dying)
    with pytest.raises(KeyboardInterrupt):
        StackTrainer(CFG, progress=False).fit(_members("pruning", tmp_path))
    monkeypatch.setattr(stack_mod, "_save_checkpoint", save)
    assert [load_checkpoint(tmp_path / f"m{s}")[1]["epoch"] for s in range(3)] == [2, 1, 1]
    resumed = _members("pruning", tmp_path)
    StackTrainer(CFG, resume=True, progress=False).fit(resumed)
    for a, b in zip(whole, resumed):
        assert _close(a.model.state_dict(), b.model.state_dict()), a.name
        assert a.history["val"] == pytest.approx(b.history["val"], rel=1e-5)
        model, meta = load_checkpoint(tmp_path / b.name)
        assert meta["epoch"] == 2 and meta["train"]["seed"] == b.seed
        assert _close(model.state_dict(), b.model.state_dict())


def test_a_diverging_model_is_stopped_and_the_others_go_on(capsys):
    members = _members("bottleneck")
    members[1].train[0][:, :, 0] = float("nan")  # every batch of model 1 is poisoned
    StackTrainer(CFG, progress=False).fit(members)
    assert members[1].diverged == 1 and members[1].epoch == 0
    assert "m1: training loss is nan in epoch 1" in capsys.readouterr().out
    for s in (0, 2):
        t = Trainer(replace(CFG, seed=s), progress=False).fit(
            _model(s, "bottleneck"), _data(s, 120 + 10 * s), _data(50 + s, 64))
        assert _close(members[s].model.state_dict(), t.model_.state_dict()), s
