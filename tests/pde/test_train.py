import json

import numpy as np
import pytest
import torch

from physdistill.checkpoints import CHECKPOINT_META
from physdistill.errors import PhysDistillError
from physdistill.pde.model import PINN, NetConfig
from physdistill.pde.problem import PDEProblem
from physdistill.pde.train import TrainConfig, predict, rel_l2_on_grid, train

HEAT = PDEProblem("u_t = alpha*u_xx", "sin(pi*x) + 0.5*sin(3*pi*x)", (0, 1), 1.0, "dirichlet",
                  coefficients={"alpha": 0.4})
OVERFIT = PDEProblem("u_t = -u*u_x + nu*u_xx", "-sin(pi*x)", (-1, 1), 0.99, "dirichlet",
                     coefficients={"nu": 0.003})
FAST = {"n_domain": 400, "device": "cpu", "progress": False, "log_every": 10}


def test_forward_heat_trains_to_a_small_error():
    untrained = rel_l2_on_grid(PINN(HEAT, NetConfig()).double(), HEAT, 64, 21)
    r = train(HEAT, NetConfig(), TrainConfig(adam_steps=200, lbfgs_steps=200, **FAST))
    assert r.model.hard_ic and r.model.hard_bc and r.guard == {}  # no guard by default
    assert r.history["loss"][-1] < 1e-2 * r.history["loss"][0]
    err = rel_l2_on_grid(r.model, HEAT, 64, 21)
    assert err < 5e-2 and err < 0.1 * untrained


def test_inverse_learns_the_coefficient_and_logs_it_every_step():
    p = PDEProblem("u_t = alpha*u_xx", HEAT.ic, (0, 1), 1.0, "dirichlet",
                   coefficients={"alpha": 0.2}, learn=("alpha",))
    r = train(p, NetConfig(), TrainConfig(adam_steps=150, lbfgs_steps=600, **FAST),
              observations=p.observations(200))
    c = r.coefficients
    assert c["step"][:3] == [1, 2, 3] and len(c["alpha"]) == len(c["step"]) > 150
    assert c["alpha"][0] == pytest.approx(1.0, abs=0.01)  # start value
    assert abs(c["alpha"][-1] - 0.2) < 0.05  # from a gap of 0.8 at this small budget
    with pytest.raises(PhysDistillError, match="needs observations"):
        train(p, NetConfig(), TrainConfig(adam_steps=1, lbfgs_steps=0, **FAST))


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    cfg = TrainConfig(adam_steps=40, lbfgs_steps=0, checkpoint_every=10, **FAST)
    straight = train(HEAT, NetConfig(width=8, depth=2), cfg)
    stop = train(HEAT, NetConfig(width=8, depth=2), cfg, out=tmp_path,
                 callback=lambda step, phase, m: step == 20)
    meta = json.loads((tmp_path / CHECKPOINT_META).read_text())
    assert meta["step"] == 20 and meta["phase"] == "adam" and stop.history["step"][-1] == 20
    resumed = train(HEAT, NetConfig(width=8, depth=2), cfg, out=tmp_path, resume=True)
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert resumed.history["loss"] == straight.history["loss"]
    with pytest.raises(PhysDistillError, match="settings differ"):
        train(HEAT, NetConfig(width=8, depth=2), TrainConfig(adam_steps=50, lbfgs_steps=0,
                                                             **FAST), out=tmp_path, resume=True)


def test_periodic_output_is_exactly_periodic_and_neumann_uses_a_bc_loss():
    p = PDEProblem("u_t = -u*u_x + nu*u_xx", "exp(-(x + 2)**2)", (-8, 8), 10.0,
                   coefficients={"nu": 0.1})
    m = PINN(p, NetConfig()).double()
    t = np.linspace(0, 10, 7)
    np.testing.assert_allclose(predict(m, -8.0, t), predict(m, 8.0, t), atol=1e-12)
    np.testing.assert_allclose(predict(m, np.linspace(-8, 8, 5), 0.0),
                               p.u0(np.linspace(-8, 8, 5)), atol=1e-12)
    q = PDEProblem("u_t = D*u_xx + r*u - r*u**2", "exp(-x**2)", (-10, 10), 8.0, "neumann",
                   coefficients={"D": 0.1, "r": 1.0})
    r = train(q, NetConfig(width=8, depth=2), TrainConfig(adam_steps=20, lbfgs_steps=0, **FAST))
    assert r.model.hard_ic and not r.model.hard_bc and "bc" in r.history


def test_residual_resampling_moves_points_towards_large_residuals():
    from physdistill.pde.losses import Losses

    p = PDEProblem("u_t = -u*u_x + nu*u_xx", "-sin(pi*x)", (-1, 1), 1.0, "dirichlet",
                   coefficients={"nu": 0.003})
    cfg = TrainConfig(adam_steps=1, lbfgs_steps=0, n_domain=500, resample_pool=4,
                      device="cpu", progress=False)
    model = PINN(p, NetConfig()).double()
    losses = Losses(p, model, cfg, None, torch.device("cpu"))
    before = float(losses()["pde"].detach())
    losses.resample()
    assert losses.points["pde"][0].shape == (500, 2)
    assert float(losses()["pde"].detach()) > before  # the new set holds more high-residual points


def test_holdout_guard_keeps_the_weights_that_score_best_off_the_collocation_set():
    from physdistill.pde.losses import HoldoutGuard, Losses

    # 20 collocation points: L-BFGS fits them to round-off while the solution elsewhere degrades
    cfg = TrainConfig(adam_steps=100, lbfgs_steps=150, n_domain=20, holdout=500, guard_rise=3.0,
                      log_every=25, device="cpu", progress=False)
    r = train(OVERFIT, NetConfig(width=16, depth=2), cfg)
    g = r.guard
    assert g["step"][0] == 100 and len(g["step"]) == len(g["holdout"]) >= 2
    assert g["stopped"] and g["restored"] and g["step"][-1] < 250  # stopped early
    assert g["holdout"][-1] > 3.0 * min(g["holdout"]) and g["best"] == min(g["holdout"])
    held = HoldoutGuard(Losses(OVERFIT, r.model, cfg, None, torch.device("cpu")), 500,
                        torch.device("cpu"), seed=0, rise=3.0)
    held.check(0)
    assert held.best == pytest.approx(g["best"], rel=1e-9)  # the best weights came back


def test_a_stopped_run_restarts_and_the_best_attempt_is_returned(tmp_path):
    cfg = TrainConfig(adam_steps=30, lbfgs_steps=100, n_domain=20, holdout=300, guard_rise=2.0,
                      restarts=1, log_every=25, device="cpu", progress=False)
    r = train(OVERFIT, NetConfig(width=16, depth=2), cfg, out=tmp_path)
    att = r.guard["attempts"]
    assert (tmp_path / "restart-1" / CHECKPOINT_META).is_file()
    again = train(OVERFIT, NetConfig(width=16, depth=2), cfg, out=tmp_path, resume=True)
    assert [a["best"] for a in again.guard["attempts"]] == [a["best"] for a in att]
    assert [a["seed"] for a in att] == [0, 1000] and att[0]["stopped"]
    assert r.guard["best"] == min(a["best"] for a in att)
    assert r.seconds["lbfgs"] == pytest.approx(sum(a["seconds"]["lbfgs"] for a in att), abs=1e-2)
    with pytest.raises(PhysDistillError, match="builds a new network per attempt"):
        train(OVERFIT, NetConfig(), cfg, model=PINN(OVERFIT, NetConfig()))
    with pytest.raises(PhysDistillError, match="needs the held-out guard"):
        TrainConfig(restarts=1)


def test_stall_stop_fires_only_once_a_window_lowered_the_loss_by_less_than_its_share():
    from physdistill.pde.train import StallStop

    falling = StallStop(start=100, tol=0.01, window=100)
    assert not any(falling.check(100 + 50 * k, 0.9 ** k) for k in range(1, 40))  # -10 % a chunk
    flat = StallStop(start=100, tol=0.01, window=100)
    fired = [s for s in range(150, 600, 50) if flat.check(s, 1.0 - 1e-4 * s / 50)]
    assert fired[0] == 250  # the first step with a whole window after a recorded loss
    # the lowest losses are compared, so a higher (line-search) value in between counts for
    # nothing either way
    for last, stops in ((0.499, True), (0.45, False)):
        trace = StallStop(start=0, tol=0.01, window=100)
        assert not any(trace.check(s, v) for s, v in ((50, 1.0), (100, 0.5), (150, 0.7)))
        assert trace.check(200, last) is stops


def test_lbfgs_stall_ends_a_converged_run_before_its_budget():
    base = {"adam_steps": 50, "lbfgs_steps": 3000, "n_domain": 100, "device": "cpu",
            "progress": False, "log_every": 25}
    net = NetConfig(width=4, depth=1)  # 17 weights: L-BFGS reaches the capacity floor quickly
    stalled = train(HEAT, net, TrainConfig(**base, lbfgs_stall=0.01, lbfgs_stall_window=100))
    full = train(HEAT, net, TrainConfig(**base))
    h = stalled.history
    end = h["step"][-1]
    assert end < full.history["step"][-1]
    recent = min(v for s, v in zip(h["step"], h["loss"]) if s > end - 100)
    before = min(v for s, v in zip(h["step"], h["loss"]) if 50 < s <= end - 100)
    assert recent > 0.99 * before  # the stop's condition holds where it stopped
    steps = h["step"]
    assert h["loss"][:steps.index(end)] == full.history["loss"][:steps.index(end)]  # same path
    with pytest.raises(PhysDistillError, match="lbfgs_stall must be in"):
        TrainConfig(lbfgs_stall=1.0)
