import numpy as np
import pytest

from physdistill.pde.equation import Equation
from physdistill.pde.library import canonical_terms, default_library, pdefind_library
from physdistill.pde.sparse import compare_terms, ensemble_stlsq, identifiability


def _burgers_fields(n=3000, seed=0):
    """Fields of a travelling-wave-like sample with u_t = -u u_x + 0.1 u_xx exactly."""
    rng = np.random.default_rng(seed)
    f = {k: rng.standard_normal(n) for k in ("u", "u_x", "u_xx", "u_xxx")}
    f["u_t"] = -f["u"] * f["u_x"] + 0.1 * f["u_xx"]
    return f


def test_ensemble_stlsq_recovers_support_and_coefficients():
    lib = pdefind_library()
    f = _burgers_fields()
    f["u_t"] = f["u_t"] + 0.01 * np.random.default_rng(1).standard_normal(len(f["u"]))
    fit = ensemble_stlsq(lib.transform(f), f["u_t"], lib.names(), n_models=20)
    assert set(fit.terms) == {"u*u_x", "u_xx"}
    assert fit.terms["u*u_x"] == pytest.approx(-1.0, rel=1e-2)
    assert fit.terms["u_xx"] == pytest.approx(0.1, rel=5e-2)
    assert 0 < fit.std["u_xx"] < 0.01 and fit.inclusion["u_xx"] == 1.0
    assert fit.inclusion["u^2*u_xxx"] == 0.0


def test_identifiability_flags_a_single_mode():
    x = np.random.default_rng(0).uniform(0, 1, 500)
    t = np.random.default_rng(1).uniform(0, 1, 500)
    u = np.exp(-0.4 * np.pi**2 * t) * np.sin(np.pi * x)
    f = {"u": u, "u_x": np.pi * np.exp(-0.4 * np.pi**2 * t) * np.cos(np.pi * x),
         "u_xx": -np.pi**2 * u, "u_xxx": -np.pi**3 * np.exp(-0.4 * np.pi**2 * t)
         * np.cos(np.pi * x)}
    lib = default_library()
    ok, deps, msg = identifiability(lib.transform(f), lib.names(), {"u_xx": 0.4})
    assert not ok and "u_xx = -9.8696*u" in deps[0]["relation"]
    assert "cannot identify the PDE" in msg and "richer dynamics" in msg


def test_canonical_terms_and_comparison():
    truth = canonical_terms(Equation("u_t = -6*u*u_x - u_xxx").expr)
    assert truth == {"u*u_x": -6.0, "u_xxx": -1.0}
    c = compare_terms({"u*u_x": -6.06, "u_xxx": -1.0, "u": 0.01}, truth)
    assert not c["support_correct"] and c["spurious"] == ["u"] and c["max_rel_error"] is None
    c = compare_terms({"u*u_x": -6.06, "u_xxx": -1.0}, truth)
    assert c["support_correct"] and c["max_rel_error"] == pytest.approx(0.01)
    assert set(truth) <= set(pdefind_library().names())
