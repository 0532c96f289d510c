import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.pde.examples import EXAMPLES, example
from physdistill.pde.problem import PDEProblem, relative_l2

TWO_MODES = "sin(pi*x) + 0.5*sin(3*pi*x)"


def _two_mode_exact(X, T, alpha=0.4):
    return (np.exp(-alpha * np.pi**2 * T) * np.sin(np.pi * X)
            + 0.5 * np.exp(-9 * alpha * np.pi**2 * T) * np.sin(3 * np.pi * X))


@pytest.mark.parametrize("bc, domain", [("dirichlet", (0.0, 1.0)), ("periodic", (0.0, 2.0))])
def test_heat_reference_matches_the_exact_modes(bc, domain):
    p = PDEProblem("u_t = alpha*u_xx", TWO_MODES, domain, 1.0, bc, coefficients={"alpha": 0.4})
    X, T = p.grid(64, 21)
    assert relative_l2(p.reference(X, T), _two_mode_exact(X, T)) < 1e-5


def test_neumann_reference_matches_the_cosine_mode():
    p = PDEProblem("u_t = alpha*u_xx", "cos(pi*x)", (0.0, 1.0), 0.5, "neumann",
                   coefficients={"alpha": 0.4})
    X, T = p.grid(64, 11)
    exact = np.exp(-0.4 * np.pi**2 * T) * np.cos(np.pi * X)
    assert relative_l2(p.reference(X, T), exact) < 1e-4


def test_kdv_soliton_moves_at_its_speed():
    c = 4.0
    p = PDEProblem("u_t = -6*u*u_x - u_xxx", "2*cosh(x + 5)**-2", (-20, 20), 2.0)
    X, T = p.grid(128, 11)
    exact = 0.5 * c / np.cosh(0.5 * np.sqrt(c) * (X + 5 - c * T)) ** 2
    assert relative_l2(p.reference(X, T), exact) < 1e-4


def test_problem_checks_its_fields():
    with pytest.raises(PhysDistillError, match=r"uses \['nu'\] without a value"):
        PDEProblem("u_t = -u*u_x + nu*u_xx", "exp(-x**2)")
    with pytest.raises(PhysDistillError, match="'mu' does not appear in the PDE"):
        PDEProblem("u_t = nu*u_xx", "exp(-x**2)", coefficients={"nu": 1, "mu": 2})
    with pytest.raises(PhysDistillError, match="bc must be one of"):
        PDEProblem("u_t = u_xx", "exp(-x**2)", bc="robin")
    with pytest.raises(PhysDistillError, match="x0 < x1"):
        PDEProblem("u_t = u_xx", "exp(-x**2)", domain=(1, 0))
    with pytest.raises(PhysDistillError, match="initial condition"):
        PDEProblem("u_t = u_xx", "exp(-y**2)")
    with pytest.raises(PhysDistillError, match="up to u_xx"):
        PDEProblem("u_t = -u_xxx", "sin(pi*x)", bc="dirichlet").reference(0.5, 0.5)


def test_description_round_trip_and_learned_coefficients():
    p = PDEProblem("u_t = -u*u_x + nu*u_xx", "-sin(pi*x)", (-1, 1), 1.0, "dirichlet",
                   coefficients={"nu": 0.05}, learn=("nu",))
    q = PDEProblem.from_description(p.describe())
    assert q == p and q.learn == ("nu",) and q.values == {"nu": 0.05}
    assert p.hard_compatible


def test_examples_build():
    for name in EXAMPLES:
        p, (nx, nt) = example(name)
        assert p.name == name and nx >= 100 and nt >= 100
    with pytest.raises(PhysDistillError, match="unknown example 'burger'"):
        example("burger")
