r"""Choosing one expression on a Pareto front.

Losses are first normalised and floored,

.. math::
    \ell_i = \max\!\left(\frac{\mathrm{MSE}_i}{\mathrm{Var}(y)},\ \ell_{\min}\right),
    \qquad \ell_{\min} = 10^{-12} \text{ by default},

so that float round-off (float32 engines, float32 networks) cannot make an over-fit tail look
better than an exact law. The *score* of candidate :math:`i` (fronts are sorted by increasing
complexity :math:`c` and decreasing loss) is PySR's

.. math::
    s_i = -\frac{\ln \ell_i - \ln \ell_{i-1}}{c_i - c_{i-1}},

with the first candidate scored against the constant model (:math:`\ell = 1`, :math:`c = 1`).

Rules:

* ``"best"`` (default): among the candidates with :math:`\ell_i \le F \cdot \min_j \ell_j`
  (:math:`F` = ``factor`` = 10), the one with the largest score (ties: the simpler). This is
  PySR's ``"best"`` rule with a floor and a wider factor (PySR uses 1.5). The score picks the
  candidate where the loss dropped most per unit of complexity -- where the structure was
  found -- and the factor keeps away simple fits far from the best accuracy. The factor is
  wide on purpose: on data labelled by a network, long expressions keep fitting the
  network's small errors and push the lowest loss down by 2-3x over the true law (measured
  on a distilled MLP of ``a*b``: true law 1.5e-4, tail 7e-5), which a factor of 1.5 or 2
  would exclude; those tails improve the loss by small factors per added node (low
  scores), and on exact data they all sit at the floor (score 0).
* ``"simplest"``: the simplest candidate with :math:`\ell_i \le F \cdot \min_j \ell_j`.
* ``"score"``: the largest score on the whole front.
* ``"accuracy"``: the lowest loss.
* an exact ``complexity=k``: the candidate of that complexity (an error lists the ones
  available).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from physdistill.errors import PhysDistillError
from physdistill.symbolic.config import did_you_mean

RULES = ("best", "simplest", "score", "accuracy")
DEFAULT_FACTOR = 10.0
DEFAULT_FLOOR = 1e-12


def describe(rule: str = "best", factor: float = DEFAULT_FACTOR,
             floor: float = DEFAULT_FLOOR, complexity: int | None = None) -> str:
    """One line that states the rule with its numbers (stored with every front)."""
    norm = f"loss = max(MSE/Var(y), {floor:g})"
    if complexity is not None:
        return f"complexity == {complexity}"
    if rule == "best":
        return (f"best: largest score -dln(loss)/dcomplexity among candidates with "
                f"loss <= {factor:g} x lowest ({norm}; first candidate scored against the "
                f"constant model)")
    if rule == "simplest":
        return f"simplest: lowest complexity with loss <= {factor:g} x lowest ({norm})"
    if rule == "score":
        return f"score: largest -dln(loss)/dcomplexity on the whole front ({norm})"
    return "accuracy: lowest loss"


def check_rule(rule: str, factor: float, floor: float) -> None:
    if rule not in RULES:
        raise PhysDistillError(f"unknown selection rule {rule!r}; expected one of "
                               f"{list(RULES)} (or complexity=k).{did_you_mean(rule, RULES)}")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor < 1:
        raise PhysDistillError(f"selection factor must be a number >= 1, got {factor!r}")
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor < 1:
        raise PhysDistillError(f"selection floor must be a number in [0, 1), got {floor!r}")


def normalised_losses(losses: Sequence[float], variance: float,
                      floor: float = DEFAULT_FLOOR) -> np.ndarray:
    scale = variance if variance > 0 and math.isfinite(variance) else 1.0
    return np.maximum(np.asarray(losses, dtype=np.float64) / scale, max(floor, 1e-300))


def scores(complexities: Sequence[int], nlosses: Sequence[float]) -> np.ndarray:
    """PySR's score of each candidate (see the module docstring)."""
    c = np.asarray(complexities, dtype=np.float64)
    ln = np.log(np.asarray(nlosses, dtype=np.float64))
    prev_c = np.concatenate([[1.0], c[:-1]])
    prev_l = np.concatenate([[0.0], ln[:-1]])
    dc = c - prev_c
    out = np.zeros_like(c)
    ok = dc > 0
    out[ok] = -(ln[ok] - prev_l[ok]) / dc[ok]
    return out


def select_index(complexities: Sequence[int], losses: Sequence[float], variance: float,
                 rule: str = "best", *, complexity: int | None = None,
                 factor: float = DEFAULT_FACTOR, floor: float = DEFAULT_FLOOR) -> int:
    """Index of the chosen candidate on a front sorted by increasing complexity."""
    if len(complexities) == 0:
        raise PhysDistillError("cannot select from an empty front")
    if complexity is not None:
        if complexity not in list(complexities):
            raise PhysDistillError(f"no candidate of complexity {complexity!r}; the front has "
                                   f"complexities {list(complexities)}")
        return list(complexities).index(complexity)
    check_rule(rule, factor, floor)
    nl = normalised_losses(losses, variance, floor)
    if rule == "accuracy":
        return int(np.argmin(nl))
    s = scores(complexities, nl)
    if rule == "score":
        return int(np.argmax(s))
    ok = np.flatnonzero(nl <= factor * nl.min() * (1 + 1e-12))
    if rule == "simplest":
        return int(ok[0])
    best = ok[np.argmax(s[ok])]  # argmax returns the first (simplest) of ties
    return int(best)
