"""Discovery mode: the sparsity-regularised PINN keeps exactly u_xx for a two-mode IC (run
through the pipeline, as ``physdistill heat --discover`` does)."""

from __future__ import annotations

import json

import pytest

from physdistill.errors import PhysDistillError
from physdistill.heat.discover import DiscoveryConfig
from physdistill.heat.pipeline import HeatRunConfig, run_heat
from physdistill.heat.problem import HeatProblem

from .conftest import MULTI


def test_discovery_keeps_the_right_terms(tmp_path):
    cfg = HeatRunConfig(problem=HeatProblem(ic=MULTI), mode="discover", discovery=DiscoveryConfig(
        n_observations=500, n_collocation=500, width=24, fit_steps=1000, steps=500,
        refine_steps=200, device="cpu", progress=False))
    m = run_heat(cfg, tmp_path / "run")
    d = m["discovery"]
    assert d["correct_terms"], d["expression"]
    assert d["rel_error"] < 0.01
    assert "u_xx" not in d["removed"] and len(d["removed"]) == 8
    assert (tmp_path / "run" / "coefficients.png").is_file()
    again = run_heat(cfg, tmp_path / "run", resume=True)  # reloads the saved network
    assert again["discovery"] == d
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["mode"] == "discover"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"noise": 1.5}, "noise must be >= 0 and < 1"),
    ({"threshold": 0}, "threshold must be > 0"),
    ({"n_observations": 5}, "n_observations must be an integer >= 10"),
])
def test_discovery_config_errors(kwargs, fragment):
    with pytest.raises(PhysDistillError, match=fragment):
        DiscoveryConfig(**kwargs)
