import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.pde.data import MeasuredData
from physdistill.pde.discover import DiscoveryConfig, discover, pdefind

# the strong form: the fast mode, which alone tells u_xx from u, lives at times shorter than a
# weak-form test function
SMALL = DiscoveryConfig(width=16, depth=3, fit_adam=300, fit_lbfgs=300, physics_steps=0,
                        ensemble=5, degree=1, order=2, n_points=2000, weak=None)


def _heat_points(keep: float, seed: int = 0):
    """Two decaying sine modes (u_t = 0.4 u_xx) on a 33 x 21 grid, a random share kept."""
    x, t = np.linspace(0, 1, 33), np.linspace(0, 0.3, 21)
    X, T = np.meshgrid(x, t, indexing="ij")
    U = np.exp(-0.4 * np.pi**2 * T) * np.sin(np.pi * X) + 0.5 * np.exp(-3.6 * np.pi**2 * T) \
        * np.sin(3 * np.pi * X)
    m = np.random.default_rng(seed).random(U.shape) < keep
    return MeasuredData.from_points(X[m], T[m], U[m], "heat, scattered"), (x, t, U)


def test_discovery_from_scattered_points_with_missing_samples():
    data, _ = _heat_points(0.8)  # a fifth of the grid missing
    assert data.grid is None and len(data) < 33 * 21
    res = discover(data, SMALL, truth={"u_xx": 0.4})
    assert res.identifiable and res.truth["support_correct"]
    assert res.fit.terms["u_xx"] == pytest.approx(0.4, rel=0.05)
    assert 0 < res.fit.std["u_xx"] < 0.02 and res.seconds["fit"] > 0
    with pytest.raises(PhysDistillError, match="needs gridded data"):
        pdefind(data)


def test_discovery_config_is_checked():
    with pytest.raises(PhysDistillError, match="DiscoveryConfig.threshold"):
        DiscoveryConfig(threshold=0)
    with pytest.raises(PhysDistillError, match="DiscoveryConfig.fit_adam"):
        DiscoveryConfig(fit_adam=-1)
