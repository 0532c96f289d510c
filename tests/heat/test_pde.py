"""PDE discovery from a trained network: sparse regression (pysindy STLSQ), symbolic
regression, and the identifiability warning for a single-mode IC."""

from __future__ import annotations

import numpy as np
import pytest

from physdistill.heat.library import Constant, Derivatives, Powers, default_library
from physdistill.heat.pde import (
    DEFAULT_SR,
    IdentifiabilityWarning,
    PDEConfig,
    discover_pde,
    discover_pde_sr,
    network_fields,
)

FAST = PDEConfig(n_points=2000, sr=DEFAULT_SR.replace(max_evaluations=50_000, time_limit_s=20))


def test_library_composes_like_pysindy():
    lib = Constant() + Derivatives(0, 2) + Powers("u", 3) + Derivatives(0) * Derivatives(1, 2)
    assert lib.names() == ["1", "u", "u_xx", "u^2", "u^3", "u*u_x", "u*u_xx"]
    f = {k: np.array([2.0, 3.0]) for k in ("u", "u_x", "u_xx")}
    theta = lib.transform(f)
    assert theta.shape == (2, 7) and theta[0].tolist() == [1, 2, 2, 4, 8, 4, 4]
    assert (Derivatives(0) + Derivatives(0, 1)).names() == ["u", "u_x"]
    assert default_library().max_order == 3


def test_two_modes_recover_alpha(multi):
    problem, result = multi
    fields = network_fields(result.model, problem, FAST.n_points, 0, 3)
    sparse = discover_pde(result.model, problem, config=FAST, fields=fields)
    assert sparse.identifiable and sparse.correct_terms
    assert sparse.rel_error < 0.02  # 700 training steps; the default run: < 0.1 %
    sr = discover_pde_sr(result.model, problem, config=FAST, fields=fields)
    assert sr.identifiable and sr.correct_terms and sr.rel_error < 0.02


def test_single_mode_is_flagged_unidentifiable(single):
    problem, result = single
    with pytest.warns(IdentifiabilityWarning, match="cannot identify the PDE") as caught:
        res = discover_pde(result.model, problem, config=FAST)
    assert not res.identifiable and res.alpha is None and res.expression is None
    relation = next(d for d in res.dependencies if d.startswith("u_xx = ") and d.endswith("*u"))
    assert float(relation[7:-2]) == pytest.approx(-np.pi ** 2, rel=1e-3)
    message = str(caught[0].message)
    assert "single sine mode" in message and "sin(3*pi*x)" in message
    assert res.alpha_if_heat == pytest.approx(0.4, rel=1e-3)
