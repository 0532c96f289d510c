"""Training: accuracy of a short run, reproducibility, inverse alpha, checkpoints."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.heat.pinn import ModelConfig
from physdistill.heat.problem import HeatProblem
from physdistill.heat.train import (
    TrainConfig,
    load_checkpoint,
    predict,
    rel_l2_on_grid,
    save_checkpoint,
    train,
)

TINY = TrainConfig(adam_steps=30, lbfgs_steps=20, n_domain=200, device="cpu", progress=False)


def test_short_run_is_accurate(single):
    problem, result = single
    assert rel_l2_on_grid(result.model, problem) < 1e-3
    assert result.history["step"][-1] > 300 and set(result.seconds) == {"adam", "lbfgs"}


def test_same_seed_same_weights():
    p = HeatProblem()
    a, b = (train(p, ModelConfig(), TINY).model for _ in range(2))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    c = train(p, ModelConfig(), dataclasses.replace(TINY, seed=1)).model
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_inverse_problem_learns_alpha():
    p = HeatProblem(alpha=0.2)
    obs = p.observations(100, seed=0)
    cfg = dataclasses.replace(TINY, adam_steps=200, lbfgs_steps=300, n_domain=1000)
    result = train(p, ModelConfig(learn_alpha=True), cfg, observations=obs)
    assert result.model.alpha_value() == pytest.approx(0.2, rel=0.01)
    assert result.history["alpha"][0] != result.history["alpha"][-1]
    with pytest.raises(PhysDistillError, match="needs observations"):
        train(p, ModelConfig(learn_alpha=True), TINY)


def test_soft_constraints_with_gradnorm_balance():
    p = HeatProblem(ic="1", bc=(1, 1))  # steady: u = 1 everywhere
    cfg = dataclasses.replace(TINY, adam_steps=150, balance="gradnorm", adam_lr=1e-2)
    result = train(p, ModelConfig(hard="off"), cfg)
    assert {"pde", "ic", "bc"} <= set(result.history)
    assert rel_l2_on_grid(result.model, p, 16, 11) < 0.05


def test_checkpoint_round_trip(tmp_path):
    p = HeatProblem(ic="sin(pi*x) + 0.5*sin(3*pi*x)", alpha=0.3)
    result = train(p, ModelConfig(width=8, depth=2, learn_alpha=True), TINY,
                   observations=p.observations(20))
    save_checkpoint(tmp_path, result, TINY)
    model, meta = load_checkpoint(tmp_path)
    assert model.heat_problem == p and model.heat_config == result.model.heat_config
    assert model.alpha_value() == result.model.alpha_value()
    X, T = p.grid(9, 7)
    assert (predict(model, X, T) == predict(result.model, X, T)).all()
    assert meta["history"]["loss"] == result.history["loss"]


def test_corrupt_or_foreign_checkpoints(tmp_path):
    with pytest.raises(PhysDistillError, match="checkpoint settings not found"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text('{"kind": "something else"}')
    with pytest.raises(PhysDistillError, match="not a heat PINN checkpoint"):
        load_checkpoint(tmp_path)
    p = HeatProblem()
    save_checkpoint(tmp_path, train(p, ModelConfig(width=4, depth=1), TINY), TINY)
    (tmp_path / "checkpoint.safetensors").write_bytes(b"garbage")
    with pytest.raises(PhysDistillError, match="not a readable safetensors"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"adam_steps": -1}, "adam_steps must be an integer >= 0"),
    ({"adam_lr": 0}, r"adam_lr must be in \(0, inf\]"),
    ({"dtype": "float16"}, "dtype must be one of"),
    ({"weights": (("pde", -1.0),)}, "bad entry 'pde'=-1.0"),
    ({"weights": (("physics", 1.0),)}, "bad entry 'physics'"),
])
def test_train_config_errors(kwargs, fragment):
    with pytest.raises(PhysDistillError, match=fragment):
        TrainConfig(**kwargs)
