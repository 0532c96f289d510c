import numpy as np
import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.pde.equation import Equation


@pytest.mark.parametrize("text, coeffs, order", [
    ("u_t = alpha*u_xx", ("alpha",), 2),
    ("u_t = -u*u_x + nu*u_xx", ("nu",), 2),
    ("u_t = -6*u*u_x - u_xxx", (), 3),
    ("u_t=D*u_xx+r*u*(1-u)", ("D", "r"), 2),
    ("u_t = -u_xx - u_xxxx - u*u_x", (), 4),
])
def test_parses_evolution_equations(text, coeffs, order):
    eq = Equation(text)
    assert eq.coefficients == coeffs and eq.order == order


def test_rhs_numpy_and_torch_agree_with_the_formula():
    eq = Equation("u_t = -u*u_x + nu*u_xx + sin(x)*t")
    rng = np.random.default_rng(0)
    f = {k: rng.standard_normal(5) for k in ("u", "u_x", "u_xx")}
    x, t = rng.standard_normal(5), rng.standard_normal(5)
    want = -f["u"] * f["u_x"] + 0.1 * f["u_xx"] + np.sin(x) * t
    got = eq.rhs(f, {"nu": 0.1}, x, t, backend="numpy")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    ft = {k: torch.as_tensor(v) for k, v in f.items()}
    got_t = eq.rhs(ft, {"nu": torch.tensor(0.1, dtype=torch.float64)}, torch.as_tensor(x),
                   torch.as_tensor(t))
    np.testing.assert_allclose(got_t.numpy(), want, rtol=1e-12)


def test_callable_pde():
    eq = Equation(function=lambda f, c, x, t: c["k"] * f["u_xx"], order=2, coefficients=("k",))
    out = eq.rhs({"u": np.ones(3), "u_x": np.ones(3), "u_xx": np.full(3, 2.0)}, {"k": 3.0})
    np.testing.assert_allclose(out, 6.0)
    with pytest.raises(PhysDistillError, match="needs order="):
        Equation(function=lambda f, c, x, t: f["u"])


def test_linear_split_for_the_spectral_solver():
    linear, rest = Equation("u_t = -6*u*u_x - u_xxx + nu*u_xx").linear_split({"nu": 0.5})
    assert linear == {3: -1.0, 2: 0.5} and str(rest) == "-6*u*u_x"


@pytest.mark.parametrize("text, coeffs, pattern", [
    ("u_t = -u*u_x + nuu*u_xx", ("nu",), r"unknown symbol 'nuu'.*declared coefficient \(nu\)"),
    ("u_t = -u*v_x", None, r"coefficient name 'v_x' is not usable"),
    ("u_t = u_xxxxx", None, r"u_xxxxx has order 5; supported orders are 0 to 4"),
    ("u_t = u_xt", None, r"derivative u_xt is not supported"),
    ("u_xx = u", None, r"not an evolution equation.*left side is 'u_xx'"),
    ("u_tt = u_xx", None, r"not an evolution equation"),
    ("u_xx + u", None, r"not an evolution equation.*0 '=' signs"),
    ("u_t = u_xx + u_t", None, r"u_t appears on the right side"),
    ("u_t = __import__('os')", None, r"not allowed"),
])
def test_bad_pde_strings_get_one_clear_error(text, coeffs, pattern):
    with pytest.raises(PhysDistillError, match=pattern):
        Equation(text, coeffs or ())


def test_unknown_field_like_symbol_is_named():
    with pytest.raises(PhysDistillError, match="unknown symbol 'uu'"):
        Equation("u_t = uu*u_x")
