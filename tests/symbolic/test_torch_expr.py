"""Expressions as torch modules: values, gradients, trainable constants, devices, dtypes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.symbolic import Expression, TorchExpression

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("text", [
    "x0*x1/x2**2", "2.5*sin(x0) + x1**2", "exp(-0.5*x0)*sin(2*x1)", "sqrt(x0)*log(x1) - x2/3",
    "Abs(x0 - 1)**1.5 + tanh(x1) + cosh(x2)", "sqrt(2)*x0 + pi", "4.0",
])
def test_matches_numpy_on_any_device(text, device):
    e = Expression(text, ["x0", "x1", "x2"])
    X = np.random.default_rng(0).uniform(0.5, 2.0, (50, 3))
    m = e.torch().to(device)
    out = m(torch.tensor(X, dtype=torch.float64, device=device))
    assert out.device.type == device and out.shape == (50,)
    np.testing.assert_allclose(out.cpu().numpy(), e.evaluate(X), rtol=1e-12, atol=1e-12)
    out32 = m(torch.tensor(X, dtype=torch.float32, device=device))
    assert out32.dtype == torch.float32
    named = m({f"x{i}": torch.tensor(X[:, i], device=device) for i in range(3)})
    np.testing.assert_allclose(named.cpu().numpy(), e.evaluate(X), rtol=1e-12)


def test_batch_shapes_are_kept():
    m = Expression("x0*x1").torch()
    assert m(torch.ones(4, 5, 2)).shape == (4, 5)


def test_gradients_and_trainable_constants():
    e = Expression("2.0*sin(0.5*x0)")
    frozen = e.torch()
    assert not list(frozen.parameters()) and "constants" in dict(frozen.named_buffers())
    m = e.torch(trainable=True)
    assert [p.numel() for p in m.parameters()] == [2]
    x = torch.linspace(-2, 2, 200, dtype=torch.float64)[:, None].requires_grad_()
    m(x).sum().backward()
    assert x.grad is not None and m.constants.grad is not None
    # fit the constants to 3*sin(0.7*x)
    target = 3.0 * torch.sin(0.7 * x.detach()[:, 0])
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        loss = ((m(x.detach()) - target) ** 2).mean()
        loss.backward()
        opt.step()
    fitted = m.expression()
    assert sorted(fitted.constants) == pytest.approx([0.7, 3.0], rel=1e-3)
    assert str(m.sympy()) != str(e.sympy())
    assert e.constants == [2.0, 0.5] or sorted(e.constants) == [0.5, 2.0]  # source unchanged


def test_state_dict_and_deepcopy():
    m = Expression("1.5*x0 + 0.25").torch()
    m2 = copy.deepcopy(m)
    m2.constants.mul_(2)
    x = torch.ones(3, 1)
    assert torch.allclose(m(x), torch.full((3,), 1.75))
    assert torch.allclose(m2(x), torch.full((3,), 3.5))
    m3 = Expression("1.5*x0 + 0.25").torch()
    m3.load_state_dict(m2.state_dict())
    assert torch.allclose(m3(x), m2(x))


def test_bad_inputs_name_the_expected_shape():
    m = Expression("x0*x1").torch()
    with pytest.raises(PhysDistillError, match=r"shape \(\*, 2\)"):
        m(torch.ones(3, 3))
    with pytest.raises(PhysDistillError, match="lack the variables"):
        m({"x0": torch.ones(3)})
    with pytest.raises(PhysDistillError, match="expected an Expression"):
        TorchExpression("x0")
