"""The central-force structure step on the n-body laws: exact forces of every built-in law come
out in their softened form; the receiver gauge is reported as a form of its own; near misses
stay misses."""

from __future__ import annotations

import numpy as np
import pytest

from physdistill.nbody.forcefit import edge_variables, pair_forces
from physdistill.nbody.laws import LAWS, get_law
from physdistill.nbody.pipeline import force_operators, judge_force, judge_targets
from physdistill.nbody.simulate import SimConfig, initial_conditions
from physdistill.nbody.structure import CENTRAL_EXTRA_OPERATORS, SCALARS, SR_STOP_LOSS
from physdistill.symbolic import SRConfig
from physdistill.symbolic.central import fit_central

#: a fixed linear map and offset, as a bottleneck network's two channels carry the force
MAP = np.array([[0.3, -1.2], [0.8, 0.5]])
OFFSET = np.array([0.05, -0.02])


def exact_edges(law, systems: int = 150, seed: int = 0) -> dict[str, np.ndarray]:
    """Edge variables of every ordered pair of random systems in the dataset's distribution."""
    ic = initial_conditions(law, SimConfig(n=4, dim=2, sims=systems, seed=seed))
    nodes = np.concatenate([ic["pos"], ic["vel"], ic["charge"][..., None],
                            ic["mass"][..., None]], -1)
    recv, send = np.nonzero(~np.eye(4, dtype=bool))
    return edge_variables(nodes[:, recv].reshape(-1, 6), nodes[:, send].reshape(-1, 6), 2)


def structured(law, v, seed: int = 0, evaluations: int = 300_000):
    m = pair_forces(law, v, 2) @ MAP.T + OFFSET
    ops = force_operators(law, 2) + CENTRAL_EXTRA_OPERATORS
    sr = SRConfig(operators=ops, max_evaluations=evaluations, time_limit_s=60, max_samples=1500,
                  restarts=4, stop_loss=SR_STOP_LOSS, trim=0.1, seed=seed, max_length=30)
    return fit_central(m, np.column_stack([v["dx"], v["dy"]]), {k: v[k] for k in SCALARS},
                       direction_names=["dx", "dy"], sr=sr, factor=50.0)


@pytest.mark.parametrize("name", [
    "spring",
    *[pytest.param(n, marks=pytest.mark.slow) for n in LAWS
      if n not in ("spring", "superposition")],
    # (q1 q2 - m1 m2) h(r) is no product of factors: the full scalar search often ends on an
    # approximation of the softening (benchmarks/sr_recovery.py)
    pytest.param("superposition", marks=[pytest.mark.slow, pytest.mark.xfail(strict=False)]),
    pytest.param("m1*m2*exp(-r)/r", marks=pytest.mark.slow),  # Yukawa: not developed on
])
def test_exact_forces_of_every_law_are_recovered_in_their_softened_form(name):
    law = get_law(potential=name) if "(" in name else get_law(name)
    v = exact_edges(law)
    fit = structured(law, v)
    assert fit.central and fit.score > 1 - 1e-9
    for front in fit.fronts:
        cmp, form = judge_force(front.expression, law, v, 2)
        assert cmp.recovered and form == "softened", (front.expression.text(), cmp.to_dict())


def test_the_cut_off_of_the_discontinuous_law_is_located():
    law = get_law("discontinuous")
    v = exact_edges(law)
    m = pair_forces(law, v, 2) @ MAP.T
    from physdistill.symbolic.central import align, find_step

    al = align(m, np.column_stack([v["dx"], v["dy"]]))
    step = find_step(al.scalar(m, np.column_stack([v["dx"], v["dy"]])),
                     {k: v[k] for k in SCALARS})
    assert step is not None and step.variable == "r" and step.threshold == pytest.approx(1.99)


@pytest.fixture(scope="module")
def edges():
    rng = np.random.default_rng(0)
    n = 2000
    v = {"dx": 1.4 * rng.normal(size=n), "dy": 1.4 * rng.normal(size=n)}
    v["r"] = np.hypot(v["dx"], v["dy"])
    v["m1"], v["m2"] = np.exp(rng.normal(size=n)), np.exp(rng.normal(size=n))
    v["q1"], v["q2"] = np.sign(rng.normal(size=n)), np.sign(rng.normal(size=n))
    return v


SPRING = "(0.3*dx - 0.7*dy)*(1 - 0.99/r)"


@pytest.mark.parametrize("law, found", [
    ("spring", f"(7.641*m1 + 27.22)/m1*{SPRING} + 0.05"),
    ("spring", f"m1**2*{SPRING}"),
    ("r2", "(2.1 + 0.3*m1)*m2*(0.5*dx - dy)/(r*(r + 0.01)**2)"),
])
def test_the_law_times_a_function_of_the_receivers_mass_is_the_receiver_gauge(edges, law,
                                                                             found):
    cmp, form = judge_force(found, get_law(law), edges, 2)
    assert form == "receiver-gauge" and not cmp.recovered, cmp.to_dict()
    assert "receiver gauge" in cmp.symbolic_detail


@pytest.mark.parametrize("law, found", [
    # a spurious term of 1 %, a wrong power of r, and a factor that mixes m1 with r: not the law
    ("spring", f"(1 + 0.01*r)*{SPRING}"),
    ("spring", f"(2 + m1)*(1 + 0.01*r)*{SPRING}"),
    ("r2", "(2.1 + 0.3*m1)*m2*(0.5*dx - dy)/r**2"),
    ("spring", "(71.13 - 68.07/r - 1.491*m1)*(0.0024*dx - 0.0186*dy) + 0.048"),
])
def test_near_misses_are_neither_recovered_nor_a_gauge(edges, law, found):
    cmp, form = judge_force(found, get_law(law), edges, 2)
    assert form == "none" and not cmp.recovered, (form, cmp.to_dict())


@pytest.mark.parametrize("found, near_miss", [
    ("-0.0984*m2*(0.5*dx - 0.25*dy)/r**3 + 0.0016", False),  # the r2 acceleration F / m1
    ("-0.0984*m2*(0.5*dx - 0.25*dy)/r**2 + 0.0016", True),  # a wrong power: in neither
])
def test_a_channel_is_judged_against_the_other_target_when_the_chosen_one_misses(
        edges, found, near_miss):
    """The fits chose "force", but the equation is the acceleration: it is the law (judged as
    the acceleration); a wrong power stays a miss under both targets."""
    law = get_law("r2")
    cmp, form, judged = judge_targets(found, law, edges, 2, target="force")
    if near_miss:
        assert not cmp.recovered and form == "none" and judged == "force"
    else:
        assert cmp.recovered and form == "unsoftened" and judged == "acceleration"
        assert not judge_force(found, law, edges, 2, "force")[0].recovered


def test_a_cut_off_is_compared_with_the_piecewise_law(edges):
    law = get_law("discontinuous")
    step = "(1 + (r - 1.99)/Abs(r - 1.99))/2"
    cmp, form = judge_force(f"-2*(r - 0.99)/r*{step}*(0.3*dx + 0.7*dy) + 0.1", law, edges, 2)
    assert cmp.recovered and form == "softened", cmp.to_dict()
    wrong = "(1 + (r - 1.5)/Abs(r - 1.5))/2"
    cmp, form = judge_force(f"-2*(r - 0.99)/r*{wrong}*(0.3*dx + 0.7*dy)", law, edges, 2)
    assert not cmp.recovered and form == "none"
