"""Force laws: the pair force equals minus the gradient of the potential (finite differences),
the sympy form equals the numeric one, and bad input is refused clearly."""

import pytest
import sympy as sp
import torch

from physdistill.errors import PhysDistillError
from physdistill.nbody.laws import LAWS, get_law
from physdistill.nbody.simulate import accelerations, energy

CUSTOM = "m1*m2*exp(-r)/r"


def _laws():
    return [get_law(name) for name in LAWS] + [get_law(potential=CUSTOM)]


def _state(law, seed=0, n=4, dim=2):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(8, n, dim, generator=g, dtype=torch.float64) * 1.5
    vel = torch.randn(8, n, dim, generator=g, dtype=torch.float64)
    mass = torch.randn(8, n, generator=g, dtype=torch.float64).exp()
    charge = torch.sign(torch.randn(8, n, generator=g, dtype=torch.float64))
    return pos, vel, mass, charge


@pytest.mark.parametrize("law", _laws(), ids=lambda law: law.name)
@pytest.mark.parametrize("dim", [2, 3])
def test_force_is_minus_gradient_of_potential(law, dim):
    """Central differences of the total potential (h = 1e-6, error O(h^2) ~ 1e-12 relative)."""
    pos, vel, mass, charge = _state(law, dim=dim)
    if law.name == "discontinuous":  # keep pairs away from the jump at r' = 2
        pos = pos * 3.0
    zero_v = torch.zeros_like(vel)
    acc = accelerations(law, pos, zero_v, mass, charge)
    force = acc * mass.unsqueeze(-1)
    h = 1e-6
    fd = torch.zeros_like(pos)
    for i in range(pos.shape[1]):
        for k in range(dim):
            plus, minus = pos.clone(), pos.clone()
            plus[:, i, k] += h
            minus[:, i, k] -= h
            e_plus = energy(law, plus, zero_v, mass, charge)[0]
            e_minus = energy(law, minus, zero_v, mass, charge)[0]
            fd[:, i, k] = -(e_plus - e_minus) / (2 * h)
    scale = force.abs().amax() + 1e-12
    assert ((force - fd).abs().amax() / scale) < 1e-6


@pytest.mark.parametrize("law", _laws(), ids=lambda law: law.name)
def test_sympy_pair_force_matches_simulator(law):
    """The exposed sympy pair force, summed over senders, gives the simulator's force."""
    pos, vel, mass, charge = _state(law, seed=1, n=3, dim=3)
    fx = law.pair_force(3)
    syms = sp.symbols("dx dy dz r m1 m2 q1 q2")
    f = sp.lambdify(syms, fx, modules="numpy")
    ours = accelerations(law, pos, torch.zeros_like(vel), mass, charge) * mass.unsqueeze(-1)
    total = torch.zeros_like(pos)
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            d = (pos[:, i] - pos[:, j]).numpy()
            r = (d**2).sum(-1) ** 0.5
            comps = f(d[:, 0], d[:, 1], d[:, 2], r, mass[:, i].numpy(), mass[:, j].numpy(),
                      charge[:, i].numpy(), charge[:, j].numpy())
            total[:, i] += torch.stack([torch.as_tensor(c) * torch.ones(8) for c in comps], -1)
    assert torch.allclose(total, ours, rtol=1e-9, atol=1e-9)


def test_builtin_potentials_match_reference_table():
    r, m1, m2, q1, q2 = sp.symbols("r m1 m2 q1 q2")
    assert sp.simplify(get_law("r2").potential + m1 * m2 / r) == 0
    assert sp.simplify(get_law("r1").potential - m1 * m2 * sp.log(r)) == 0
    assert sp.simplify(get_law("spring").potential - (r - 1) ** 2) == 0
    assert sp.simplify(get_law("charge").potential - q1 * q2 / r) == 0
    assert sp.simplify(get_law("superposition").potential - (q1 * q2 - m1 * m2) / r) == 0
    assert {n: get_law(n).dt for n in LAWS} == {
        "spring": 1e-2, "r1": 5e-3, "r2": 1e-3, "charge": 1e-3, "damped": 2e-2,
        "discontinuous": 1e-2, "superposition": 1e-3}
    assert get_law("damped").damping > 0 and get_law("r2").eps == 0.01
    # r2 pair force of the reference: -m1 m2 (x1-x2) / (r r'^2)
    dx, rr = sp.symbols("dx r")
    expected = -m1 * m2 * dx / (rr * (rr + sp.Float(0.01)) ** 2)
    assert sp.simplify(get_law("r2").pair_force(2)[0] - expected) == 0


def test_unknown_law_names_the_problem_and_suggests():
    with pytest.raises(PhysDistillError, match="unknown force law 'r3'.*Did you mean"):
        get_law("r3")


@pytest.mark.parametrize("bad, fragment", [
    ("__import__('os').system('touch /tmp/pwned')", "not allowed"),
    ("m1*m2*foo(r)", "foo"),
    ("m1*m2/x", "x"),
    ("m1*(", "not a formula"),
    ("r.__class__", "not allowed"),
    ("m1*m2", "does not depend on r"),
    ("", "formula"),
    ("1/0", "is not finite"),  # issue 20: it was refused as "does not depend on r"
    ("m1*m2/(r - r)", "is not finite"),
])
def test_bad_potentials_are_refused(bad, fragment, tmp_path):
    with pytest.raises(PhysDistillError, match=fragment):
        get_law(potential=bad)


def test_user_law_charges_follow_the_potential():
    assert get_law(potential="q1*q2*exp(-r)/r").charged
    assert not get_law(potential=CUSTOM).charged
