"""compare_force: the n-body recovery rule on equations as symbolic regression writes them."""

import numpy as np
import pytest

from physdistill.nbody.laws import get_law
from physdistill.nbody.pipeline import compare_force, judge_force


@pytest.fixture(scope="module")
def edges():
    rng = np.random.default_rng(0)
    n = 2000
    v = {"dx": 1.4 * rng.normal(size=n), "dy": 1.4 * rng.normal(size=n)}
    v["r"] = np.hypot(v["dx"], v["dy"])
    v["m1"], v["m2"] = np.exp(rng.normal(size=n)), np.exp(rng.normal(size=n))
    v["q1"], v["q2"] = np.sign(rng.normal(size=n)), np.sign(rng.normal(size=n))
    return v


@pytest.mark.parametrize("law, found, target", [
    # exact laws with numerator and denominator scaled alike, as pyoperon returns them
    ("r1", "-43.92*dx*m1*m2/(r*(43.92*r + 0.4392))", "force"),
    ("r2", "-60.08*dx*m1*m2/(r*(2.078*r + 0.02078)*(28.91*r + 0.2891))", "force"),
    ("r2", "-3.1*dy*m2/(r*(1.2*r + 0.012)**2)", "acceleration"),
    # charges are +-1, so 1/(q1 q2) is q1 q2 on every simulated edge
    ("charge", "-22.35*dy/(q1*q2*r*(-8.617*r - 0.08617)*(-0.2799*r - 0.002799))", "force"),
])
def test_exact_laws_in_other_forms_are_recovered(edges, law, found, target):
    res = compare_force(found, get_law(law), edges, 2, target)
    assert res.symbolic_match and res.recovered, res.to_dict()


@pytest.mark.parametrize("law, found, target, form", [
    ("r2", "-60.08*dx*m1*m2/(r*(2.078*r + 0.02078)*(28.91*r + 0.2891))", "force", "softened"),
    # the eps -> 0 limit, as symbolic regression finds it from a network's messages
    ("r2", "-0.7548*dy*m1*m2/r**3 + 0.02931", "force", "unsoftened"),
    ("r2", "0.001822*m2*(-5.672*dx + 8.018*dy)/r**3 + 0.03512", "acceleration", "unsoftened"),
    ("r1", "-2.1*dx*m2/r**2", "acceleration", "unsoftened"),
    # the spring's softening is resolved: r - 0.99, not r - 1
    ("spring", "0.9998*(-71.5 + 70.78/r)*(0.01106*dx - 0.01711*dy) + 0.0111", "force",
     "softened"),
])
def test_the_form_matched_is_reported(edges, law, found, target, form):
    res, got = judge_force(found, get_law(law), edges, 2, target)
    assert res.recovered and got == form, res.to_dict()


def test_a_spring_without_its_softening_is_the_unsoftened_law(edges):
    res, got = judge_force("-2*(r - 1)*dx/r", get_law("spring"), edges, 2)
    assert res.recovered and got == "unsoftened"


@pytest.mark.parametrize("law, found", [
    ("r2", "-0.7548*dy*m1*m2/r**3 + 0.02931*m2/r**3"),  # a spurious m2/r**3 term
    ("r1", "-dx*m1*m2/(r*(r + 0.01)**2)"),  # the r2 law
    ("r1", "-dx*m1*m2/r**3"),  # the unsoftened r2 law
    ("r2", "-dx*m1/(r*(r + 0.01)**2)"),  # m2 missing
])
def test_wrong_laws_are_not_recovered(edges, law, found):
    res, form = judge_force(found, get_law(law), edges, 2)
    assert not res.recovered and form == "none"
    assert not compare_force(found, get_law(law), edges, 2).recovered
