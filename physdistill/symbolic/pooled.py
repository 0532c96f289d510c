"""Searches of a transform of a target, pooled back into the target's front.

Some laws are short only after a transform of the target: a softened inverse power is a
polynomial in its reciprocal, and a force is often the derivative of a shorter potential (a
Yukawa force ``exp(-r)(1 + r)/r**2`` is ``-d/dr`` of ``exp(-r)/r``). Each function here searches
the transformed target, maps every candidate back (``1/c``, ``-dc/dx``), scores it on the target
itself and pools it with the target's own candidates, so the selection rule sees one front.
Used by the central-force step (:func:`~physdistill.symbolic.central.fit_central`).
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.expr import SYMPY_LOCK, Expression
from physdistill.symbolic.front import ParetoFront, build_front


def with_reciprocal(front: ParetoFront, X: np.ndarray, y: np.ndarray, names: list[str],
                    sr: SRConfig, rule: str, factor: float, backend: str) -> ParetoFront:
    """``front`` pooled with the reciprocals of a search of ``1 / y`` (scored on ``y``)."""
    from physdistill.symbolic.regress import regress

    ok = np.abs(y) > 1e-12 * np.max(np.abs(y))
    if ok.sum() < 20:
        return front
    inv = regress(X[ok], 1.0 / y[ok], names, config=sr, rule=rule, factor=factor,
                  backend=backend)
    env = {n: X[:, j] for j, n in enumerate(names)}
    items = [(c.expression, c.loss) for c in front.candidates]
    for c in inv.candidates:
        e = Expression(1 / c.expression.sympy(), names)
        pred = e.evaluate(env)
        if np.all(np.isfinite(pred)):
            items.append((e, float(np.mean((pred - y) ** 2))))
    return _pooled(front, items, inv, "reciprocal_searches", rule, factor)


def antiderivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(x_i) = integral of y from x_i to max(x)`` on scattered samples of a function of one
    variable (trapezoids on the sorted samples; repeated ``x`` share one value).

    For a central force's magnitude ``f(r)``, ``P`` is its potential ``U(r) - U(r_max)``:
    often the shorter expression (a Yukawa force ``exp(-r)(1 + r)/r**2`` is the derivative of
    ``exp(-r)/r``), and integrating averages out noise of fixed size on ``y``.
    """
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    seg = 0.5 * (ys[1:] + ys[:-1]) * np.diff(xs)
    tail = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    out = np.empty_like(tail)
    out[order] = tail
    return out


def with_antiderivative(front: ParetoFront, X: np.ndarray, y: np.ndarray, names: list[str],
                         sr: SRConfig, rule: str, factor: float, backend: str) -> ParetoFront:
    """``front`` pooled with ``-dP/dx`` of each candidate ``P`` of a search of the
    :func:`antiderivative` of ``y`` (one variable), their constants refitted on ``y``."""
    from physdistill.symbolic.regress import _Cleaner, regress, search_rows
    from physdistill.symbolic.selection import DEFAULT_FLOOR

    pot = regress(X, antiderivative(X[:, 0], y), names, config=sr, rule=rule, factor=factor,
                  backend=backend)
    var = sympy.Symbol(names[0])
    # the regression's own cleaning on the rows its search of y saw (so the losses compare):
    # tidy, refit the constants, round them only where the loss allows (a derivative's
    # constants are often degenerate, e.g. c/(a r + b))
    rows = search_rows(y, sr)
    clean = _Cleaner(X[rows], y[rows], names, None, front.target_variance, sr, DEFAULT_FLOOR)
    items = [(c.expression, c.loss) for c in front.candidates]
    seen = {str(c.expression) for c in front.candidates}
    for c in pot.candidates:
        e = -sympy.diff(c.expression.sympy(), var)
        if e.is_number:
            continue
        try:
            with SYMPY_LOCK:
                expr, loss = clean(Expression(e, names))
        except PhysDistillError:
            continue
        if str(expr) in seen or not math.isfinite(loss):
            continue
        seen.add(str(expr))
        items.append((expr, loss))
    return _pooled(front, items, pot, "antiderivative_searches", rule, factor)


def _pooled(front: ParetoFront, items: list[tuple[Expression, float]], other: ParetoFront,
            key: str, rule: str, factor: float) -> ParetoFront:
    """The front of ``items`` (scored on ``front``'s target), its meta counting ``other``'s
    searches under ``key`` and in the total."""
    searches = other.meta.get("searches")
    meta = {**front.meta, key: searches,
            "searches": (front.meta.get("searches") or 0) + (searches or 0)}
    return build_front(items, front.target_variance, rule, factor=factor,
                       backend=front.backend, meta=meta)
