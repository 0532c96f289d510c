"""Edge variables, true pair forces and the linear force fit."""

from __future__ import annotations

import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.nbody.forcefit import (
    edge_variable_names,
    edge_variables,
    fit_channel,
    fit_channels,
    pair_forces,
)
from physdistill.nbody.laws import get_law


def _edges(E=500, dim=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(E, 2, 2 * dim + 2))
    x[..., -1] = np.exp(x[..., -1])  # masses
    return x[:, 0], x[:, 1]


@pytest.mark.parametrize("dim", [2, 3])
def test_edge_variables(dim):
    xi, xj = _edges(dim=dim)
    v = edge_variables(xi, xj, dim)
    assert list(v) == edge_variable_names(dim)
    np.testing.assert_allclose(v["dx"], xi[:, 0] - xj[:, 0])
    np.testing.assert_allclose(v["r"], np.linalg.norm(xi[:, :dim] - xj[:, :dim], axis=1))
    np.testing.assert_allclose(v["m1"], xi[:, -1])
    np.testing.assert_allclose(v["q2"], xj[:, -2])


def test_pair_forces_match_the_simulator():
    import torch

    from physdistill.nbody.simulate import accelerations

    law = get_law("r2")
    xi, xj = _edges(E=50)
    v = edge_variables(xi, xj, 2)
    F = pair_forces(law, v, 2)
    # two-body systems: the acceleration of particle 1 times m1 is the pair force
    pos = torch.tensor(np.stack([xi[:, :2], xj[:, :2]], 1))
    vel = torch.zeros_like(pos)
    mass = torch.tensor(np.stack([xi[:, -1], xj[:, -1]], 1))
    q = torch.tensor(np.stack([xi[:, -2], xj[:, -2]], 1))
    a = accelerations(law, pos, vel, mass, q)
    np.testing.assert_allclose(F, (a[:, 0] * mass[:, :1]).numpy(), rtol=1e-10)


def test_exact_linear_combination_gives_r2_one():
    law = get_law("spring")
    v = edge_variables(*_edges(), 2)
    F = pair_forces(law, v, 2)
    msgs = np.stack([0.3 * F[:, 0] - 1.7 * F[:, 1] + 0.25, 2.0 * F[:, 1] - 4.0], 1)
    fits = fit_channels(msgs, F)
    np.testing.assert_allclose(fits[0].coef, [0.3, -1.7], rtol=1e-9)
    assert fits[0].intercept == pytest.approx(0.25)
    np.testing.assert_allclose(fits[1].coef, [0.0, 2.0], atol=1e-9)
    for f in fits:
        assert f.r2 == pytest.approx(1.0, abs=1e-12)
        assert f.r2_robust == pytest.approx(1.0, abs=1e-12)


def test_robust_r2_drops_outliers_and_is_labelled_separately():
    law = get_law("spring")
    F = pair_forces(law, edge_variables(*_edges(E=1000), 2), 2)
    m = F[:, 0].copy()
    m[:50] += 100.0 * (-1.0) ** np.arange(50)  # 5% gross outliers, both signs
    fit = fit_channel(m, F)
    assert fit.r2 < 0.1 < 0.5 < fit.r2_robust  # dropping the worst 10% removes them


def test_errors():
    with pytest.raises(PhysDistillError, match="edge inputs must be"):
        edge_variables(np.zeros((3, 5)), np.zeros((3, 5)), 2)
    with pytest.raises(PhysDistillError, match="forces must be"):
        fit_channel(np.zeros(10), np.zeros((9, 2)))
    with pytest.raises(PhysDistillError, match="finite edges"):
        fit_channel(np.full(10, np.nan), np.zeros((10, 2)))


def test_robust_fit_is_trimmed_least_squares():
    """The reference's robust number: coefficients fitted to the best 90 % of the edges, so 10 %
    wild edges (a network saturating on close encounters) neither bend the fit nor lower it."""
    rng = np.random.default_rng(0)
    F = rng.normal(size=(5000, 2)) * np.exp(rng.normal(size=(5000, 1)))
    msg = 0.7 * F[:, 0] - 0.2 * F[:, 1] + 0.1 + 1e-3 * rng.normal(size=5000)
    wild = rng.choice(5000, 400, replace=False)
    msg[wild] = np.tanh(msg[wild]) + 5 * rng.normal(size=400)
    fit = fit_channel(msg, F)
    assert fit.r2 < 0.9
    assert fit.r2_robust > 0.999
    assert np.allclose(fit.robust_coef, [0.7, -0.2], atol=1e-3)
    assert abs(fit.robust_intercept - 0.1) < 1e-3
