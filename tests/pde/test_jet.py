"""Forward-mode jets (physdistill.pde.jet) against nested autograd."""

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.pde.model import PINN, FieldNet, NetConfig, derivatives, residual
from physdistill.pde.problem import PDEProblem

PROBLEMS = {
    "dirichlet": PDEProblem("u_t = -u*u_x + nu*u_xx", "-sin(pi*x)", (-1, 1), 0.99, "dirichlet",
                            coefficients={"nu": 0.003}),
    "periodic": PDEProblem("u_t = -6*u*u_x - u_xxx", "exp(-x**2/4)", (-15, 15), 2.0),
    "neumann": PDEProblem("u_t = D*u_xx + r*u - r*u**2", "exp(-x**2)", (-10, 10), 8.0,
                          "neumann", coefficients={"D": 0.1, "r": 1.0}),
}


def _points(p: PDEProblem, n: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    s = torch.rand(n, 2, generator=g, dtype=torch.float64)
    return torch.stack([p.domain[0] + s[:, 0] * (p.domain[1] - p.domain[0]), s[:, 1] * p.T], 1)


@pytest.mark.parametrize("bc", sorted(PROBLEMS))
@pytest.mark.parametrize("hard", ["auto", "off"])
def test_jet_derivatives_equal_autograd_up_to_order_four(bc, hard):
    p = PROBLEMS[bc]
    torch.manual_seed(0)
    model = PINN(p, NetConfig(width=12, depth=3, hard=hard, harmonics=2)).double()
    xt = _points(p)
    for order in (1, 2, 3, 4):
        a = derivatives(model, xt, order, method="autograd")
        j = derivatives(model, xt, order, method="jet")
        assert sorted(a) == sorted(j)
        for k in a:
            torch.testing.assert_close(j[k], a[k], rtol=1e-10,
                                       atol=1e-12 * float(a[k].detach().abs().max()))


def test_loss_gradient_through_the_jet_equals_autograd():
    p = PROBLEMS["dirichlet"]
    torch.manual_seed(0)
    model = PINN(p, NetConfig(width=12, depth=2)).double()
    xt = _points(p)
    grads = {}
    for method in ("autograd", "jet"):
        d = derivatives(model, xt, 2, method=method)
        r = d["u_t"] + d["u"] * d["u_x"] - 0.003 * d["u_xx"]
        grads[method] = torch.autograd.grad((r * r).mean(), list(model.parameters()))
    for g_a, g_j in zip(grads["autograd"], grads["jet"]):
        torch.testing.assert_close(g_j, g_a, rtol=1e-9, atol=1e-12)
    r = residual(model, xt, create_graph=False)
    assert not r.requires_grad and r.shape == (len(xt),)


def test_a_subclass_that_overrides_forward_falls_back_to_autograd():
    class Shifted(FieldNet):
        def forward(self, xt):
            return super().forward(xt) + xt[:, 0] ** 3

    model = Shifted((0.0, 1.0), 1.0, NetConfig(width=8, depth=2)).double()
    assert not model.jet_matches_forward
    xt = _points(PDEProblem("u_t = u_xx", "sin(pi*x)", (0, 1), 1.0, "dirichlet"))
    auto = derivatives(model, xt, 3, create_graph=False)
    exact = derivatives(model, xt, 3, create_graph=False, method="autograd")
    torch.testing.assert_close(auto["u_xxx"], exact["u_xxx"])
    with pytest.raises(PhysDistillError, match="method='jet' needs a FieldNet"):
        derivatives(model, xt, 2, method="jet")
    with pytest.raises(PhysDistillError, match="derivative method must be one of"):
        derivatives(model, xt, 2, method="taylor")
