"""regress(): recovery of known laws with the real pyoperon engine, subsampling, weights and
input checks."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic import SRBackend, compare, regress

x0, x1, x2 = sympy.symbols("x0 x1 x2")

CASES = [
    pytest.param(lambda X: X[:, 0] * X[:, 1] / X[:, 2] ** 2, x0 * x1 / x2**2,
                 ("+", "-", "*", "/"), id="x0*x1/x2^2"),
    pytest.param(lambda X: 2.5 * np.sin(X[:, 0]) + X[:, 1] ** 2,
                 2.5 * sympy.sin(x0) + x1**2, ("+", "-", "*", "/", "sin", "square"),
                 id="2.5*sin(x0)+x1^2"),
    pytest.param(lambda X: np.exp(-0.5 * X[:, 0]) * np.sin(2.0 * X[:, 1]),
                 sympy.exp(-0.5 * x0) * sympy.sin(2 * x1), ("+", "-", "*", "/", "sin", "exp"),
                 id="exp(-0.5*x0)*sin(2*x1)"),
]


@pytest.mark.parametrize("f, truth, operators", CASES)
def test_recovers_known_laws_on_clean_data(f, truth, operators, X3, fast_config):
    front = regress(X3, f(X3), operators=operators, config=fast_config, seed=1)
    found = front.expression
    # the exact form, once constants are rounded to 4 significant digits
    assert sympy.simplify(found.rounded(4) - truth) == 0, front.table()
    # and it predicts held-out points
    X_test = np.random.default_rng(9).uniform(0.5, 2.0, (500, 3))
    y_test = f(X_test)
    resid = found.evaluate(X_test) - y_test
    assert 1 - resid.var() / y_test.var() > 0.9999
    # the default rule picked the exact law, not an over-fit tail
    assert front.chosen.complexity == min(c.complexity for c in front.candidates
                                          if c.loss <= 1e-10 * y_test.var())
    assert "best" in front.rule


def test_recovered_front_feeds_compare(X3, fast_config):
    y = X3[:, 0] * X3[:, 1] / X3[:, 2] ** 2
    front = regress(X3, y, config=fast_config, seed=1)
    result = compare(front.expression, "k*x0*x1/x2**2", {f"x{i}": X3[:, i] for i in range(3)})
    assert result.recovered and result.coefficients["k"] == pytest.approx(1.0, rel=1e-6)


def test_large_data_is_subsampled_to_the_cap(tiny_config):
    X = np.random.default_rng(0).uniform(size=(5000, 2))
    front = regress(X, X[:, 0] + X[:, 1], config=tiny_config, max_samples=400)
    assert front.meta["n_samples"] == 400 and front.meta["n_total"] == 5000


def test_sample_weights_select_the_weighted_regime(fast_config):
    rng = np.random.default_rng(3)
    X = rng.uniform(0.5, 2.0, (400, 1))
    regime_a = np.arange(400) < 200
    y = np.where(regime_a, 3.0 * X[:, 0], 5.0 - X[:, 0] ** 2)
    w = regime_a.astype(float)
    front = regress(X, y, config=fast_config, sample_weight=w, seed=2)
    assert front.meta["weighted"] is True
    assert sympy.simplify(front.expression.rounded(4) - 3 * x0) == 0, front.table()


def test_trim_leaves_the_extreme_targets_out_of_the_search(fast_config):
    """A 'network' that is right except on its largest outputs (5 % of the rows, pushed far
    out): trimmed, the search sees only the law."""
    rng = np.random.default_rng(4)
    X = rng.uniform(0.5, 2.0, (600, 2))
    y = X[:, 0] * X[:, 1]
    wild = np.argsort(y)[-30:]
    y[wild] *= 6.0
    front = regress(X, y, config=fast_config, trim=0.1, seed=1)
    assert front.meta["n_trimmed"] == 60 and front.meta["n_total"] == 600
    assert sympy.simplify(front.expression.rounded(4) - x0 * x1) == 0, front.table()


class _OneFormPerSeed(SRBackend):
    """A search that settles in a different local optimum for each seed (as genetic
    programming does): seed 0 returns ``x0``, any other seed also ``x0*x1``."""

    name = "one-form-per-seed"
    operator_map = {"+": "+", "-": "-", "*": "*", "/": "/"}

    def __init__(self):
        self.seeds = []

    def _search(self, X, y, names, config, sample_weight):
        self.seeds.append(config.seed)
        return ["x0"] if config.seed == 0 else ["x0", "x0*x1"]


@pytest.mark.parametrize("seed, seeds", [(0, [0, 1, 2]), (None, [None, None, None])])
def test_restarts_pool_the_fronts_of_independent_searches(seed, seeds):
    X = np.random.default_rng(5).uniform(0.5, 2.0, (200, 2))
    y = X[:, 0] * X[:, 1]
    one = regress(X, y, backend=_OneFormPerSeed(), seed=0)
    assert str(one.expression) == "x0" and one.meta["restarts"] == 1
    engine = _OneFormPerSeed()
    pooled = regress(X, y, backend=engine, seed=seed, restarts=3)
    assert engine.seeds == seeds
    assert str(pooled.expression) == "x0*x1" and pooled.meta["restarts"] == 3
    # each distinct candidate is cleaned and kept once
    assert [str(c.expression) for c in pooled.candidates] == ["x0", "x0*x1"]


class _FormsBySeed(SRBackend):
    """Seeds 0 and 2 find ``x0*x1``, seed 1 only ``x0``."""

    name = "forms-by-seed"
    operator_map = {"+": "+", "-": "-", "*": "*", "/": "/"}

    def __init__(self):
        self.seeds = []

    def _search(self, X, y, names, config, sample_weight):
        self.seeds.append(config.seed)
        return ["x0"] if config.seed == 1 else ["x0", "x0*x1"]


def test_restarts_end_once_two_chose_the_same_function():
    """``stop_agree=2``: seeds 0 and 2 agree on ``x0*x1`` (seed 1 disagrees), so the fourth
    search never runs; without it all four run."""
    X = np.random.default_rng(5).uniform(0.5, 2.0, (200, 2))
    y = X[:, 0] * X[:, 1] + 0.01 * np.random.default_rng(6).normal(size=200)
    engine = _FormsBySeed()
    front = regress(X, y, backend=engine, seed=0, restarts=4, stop_agree=2)
    assert engine.seeds == [0, 1, 2]
    assert front.meta["searches"] == 3 and front.meta["agreed"] is True
    assert str(front.expression) == "x0*x1"
    engine = _FormsBySeed()
    regress(X, y, backend=engine, seed=0, restarts=4)
    assert engine.seeds == [0, 1, 2, 3]


@pytest.mark.parametrize("kwargs, match", [
    (dict(X=np.ones((5, 2)), y=np.ones(5), stop_agree=1), "stop_agree must be an integer >= 2"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), restarts=0), "restarts must be an integer >= 1"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), trim=0.5), r"trim must be a fraction in \[0, 0.5\)"),
    (dict(X=[[1.0, np.nan]] * 5, y=[1.0] * 5), "non-finite values"),
    (dict(X=np.ones((5, 2)), y=np.ones(4)), r"shape \(5,\)"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), names=["a"]), "2 unique names"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), names=["a", "sin"]), "reserved"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), sample_weight=-np.ones(5)), ">= 0"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), sample_weight=np.ones(3)), "one per row"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), seeed=1), "Did you mean 'seed'"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), operators=("+", "*", "tan")), "unknown operator"),
    (dict(X=np.ones((2, 2)), y=np.ones(2)), "at least 3"),
    (dict(X=np.ones((5, 2)), y=np.ones(5), rule="bestest"), "Did you mean 'best'"),
])
def test_bad_input_is_refused_before_searching(kwargs, match, tiny_config):
    X = kwargs.pop("X")
    y = kwargs.pop("y")
    with pytest.raises(PhysDistillError, match=match):
        regress(X, y, config=tiny_config, **kwargs)


class _WithOffset(SRBackend):
    """A search whose front only holds the law plus a small spurious constant."""

    name = "with-offset"
    operator_map = {"+": "+", "-": "-", "*": "*", "/": "/"}

    def _search(self, X, y, names, config, sample_weight):
        return ["x0", "1.1*x0*x1 + 0.05"]


def test_offset_variants_put_the_form_without_its_constant_on_the_front():
    """``offset_variants``: ``x0*x1`` (the constant dropped, the rest refitted) joins the
    front and is chosen, since the constant bought nothing; without it the front lacks it."""
    X = np.random.default_rng(5).uniform(0.5, 2.0, (300, 2))
    y = 1.3 * X[:, 0] * X[:, 1] + 0.01 * np.random.default_rng(7).normal(size=300)
    plain = regress(X, y, backend=_WithOffset(), seed=0)
    assert all(c.expression.sympy().is_Add for c in plain.candidates if c.complexity > 1)
    front = regress(X, y, backend=_WithOffset(), seed=0, offset_variants=True)
    assert sympy.simplify(front.expression.rounded(2) - 1.3 * x0 * x1) == 0, front.table()
