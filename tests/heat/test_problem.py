"""The problem as data: IC parsing, sine-series detection, exact and finite-difference
references, point sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.heat.problem import HeatProblem, finite_difference, relative_l2


@pytest.mark.parametrize("ic, fragment", [
    ("__import__('os').system('echo hi')", "not allowed"),
    ("sin(pi*y)", "unknown name 'y'"),
    ("sin(pi*x", "not a formula"),
    ("", "not a formula"),
    ("1/x", "not finite everywhere"),
    ("x.real", "not allowed"),
    (3.0, "must be a string"),
])
def test_bad_initial_conditions_raise_one_clear_error(ic, fragment):
    with pytest.raises(PhysDistillError, match="initial condition") as info:
        HeatProblem(ic=ic)
    assert fragment in str(info.value)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"alpha": 0}, "alpha must be > 0"),
    ({"alpha": float("nan")}, "alpha must be finite"),
    ({"domain": (1, 0)}, "x0 < x1"),
    ({"T": -1}, "T (the horizon) must be > 0"),
    ({"bc": (0,)}, "bc must be two numbers"),
])
def test_bad_fields_raise(kwargs, fragment):
    with pytest.raises(PhysDistillError) as info:
        HeatProblem(**kwargs)
    assert fragment in str(info.value)


def test_sine_series_is_detected_on_any_domain():
    p = HeatProblem(ic="sin(pi*x) + 0.5*sin(3*pi*x)")
    assert [k for k, _ in p.sine_series] == [1, 3]
    assert np.allclose([b for _, b in p.sine_series], [1.0, 0.5], atol=1e-12)
    shifted = HeatProblem(ic="2*sin(pi*(x + 1)/2)", domain=(-1, 1), alpha=0.1)
    (k, b), = shifted.sine_series
    assert k == 1 and b == pytest.approx(2.0)
    c = shifted.mode_constants()[0]
    assert c["frequency"] == pytest.approx(math.pi / 2)
    assert c["decay"] == pytest.approx(0.1 * math.pi ** 2 / 4)
    assert HeatProblem(ic="x*(1 - x)").sine_series is None


def test_exact_solution_is_the_sum_of_decaying_modes():
    p = HeatProblem(ic="sin(pi*x) + 0.5*sin(3*pi*x)")
    x, t = np.array([0.3, 0.7]), np.array([0.1, 0.5])
    want = (np.exp(-0.4 * math.pi ** 2 * t) * np.sin(math.pi * x)
            + 0.5 * np.exp(-9 * 0.4 * math.pi ** 2 * t) * np.sin(3 * math.pi * x))
    assert np.allclose(p.exact(x, t), want, rtol=1e-13)
    with pytest.raises(PhysDistillError, match="not a finite sine series"):
        HeatProblem(ic="x*(1-x)").exact(x, t)


def test_finite_differences_match_the_exact_solution():
    p = HeatProblem(ic="sin(pi*x) + 0.5*sin(3*pi*x)")
    x, t, U = finite_difference(p)
    X, T = np.meshgrid(x, t)
    assert relative_l2(U, p.exact(X, T)) < 1e-5


def test_non_sine_ic_uses_finite_differences():
    # x(1-x) = sum over odd k of 8/(k pi)^3 sin(k pi x): compare with 200 modes
    p = HeatProblem(ic="x*(1 - x)", alpha=0.2)
    assert p.reference_kind == "finite-difference"
    X, T = p.grid(33, 11)
    k = np.arange(1, 400, 2)[:, None, None]
    series = np.sum(8 / (k * math.pi) ** 3 * np.exp(-0.2 * (k * math.pi) ** 2 * T)
                    * np.sin(k * math.pi * X), axis=0)
    assert relative_l2(p.reference(X, T), series) < 1e-4


def test_compatibility_and_observations():
    assert HeatProblem().compatible
    assert not HeatProblem(ic="1").compatible
    assert HeatProblem(ic="1", bc=(1, 1)).compatible
    p = HeatProblem()
    xt, u = p.observations(500, noise=0.0, seed=3)
    assert xt.shape == (500, 2) and np.allclose(u, p.exact(xt[:, 0], xt[:, 1]))
    _, noisy = p.observations(500, noise=0.05, seed=3)
    assert np.std(noisy - u) == pytest.approx(0.05 * np.std(u), rel=0.15)
    early, _ = p.observations(2000, seed=1, early=True)
    assert np.median(early[:, 1]) < 0.3  # t = T s^2: median 0.25
    with pytest.raises(PhysDistillError, match="noise must be >= 0"):
        p.observations(10, noise=-1)
