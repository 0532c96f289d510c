"""Selection rules on hand-made fronts (no engine)."""

from __future__ import annotations

import math

import pytest

from physdistill.errors import PhysDistillError
from physdistill.symbolic import Expression, ParetoFront, select
from physdistill.symbolic.front import build_front
from physdistill.symbolic.selection import scores, select_index


def _front(pairs, variance=1.0, **kw):
    return build_front([(Expression(t, ["a", "b"]), loss) for t, loss in pairs], variance, **kw)


# a network-labelled front: the true law (complexity 7) then an over-fit tail
NOISY = [("1.563*b - 0.077", 0.891), ("0.9989*a*b + 0.0019", 1.54e-4),
         ("0.5706*a*(1.748*b + 0.0076) - 0.0017", 1.50e-4),
         ("1.003*(0.186*a + 0.0022)*(0.023*a + 5.315*b) - 0.0103", 1.44e-4),
         ("0.515*a*(1.948*b - (0.0081*b - 0.0086)/(-1.006*a - 2.04*b**2 + 6.1*b)) - 0.0058",
          8.35e-5),
         ("0.5156*a + 0.1464*b + 1.005*(-0.0094*a - 7.6e-5*b)*(-69.79*b + (3.126 - 2.07*b)*"
          "(13.23*a + (-9.15*a - 0.42*b)/(2.606 - 0.576*a))) - 0.236", 6.98e-5)]

# exact data: the law hits round-off, tails only shave the round-off
EXACT = [("3.1*b - 2", 0.3), ("a*b", 3e-31), ("a*b + 1e-9*a", 1e-33)]


def test_default_picks_the_law_not_the_tail():
    f = _front(NOISY)
    assert str(f.expression) == "0.9989*a*b + 0.0019"
    f = _front(EXACT)
    assert str(f.expression) == "a*b"
    assert "loss <= 10 x lowest" in f.rule


def test_other_rules_and_exact_complexity():
    f = _front(NOISY)
    assert f.choose("accuracy").chosen_index == len(f) - 1
    assert f.choose("score").chosen.complexity == 7
    assert f.choose("simplest", factor=1.5).chosen.loss == pytest.approx(8.35e-5)
    assert f.choose("simplest").chosen.complexity == 7
    assert f.choose("best", factor=1.5).chosen.complexity > 7  # PySR's factor takes the tail
    assert select(f, complexity=11).complexity == 11
    assert f.choose(complexity=11).rule == "complexity == 11"
    with pytest.raises(PhysDistillError, match=r"complexities \[5, 7, 11"):
        f.choose(complexity=8)
    with pytest.raises(PhysDistillError, match="Did you mean 'accuracy'"):
        f.choose("acuracy")


def test_front_keeps_only_non_dominated_candidates():
    f = _front([("a", 0.5), ("a + b", 0.6), ("a*b", 0.1), ("b*2.0", 0.4), ("a/b", math.inf)])
    assert [(c.complexity, c.loss) for c in f] == [(1, 0.5), (3, 0.1)]


def test_scores_follow_pysr():
    s = scores([1, 3, 7], [0.5, 0.1, 0.1])
    assert s[0] == 0  # same complexity as the constant model
    assert s[1] == pytest.approx(math.log(5) / 2)
    assert s[2] == 0
    assert select_index([3], [1e-3], 1.0) == 0


def test_front_round_trips_through_json():
    f = _front(NOISY, backend="operon", meta={"n_samples": 10})
    back = ParetoFront.from_dict(f.to_dict())
    assert back == f and back.meta == {"n_samples": 10}
    with pytest.raises(PhysDistillError, match="corrupt"):
        ParetoFront.from_dict({**f.to_dict(), "chosen_index": 99})
