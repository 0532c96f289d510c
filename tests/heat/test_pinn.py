"""The model: hard constraint, autograd derivatives, configuration errors."""

from __future__ import annotations

import math

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.heat.pinn import HeatPINN, ModelConfig
from physdistill.heat.problem import HeatProblem
from physdistill.pde.model import derivatives as autograd_derivatives


def test_hard_constraint_meets_ic_and_bc_exactly():
    p = HeatProblem(ic="sin(pi*x) + 0.5*sin(3*pi*x)")
    m = HeatPINN(p).double()
    assert m.hard
    x = torch.linspace(0, 1, 11, dtype=torch.float64)
    at_t0 = m(torch.stack([x, torch.zeros_like(x)], 1))
    assert torch.allclose(at_t0, torch.as_tensor(p.u0(x.numpy())), atol=1e-14)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    for x0 in (0.0, 1.0):
        assert m(torch.stack([torch.full_like(t, x0), t], 1)).abs().max() < 1e-14
    assert not HeatPINN(p, ModelConfig(hard="off")).hard
    assert not HeatPINN(HeatProblem(ic="1")).hard  # auto: IC misses the zero BCs


def test_hard_on_with_incompatible_ic_is_an_error():
    with pytest.raises(PhysDistillError, match="hard constraint needs an initial condition"):
        HeatPINN(HeatProblem(ic="1"), ModelConfig(hard="on"))


def test_autograd_derivatives_of_a_known_function():
    def f(xt):
        return torch.sin(math.pi * xt[:, 0]) * torch.exp(-2 * xt[:, 1])

    xt = torch.rand(20, 2, dtype=torch.float64)
    d = autograd_derivatives(f, xt, order=3, create_graph=False)
    s, c, e = (torch.sin(math.pi * xt[:, 0]), torch.cos(math.pi * xt[:, 0]),
               torch.exp(-2 * xt[:, 1]))
    assert torch.allclose(d["u_t"], -2 * s * e)
    assert torch.allclose(d["u_x"], math.pi * c * e)
    assert torch.allclose(d["u_xx"], -math.pi ** 2 * s * e)
    assert torch.allclose(d["u_xxx"], -math.pi ** 3 * c * e)
    assert not d["u_xx"].requires_grad
    with pytest.raises(PhysDistillError, match="order must be 1 to 4"):
        autograd_derivatives(f, xt, order=5)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"width": 0}, "width must be a positive integer"),
    ({"hard": "yes"}, "hard must be 'auto', 'on' or 'off'"),
    ({"alpha_init": -1.0}, "alpha_init must be a positive number"),
])
def test_model_config_errors(kwargs, fragment):
    with pytest.raises(PhysDistillError, match=fragment):
        ModelConfig(**kwargs)
