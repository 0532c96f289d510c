"""Shapes of a scalar function that a symbolic search finds hard and a direct test finds
easily: a cut-off (zero on one side of a threshold, a jump at it) and sign factors (a product of
+-1 variables, such as charges). Used by :mod:`~physdistill.symbolic.central`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy


@dataclass(frozen=True)
class Step:
    """A cut-off of the scalar: ``s = 0`` where ``variable < threshold`` (``below``) or
    ``variable > threshold`` (not ``below``)."""

    variable: str
    threshold: float
    below: bool

    def factor(self) -> sympy.Expr:
        """``(1 +- (x - t)/|x - t|) / 2``: 1 on the side where ``s`` is not zero."""
        x = sympy.Symbol(self.variable) - sympy.Float(self.threshold, 6)
        sign = x / sympy.Abs(x)
        return (1 + sign) / 2 if self.below else (1 - sign) / 2

    def active(self, values: np.ndarray) -> np.ndarray:
        return values > self.threshold if self.below else values < self.threshold


def _simplest_between(a: float, b: float) -> float:
    """The number with the fewest significant digits strictly between ``a`` and ``b`` (the
    data cannot place the threshold any finer), else their midpoint."""
    lo, hi = min(a, b), max(a, b)
    mid = 0.5 * (lo + hi)
    for digits in range(1, 8):
        t = float(f"{mid:.{digits}g}")
        if lo < t < hi:
            return t
    return mid


def find_step(s: np.ndarray, scalars: Mapping[str, np.ndarray], *, step_tol: float = 1e-3,
              min_fraction: float = 0.05) -> Step | None:
    """The cut-off of ``s`` (see :class:`Step`), if ``s`` is zero (``|s| <= step_tol`` times
    the 75th percentile of ``|s|``) on one side of a threshold of one scalar (at least
    ``min_fraction`` of the edges) and jumps next to it (to at least a tenth of that
    percentile)."""
    size = float(np.quantile(np.abs(s), 0.75))  # not the RMS: heavy tails (1/r**3) inflate it
    zero = np.abs(s) <= step_tol * size
    if zero.mean() < min_fraction:
        return None
    best: tuple[int, Step] | None = None
    for name, x in scalars.items():
        x = np.asarray(x, np.float64)
        if np.unique(x).size < 20:
            continue
        order = np.argsort(x)
        for below, idx in ((True, order), (False, order[::-1])):
            z = zero[idx]
            run = len(z) if z.all() else int(np.argmin(z))  # leading zeros
            nxt = idx[run:run + max(5, len(z) // 100)]
            if run < min_fraction * len(z) or run == len(z) or \
                    np.median(np.abs(s[nxt])) < 0.1 * size:  # a jump, not a decaying tail
                continue
            t = _simplest_between(x[idx[run - 1]], x[idx[run]])
            if best is None or run > best[0]:
                best = (run, Step(name, float(t), below))
    return None if best is None else best[1]


def sign_factors(s: np.ndarray, scalars: Mapping[str, np.ndarray], min_gain: float = 0.2,
                 max_rows: int = 5000) -> tuple[str, ...]:
    """The sign scalars (values +-1 only, such as charges) whose product ``p`` makes ``s p``
    a smooth function of the other scalars, or ``()``.

    Smoothness is the R^2 of a 5-nearest-neighbour average over the continuous scalars
    (standardised, in log for one-signed ones); a product is taken when it raises that R^2 by
    ``min_gain``. ``s = q1 q2 h(r)`` is a sign pattern that a search must otherwise build from
    the charges; ``h(r)`` alone is a far smaller search."""
    from itertools import combinations

    from scipy.spatial import cKDTree

    binary = [k for k, x in scalars.items() if np.all(np.abs(np.abs(x) - 1) < 1e-12)]
    cont = [k for k, x in scalars.items() if k not in binary and np.unique(x).size >= 20]
    if not binary or not cont or len(s) < 50:
        return ()
    rows = np.random.default_rng(0).permutation(len(s))[:max_rows]
    cols = []
    for k in cont:
        x = np.asarray(scalars[k], np.float64)[rows]
        x = np.log(np.abs(x)) if (np.all(x > 0) or np.all(x < 0)) else x
        cols.append((x - x.mean()) / (x.std() or 1.0))
    F = np.column_stack(cols)
    idx = cKDTree(F).query(F, k=6)[1][:, 1:]

    def smooth(t: np.ndarray) -> float:
        var = float(np.var(t))
        return 1 - float(np.mean((t - t[idx].mean(1)) ** 2)) / var if var > 0 else 0.0

    t0 = s[rows]
    best, best_r2 = (), smooth(t0)
    for n in range(1, len(binary) + 1):
        for sub in combinations(binary, n):
            p = np.prod([np.asarray(scalars[k], np.float64)[rows] for k in sub], axis=0)
            r2 = smooth(t0 * p)
            if r2 > best_r2 + (min_gain if not best else 0.0):
                best, best_r2 = sub, r2
    return best


#: exponents tried for each one-signed scalar in :func:`separable_factor`
EXPONENTS = (-2, -1, 0, 1, 2)


def separable_factor(s: np.ndarray, scalars: Mapping[str, np.ndarray], min_r2: float = 0.999,
                     max_rows: int = 5000) -> tuple[str, dict[str, int]] | None:
    """A variable ``v`` and a monomial ``p`` of the other one-signed scalars (integer
    exponents in :data:`EXPONENTS`) such that ``s / p`` is a function of ``v`` alone, or
    ``None``.

    The test is the R^2 of a 5-nearest-neighbour average of ``s / p`` along ``v`` alone, on
    all but the 10 % most extreme values (``>= min_r2``; the best pair wins). ``m1 m2 h(r)`` is then searched as the one-variable
    ``h(r)``, where a softened ``1/(r (r + eps)**2)`` is a short expression."""
    from itertools import product

    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    rows = rng.permutation(len(s))[:max_rows]
    cols = {k: np.asarray(x, np.float64)[rows] for k, x in scalars.items()}
    cont = [k for k, x in cols.items() if np.unique(x).size >= 20]
    signed = [k for k in cont if np.all(cols[k] > 0) or np.all(cols[k] < 0)]
    t = s[rows]
    best: tuple[float, str, dict[str, int]] | None = None
    for v in cont:
        others = [k for k in signed if k != v]
        if len(others) > 4:
            continue  # 5**5 monomials: too many to test
        for exps in product(EXPONENTS, repeat=len(others)):
            p = np.prod([cols[k] ** e for k, e in zip(others, exps)], axis=0) if others \
                else np.ones_like(t)
            y = t / p
            if not np.all(np.isfinite(y)):
                continue
            dev = np.abs(y - np.median(y))  # leave out the 10 % extreme values (steep poles)
            keep = dev <= np.quantile(dev, 0.9)
            y, x = y[keep], cols[v][keep]
            var = float(np.var(y))
            if var <= 0 or len(y) < 20:
                continue
            idx = cKDTree(x[:, None]).query(x[:, None], k=6)[1][:, 1:]
            r2 = 1 - float(np.mean((y - y[idx].mean(1)) ** 2)) / var
            if r2 >= min_r2 and (best is None or r2 > best[0] + 1e-12):
                best = (r2, v, {k: e for k, e in zip(others, exps) if e})
    return None if best is None else (best[1], best[2])
