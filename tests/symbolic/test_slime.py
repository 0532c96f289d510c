"""SLIME: local equations around a point."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from physdistill.errors import PhysDistillError
from physdistill.symbolic import slime


def test_local_equation_of_a_function(fast_config):
    """sin(x0)*x1 near x0 = 0 is x0*x1 + O(x0^3): a narrow SLIME finds the local law (and,
    being weighted least squares on exact labels, may prefer the next Taylor order)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (2000, 2))

    def model(Z):
        return np.sin(Z[:, 0]) * Z[:, 1]

    front = slime(model, X, np.array([0.0, 1.0]), sigma=0.05, config=fast_config,
                  n_neighbours=16, n_synthetic=300)
    assert front.meta["slime_neighbours"] == 16 and front.meta["weighted"]
    x0, x1 = sympy.symbols("x0 x1")
    first_order = [c for c in front if sympy.simplify(c.expression.rounded(2) - x0 * x1) == 0]
    assert first_order, front.table()
    local = front.expression
    near = np.array([0.0, 1.0]) + 0.05 * X.std(0) * rng.standard_normal((200, 2))
    far = rng.uniform(-3, 3, (200, 2))
    err_near = np.abs(local.evaluate(near) - model(near)).max()
    err_far = np.abs(local.evaluate(far) - model(far)).max()
    assert err_near < 1e-2 < err_far


def test_symbolic_model_slime(distilled, trained_mlp):
    front = distilled.slime([1.5, 1.5], dim=0, sigma=0.2, n_synthetic=200)
    x = torch.tensor([[1.5, 1.5], [1.55, 1.45]])
    local = front.expression.evaluate(x.double().numpy())
    np.testing.assert_allclose(local, trained_mlp(x)[:, 0].double().numpy(), rtol=0.02)


def test_bad_arguments():
    X = np.ones((10, 2))
    with pytest.raises(PhysDistillError, match="x0 has 3 entries"):
        slime(lambda Z: Z[:, 0], X, [0.0, 0.0, 0.0])
    with pytest.raises(PhysDistillError, match="sigma"):
        slime(lambda Z: Z[:, 0], X, [0.0, 0.0], sigma=0)
    with pytest.raises(PhysDistillError, match="one value per point"):
        slime(lambda Z: Z, X, [0.0, 0.0], n_synthetic=20)
