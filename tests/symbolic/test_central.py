"""The central-force structure step: alignment, centrality score, cut-offs, scalar search."""

from __future__ import annotations

import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.symbolic import SRBackend, SRConfig, compare, regress
from physdistill.symbolic.central import (
    CENTRAL_MIN,
    CentralConfig,
    align,
    find_step,
    fit_central,
)
from physdistill.symbolic.pooled import antiderivative

MAP = np.array([[0.3, -1.2], [0.8, 0.5]])
OFFSET = np.array([0.05, -0.02])


def edges(n: int = 3000, dim: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = 1.4 * rng.normal(size=(n, dim))
    return {"d": d, "x": np.linalg.norm(d, axis=1), "a": np.exp(rng.normal(size=n)),
            "b": np.exp(rng.normal(size=n))}


def test_align_finds_the_map_of_an_exact_central_interaction():
    e = edges()
    s = 1.7 * e["a"] * e["b"] / e["x"] ** 3
    m = (s[:, None] * e["d"]) @ MAP.T + OFFSET
    al = align(m, e["d"])
    assert al.score > 1 - 1e-10 and al.score_all > 1 - 1e-10
    v = al.vectors(m)
    across = v - (np.sum(v * e["d"], 1) / np.sum(e["d"] ** 2, 1))[:, None] * e["d"]
    assert np.abs(across).max() < 1e-8 * np.abs(v).max()
    ratio = al.scalar(m, e["d"]) / s  # s up to one constant factor
    assert np.allclose(ratio, ratio[0], rtol=1e-8)


def test_align_in_3d_and_with_more_channels_than_dimensions():
    e = edges(dim=3)
    s = (e["x"] - 1) / e["x"]
    rng = np.random.default_rng(1)
    m = (s[:, None] * e["d"]) @ rng.normal(size=(4, 3)).T + rng.normal(size=4)
    assert align(m, e["d"]).score > 1 - 1e-10


def test_a_non_central_interaction_is_reported_not_central():
    """A drag along the relative velocity (a component across the edge) or a curl with its own
    radial dependence is no fixed linear map of a force along the edge: the step says so and
    fits nothing."""
    e = edges()
    d, x = e["d"], e["x"]
    dv = np.random.default_rng(3).normal(size=d.shape)
    curl = np.column_stack([-d[:, 1], d[:, 0]])
    assert align((d / x[:, None] + 0.5 * (x[:, None] - 1) * curl / x[:, None]) @ MAP.T,
                 d).score < CENTRAL_MIN
    f = (d / x[:, None] + 0.5 * dv) * e["a"][:, None]
    al = align(f @ MAP.T, d)
    assert al.score < CENTRAL_MIN
    fit = fit_central(f @ MAP.T, d, {"x": x, "a": e["a"]}, direction_names=["dx", "dy"])
    assert not fit.central and fit.fronts is None and fit.scalar_front is None
    assert fit.to_dict()["central"] is False


def test_noise_keeps_a_central_interaction_central():
    e = edges()
    s = (e["x"] - 1) / e["x"]
    m = (s[:, None] * e["d"]) @ MAP.T
    m = m + 0.01 * m.std(0) * np.random.default_rng(2).normal(size=m.shape)
    assert align(m, e["d"]).score > 0.99


def test_find_step_locates_a_cut_off_at_the_simplest_threshold_in_the_gap():
    e = edges()
    s = np.where(e["x"] + 0.01 < 2, 0.0, (e["x"] - 0.99) / e["x"])
    step = find_step(s, {"x": e["x"], "a": e["a"]})
    assert step is not None and step.variable == "x" and step.below
    assert step.threshold == pytest.approx(1.99, abs=1e-12)
    assert find_step((e["x"] - 0.99) / e["x"], {"x": e["x"]}) is None  # a smooth zero crossing


def test_fit_central_regresses_the_scalar_and_writes_each_channel(fast_config):
    e = edges(n=1500)
    d, x = e["d"], e["x"]
    s = 1.7 * e["a"] * e["b"] / x**2
    m = (s[:, None] * d) @ MAP.T + OFFSET
    fit = fit_central(m, d, {"x": x, "a": e["a"], "b": e["b"]}, direction_names=["dx", "dy"],
                      sr=fast_config.replace(restarts=3, stop_loss=1e-20))
    assert fit.central and fit.step is None
    assert fit.scalar_front.meta["searches"] == 1  # exact on the first search: no restarts
    inputs = {"dx": d[:, 0], "dy": d[:, 1], "x": x, "a": e["a"], "b": e["b"]}
    for j, front in enumerate(fit.fronts):
        ref = "c0*a*b*dx/x**2 + c1*a*b*dy/x**2 + c2"
        cmp = compare(front.expression, ref, inputs, coefficients=["c0", "c1", "c2"],
                      derived={"x": "sqrt(dx**2 + dy**2)"})
        assert cmp.recovered, (j, front.expression.text())


def test_regress_stop_loss_ends_the_restarts_and_is_validated(fast_config):
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, (300, 2))
    y = 1.7 * X[:, 0] * X[:, 1]
    front = regress(X, y, ["a", "b"], config=fast_config.replace(restarts=3, stop_loss=1e-20))
    assert front.meta["searches"] == 1 and front.meta["restarts"] == 3
    with pytest.raises(PhysDistillError, match="stop_loss"):
        SRConfig(stop_loss=2.0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(PhysDistillError, match="same"):
        align(np.zeros((10, 2)), np.zeros((11, 2)))
    with pytest.raises(PhysDistillError, match="at least dim"):
        align(np.zeros((100, 1)), np.ones((100, 2)))
    with pytest.raises(PhysDistillError, match="trim"):
        CentralConfig(trim=0.7)


def test_separable_and_sign_factors_are_found_without_a_law():
    from physdistill.symbolic.scalar_shape import separable_factor, sign_factors

    e = edges()
    rng = np.random.default_rng(4)
    q1, q2 = np.sign(rng.normal(size=len(e["x"]))), np.sign(rng.normal(size=len(e["x"])))
    h = 1 / (e["x"] * (e["x"] + 0.01) ** 2)
    sc = {"x": e["x"], "a": e["a"], "b": e["b"], "q1": q1, "q2": q2}
    assert separable_factor(e["a"] * e["b"] * h, sc) == ("x", {"a": 1, "b": 1})
    assert separable_factor(e["a"] * h + e["b"], sc) is None  # not a product
    assert set(sign_factors(q1 * q2 * h, sc)) == {"q1", "q2"}
    assert sign_factors(h, sc) == ()


def test_the_magnitude_is_regressed_when_the_norm_is_named():
    """``norm="x"`` regresses ``f = s |d|``: the softened inverse square ``a b / (x + eps)**2``
    is found as that short magnitude, and each channel's equation is ``f (A d)_j / x + c_j``."""
    e = edges()
    f = 1.7 * e["a"] * e["b"] / (e["x"] + 0.01) ** 2
    m = (f[:, None] * e["d"] / e["x"][:, None]) @ MAP.T + OFFSET
    sr = SRConfig(operators=("+", "-", "*", "/", "square"), time_limit_s=20,
                  max_evaluations=200_000, restarts=2, stop_loss=1e-20, seed=0)
    fit = fit_central(m, e["d"], {k: e[k] for k in ("x", "a", "b")}, direction_names=["u", "v"],
                      norm="x", sr=sr)
    assert fit.central and fit.meta["regressed"] == "s*x"
    env = {"u": e["d"][:, 0], "v": e["d"][:, 1], **{k: e[k] for k in ("x", "a", "b")}}
    for j, front in enumerate(fit.fronts):
        pred = front.expression.evaluate(env)
        assert np.max(np.abs(pred - m[:, j])) < 1e-6 * np.max(np.abs(m[:, j]))


def test_the_norm_must_be_a_scalar_equal_to_the_length_of_the_directions():
    e = edges(n=400)
    m = (e["d"] / e["x"][:, None]) @ MAP.T
    with pytest.raises(PhysDistillError, match="not one of the scalars"):
        fit_central(m, e["d"], {"x": e["x"]}, direction_names=["u", "v"], norm="r")
    with pytest.raises(PhysDistillError, match="not the length"):
        fit_central(m, e["d"], {"x": e["x"], "a": e["a"]}, direction_names=["u", "v"], norm="a")


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_the_reciprocal_is_searched_only_on_near_exact_scalars(fast_config, noise):
    """Only a scalar fitted to near round-off (but not to it) gets the reciprocal's search; at
    1 % noise (or on learned messages) it would resolve nothing."""
    e = edges(n=1500)
    d, x = e["d"], e["x"]
    s = e["a"] / (x + 0.05) ** 2 * (1 + noise * np.random.default_rng(1).normal(size=x.size))
    m = (s[:, None] * d) @ MAP.T + OFFSET
    fit = fit_central(m, d, {"x": x, "a": e["a"]}, direction_names=["dx", "dy"],
                      sr=fast_config.replace(restarts=1, stop_loss=1e-20))
    best = fit.scalar_front.candidates[-1].loss / fit.scalar_front.target_variance
    searched = "reciprocal_searches" in fit.scalar_front.meta
    assert searched == (1e-20 < best <= CentralConfig().reciprocal_below), (best, noise)
    assert not (searched and noise > 0), best
    with pytest.raises(PhysDistillError, match="reciprocal_below"):
        CentralConfig(reciprocal_below=2.0)


def test_antiderivative_integrates_scattered_samples_down_from_the_largest():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0.5, 3.0, 4000), [1.0, 1.0]])  # a repeated x too
    P = antiderivative(x, 2 * x)
    np.testing.assert_allclose(P, x.max() ** 2 - x ** 2, atol=1e-5)
    assert P[np.argmax(x)] == 0.0 and P[-1] == P[-2]


class _Scripted(SRBackend):
    """A search that always returns the same two candidates (whatever its target): ``x`` and
    the shape of a softened Yukawa *potential*, never the force itself."""

    name = "scripted-potential"
    operator_map = {o: o for o in ("+", "-", "*", "/", "exp", "square")}

    def _search(self, X, y, names, config, sample_weight):
        return ["x", "0.5*exp(-x)/(x + 0.02)"]


@pytest.mark.parametrize("on", [True, False])
def test_a_scalar_of_one_variable_is_also_searched_as_its_antiderivative(on):
    """The softened Yukawa magnitude ``exp(-x')(1 + x')/x'**2`` (``x' = x + 0.01``) is the
    derivative of the shorter ``exp(-x')/x'``: a search that finds only potentials recovers the
    force through the antiderivative, its constants refitted on the force; without the step it
    does not."""
    e = edges(n=2000)
    d, x = e["d"], e["x"]
    xp = x + 0.01
    f = np.exp(-xp) * (1 + xp) / xp**2
    m = (f[:, None] * d / x[:, None]) @ MAP.T + OFFSET
    sr = SRConfig(operators=("+", "-", "*", "/", "exp", "square"), restarts=1,
                  stop_loss=1e-20, seed=0)
    fit = fit_central(m, d, {"x": x}, direction_names=["u", "v"], norm="x", sr=sr,
                      config=CentralConfig(antiderivative=on), backend=_Scripted())
    best = min(c.loss for c in fit.scalar_front.candidates) / fit.scalar_front.target_variance
    assert ("antiderivative_searches" in fit.scalar_front.meta) == on
    if on:
        assert best < 1e-12, fit.scalar_front.table()
        env = {"u": d[:, 0], "v": d[:, 1], "x": x}
        for j, front in enumerate(fit.fronts):
            pred = front.expression.evaluate(env)
            assert np.max(np.abs(pred - m[:, j])) < 1e-6 * np.max(np.abs(m[:, j]))
    else:
        assert best > 1e-6, fit.scalar_front.table()
