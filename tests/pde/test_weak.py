import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.pde.discover import pdefind
from physdistill.pde.examples import example, simulate
from physdistill.pde.library import Derivatives, pdefind_library
from physdistill.pde.weak import WeakConfig, needed_order, term_structure, weak_system


def _smooth_fields(nx: int = 400, nt: int = 120):
    """A smooth u(x, t) with its x-derivatives up to order 3, exact."""
    x, t = np.linspace(-2, 2, nx), np.linspace(0, 1, nt)
    X, T = np.meshgrid(x, t, indexing="ij")
    a = 1.3 + 0.4 * T
    u = np.sin(a * X) + 0.3 * np.cos(2 * X - T)
    f = {"u": u,
         "u_x": a * np.cos(a * X) - 0.6 * np.sin(2 * X - T),
         "u_xx": -a**2 * np.sin(a * X) - 1.2 * np.cos(2 * X - T),
         "u_xxx": -a**3 * np.cos(a * X) + 2.4 * np.sin(2 * X - T),
         "u_t": 0.4 * X * np.cos(a * X) + 0.3 * np.sin(2 * X - T)}
    return x, t, f


def test_integration_by_parts_matches_the_strong_integrals():
    """Every weak column of PDE-FIND's library (built from u and u_x alone) equals the test-
    function integral of the strong column, and the left side equals the integral of u_t."""
    x, t, f = _smooth_fields()
    lib = pdefind_library(2, 3)
    assert needed_order(lib) == 1
    G, b = weak_system(x, t, {"u": f["u"], "u_x": f["u_x"]}, lib)
    G_ref, b_ref = weak_system(x, t, {"u": f["u"], "u_x": f["u_x"], "u_xx": f["u_xx"],
                                      "u_xxx": f["u_xxx"]}, _Strong(lib))
    # equal to the quadrature error of the trapezoid rule on the grid
    assert np.all(np.abs(G - G_ref) <= 1e-4 * np.abs(G_ref).max(axis=0))
    assert np.allclose(b, b_ref, rtol=1e-6, atol=1e-6 * np.abs(b_ref).max())
    t_weak = weak_system(x, t, {"u": f["u"], "u_x": f["u_x"], "<u_t>": f["u_t"]},
                         _Named("<u_t>"))[0][:, 0]
    assert np.allclose(-b, -t_weak, rtol=1e-5, atol=1e-6 * np.abs(b).max())


class _Strong(Derivatives):
    """A library whose terms are not recognised, so every column is integrated strongly."""

    def __init__(self, lib):
        super().__init__(0)
        self.lib = lib

    def names(self):
        return [f"<{n}>" for n in self.lib.names()]

    def columns(self, fields):
        return self.lib.columns(fields)

    @property
    def max_order(self):
        return self.lib.max_order


class _Named(Derivatives):
    """One unrecognised term read from the fields by its name."""

    def __init__(self, name):
        super().__init__(0)
        self.name = name

    def names(self):
        return [self.name]

    def columns(self, fields):
        return [fields[self.name]]


def test_term_structure():
    assert term_structure("1") == (-1, 0)
    assert term_structure("u") == (0, 0)
    assert term_structure("u^2") == (1, 0)
    assert term_structure("u_xxx") == (0, 3)
    assert term_structure("u^2*u_xx") == (2, 2)
    assert term_structure("u_x*u_xx") is None


def test_weak_pdefind_recovers_kdv_at_one_percent_noise():
    problem, (nx, nt) = example("kdv")
    data = simulate(problem, nx, nt).with_noise(0.01, 0)
    res = pdefind(data, periodic=True, truth={"u*u_x": -6.0, "u_xxx": -1.0}, weak=WeakConfig(),
                  ensemble=10)
    assert res["truth"]["support_correct"], res["expression"]
    assert res["truth"]["max_rel_error"] < 0.01


def test_weak_config_and_grid_are_checked():
    with pytest.raises(PhysDistillError, match="WeakConfig.width_x"):
        WeakConfig(width_x=0.7)
    x, t, f = _smooth_fields(40, 20)
    with pytest.raises(PhysDistillError, match="uniform grid"):
        weak_system(x ** 3, t, f, pdefind_library())
