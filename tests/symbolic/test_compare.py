"""compare(): coefficient fitting, numeric and symbolic agreement, the recovered verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic import Expression, compare


@pytest.fixture(scope="module")
def pair_inputs():
    rng = np.random.default_rng(0)
    dx, dy = rng.normal(size=600), rng.normal(size=600)
    return {"dx": dx, "dy": dy, "r": np.sqrt(dx**2 + dy**2) + 0.1}


DERIVED = {"r": "sqrt(dx**2 + dy**2) + 0.1"}


def test_force_law_message_is_recovered(pair_inputs):
    found = Expression("0.51*dx/r**3 - 0.3*dy/r**3 + 1e-5", ["dx", "dy", "r"])
    res = compare(found, "a*dx/r**3 + b*dy/r**3 + c", pair_inputs, derived=DERIVED)
    assert res.recovered and res.symbolic_match
    assert res.coefficients == pytest.approx({"a": 0.51, "b": -0.3, "c": 1e-5}, abs=1e-9)
    assert res.in_distribution.r2 > 0.999999 and res.out_of_distribution.max_rel_error < 1e-9
    assert res.out_of_distribution.n_points == 2000
    assert "recovered = symbolic_match and max_rel_error < 0.01" in res.rule
    json.dumps(res.to_dict())


def test_rational_functions_equal_up_to_a_common_factor_match(pair_inputs):
    # what SR returns for x/(r + 0.01): numerator and denominator scaled by the same constant
    found = "-43.92*dx/(r*(43.92*r + 0.4392))"
    res = compare(found, "a*dx/(r*(r + 0.01)) + b", pair_inputs, coefficients=["a", "b"])
    assert res.symbolic_match and res.recovered, res.to_dict()


def test_a_constant_never_matches_by_zeroing_the_coefficients(pair_inputs):
    res = compare("10677.7 - 10458.3", "a*dx/r**3 + b", pair_inputs, coefficients=["a", "b"])
    assert not res.symbolic_match and not res.recovered
    assert "degenerate" in res.symbolic_detail


def test_kept_inputs_stay_at_observed_values_out_of_distribution():
    rng = np.random.default_rng(1)
    q = np.where(rng.normal(size=400) > 0, 1.0, -1.0)
    x = rng.normal(size=400)
    inputs = {"x": x, "q": q}
    # on charges +-1, x/q and x*q are the same function
    widened = compare("x/q", "a*x*q + b", inputs, coefficients=["a", "b"])
    kept = compare("x/q", "a*x*q + b", inputs, coefficients=["a", "b"], keep=["q"])
    assert widened.out_of_distribution.max_rel_error > 0.1
    assert kept.out_of_distribution.max_rel_error < 1e-9
    with pytest.raises(PhysDistillError, match="keep"):
        compare("x/q", "a*x*q", inputs, keep=["p"])


def test_wrong_power_is_not_recovered(pair_inputs):
    res = compare("0.51*dx/r**2 - 0.3*dy/r**3", "a*dx/r**3 + b*dy/r**3 + c", pair_inputs)
    assert not res.recovered and not res.symbolic_match
    assert "largest residual term" in res.symbolic_detail


def test_nonlinear_coefficients_are_fitted():
    rng = np.random.default_rng(1)
    inputs = {"x0": rng.uniform(0, 2, 300), "x1": rng.uniform(0, 2, 300)}
    res = compare("exp(-0.50001*x0)*sin(2.00003*x1)", "A*exp(-k*x0)*sin(w*x1)", inputs)
    assert res.recovered
    assert res.coefficients == pytest.approx({"A": 1.0, "k": 0.50001, "w": 2.00003}, rel=1e-6)


def test_a_taylor_approximation_matches_numerically_but_not_symbolically():
    x = np.random.default_rng(2).uniform(-0.5, 0.5, 300)
    res = compare("x0 - x0**3/6", "a*sin(x0)", {"x0": x})
    assert res.in_distribution.r2 > 0.99999
    assert not res.symbolic_match and not res.recovered


def test_rounding_match_and_ood_tolerance():
    x = np.linspace(1.0, 2.0, 200)
    res = compare("3.0001*x**2", "a*x**2", {"x": x})
    assert res.recovered and res.coefficients["a"] == pytest.approx(3.0001)
    # a fixed-constant reference: equal after rounding, but 0.03 % off everywhere
    res = compare("3.001*x**2", sympy.Integer(3) * sympy.Symbol("x") ** 2, {"x": x},
                  match_tol=1e-2)
    assert res.symbolic_match and res.recovered
    res = compare("3.001*x**2", "3*x**2", {"x": x}, rel_tol=1e-4)
    assert not res.recovered  # the rule uses rel_tol


def test_explicit_ood_inputs_and_non_finite_found():
    x = np.linspace(0.5, 2.0, 100)
    res = compare("log(x)", "a*log(x)", {"x": x}, ood_inputs={"x": np.linspace(-1, 4, 50)})
    assert res.out_of_distribution.n_points == 40  # reference undefined below 0 -> dropped
    res = compare("log(x - 0.4)", "a*log(x) + b", {"x": x},
                  ood_inputs={"x": np.linspace(0.1, 4, 50)})
    assert res.out_of_distribution.n_found_nonfinite > 0
    assert res.out_of_distribution.max_rel_error == float("inf") and not res.recovered


@pytest.mark.parametrize("kwargs, match", [
    (dict(found="x0 + y", reference="a*x0", inputs={"x0": np.ones(30)}), "unknown name"),
    (dict(found="x0", reference="a*x0 + z", inputs={"x0": np.ones(30)}, coefficients=["a"]),
     "neither inputs"),
    (dict(found="x0", reference="a*x0", inputs={"x0": np.ones(5)}), "at least 20"),
    (dict(found="x0", reference="a*x0", inputs={"x0": np.ones(30), "x1": np.ones(29)}),
     "equal lengths"),
    (dict(found="x0", reference="a*x0", inputs={"x0": np.ones(30)}, widen=0.5), "widen > 1"),
    (dict(found="x0", reference="gamma(a*x0)", inputs={"x0": np.ones(30)}), "not allowed"),
    (dict(found="x0", reference="a*x0", inputs={"x0": np.ones(30)}, derived={"q": "x0"}),
     "not among the inputs"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(PhysDistillError, match=match):
        compare(**kwargs)
