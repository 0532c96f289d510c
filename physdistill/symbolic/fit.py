r"""Least-squares fitting of the free coefficients of an expression.

Given :math:`f(x; \theta)` with coefficients :math:`\theta` and data :math:`(x_i, y_i, w_i)`,

.. math::
    \hat\theta = \arg\min_\theta \sum_i w_i \, (f(x_i; \theta) - y_i)^2 .

When :math:`f` is linear in :math:`\theta` (``a*Fx + b*Fy + c``) this is one weighted linear
least-squares solve; otherwise ``scipy.optimize.least_squares`` runs from the given start and,
if none is given, from a few seeded random starts, keeping the best.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic._tree import evaluate_tree, numpy_ops, to_tree

_BIG = 1e150


def _evaluator(expr: sympy.Expr):
    tree = to_tree(expr)
    ops = numpy_ops()

    def f(env: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = evaluate_tree(tree, env, ops)
        return np.broadcast_to(np.asarray(out, dtype=np.float64), (n,))

    return f


def is_linear_in(expr: sympy.Expr, coefs: Sequence[sympy.Symbol]) -> bool:
    """True if ``expr`` is affine in every coefficient jointly (all second derivatives 0)."""
    try:
        for i, a in enumerate(coefs):
            da = sympy.diff(expr, a)
            if any(sympy.diff(da, b) != 0 for b in coefs[i:]):
                return False
    except Exception:  # sympy can fail on odd expressions; fall back to the general solver
        return False
    return True


def weighted_mse(pred: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
    """:math:`\\sum w (p - y)^2 / \\sum w` (plain mean without weights); inf if p is not finite."""
    r = pred - y
    if not np.all(np.isfinite(r)):
        return float("inf")
    if w is None:
        return float(np.mean(r * r))
    return float(np.sum(w * r * r) / np.sum(w))


def fit_coefficients(expr: sympy.Expr, coefs: Sequence[sympy.Symbol],
                     env: Mapping[str, np.ndarray], y: np.ndarray,
                     weights: np.ndarray | None = None, initial: Sequence[float] | None = None,
                     n_starts: int = 4, seed: int = 0,
                     max_nfev: int | None = None) -> tuple[np.ndarray, float]:
    """Fit ``coefs`` of ``expr`` to ``y`` (see the module docstring).

    Args:
        expr: the expression; its free symbols are input names (keys of ``env``) and ``coefs``.
        coefs: the symbols to fit.
        env: input name -> array of shape ``(n,)``.
        y: targets, shape ``(n,)``.
        weights: non-negative sample weights, shape ``(n,)``, or ``None``.
        initial: starting values (nonlinear case); default: ones and seeded random starts.
        n_starts: random restarts in the nonlinear case when ``initial`` is not given.
        seed: seed of the random starts.
        max_nfev: evaluation budget of each nonlinear solve (default ``100 * (k + 1)``).

    Returns:
        ``(values, loss)``: fitted values in ``coefs`` order and the weighted MSE.
    """
    from scipy.optimize import least_squares

    coefs = list(coefs)
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    names = [c.name for c in coefs]
    f = _evaluator(expr)
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))

    def predict(theta: np.ndarray) -> np.ndarray:
        full = dict(env)
        full.update(zip(names, (float(t) for t in theta)))
        return f(full, n)

    if not coefs:
        pred = predict(np.zeros(0))
        return np.zeros(0), weighted_mse(pred, y, weights)

    if is_linear_in(expr, coefs):
        zero = {c: sympy.S.Zero for c in coefs}
        offset = _evaluator(expr.xreplace(zero))(env, n)
        cols = [_evaluator(sympy.diff(expr, c).xreplace(zero))(env, n) for c in coefs]
        A = np.stack(cols, axis=1)
        b = y - offset
        if np.all(np.isfinite(A)) and np.all(np.isfinite(b)):
            if sw is not None:
                A, b = A * sw[:, None], b * sw
            theta, *_ = np.linalg.lstsq(A, b, rcond=None)
            return theta, weighted_mse(predict(theta), y, weights)

    def residual(theta: np.ndarray) -> np.ndarray:
        r = predict(theta) - y
        if sw is not None:
            r = r * sw
        return np.nan_to_num(r, nan=_BIG, posinf=_BIG, neginf=-_BIG)

    starts = [np.asarray(initial, dtype=np.float64)] if initial is not None else [
        np.ones(len(coefs))]
    if initial is None:
        rng = np.random.default_rng(seed)
        starts += [rng.normal(0.0, 2.0, len(coefs)) for _ in range(max(0, n_starts - 1))]
    best_theta, best_loss = starts[0], weighted_mse(predict(starts[0]), y, weights)
    for x0 in starts:
        if len(x0) != len(coefs):
            raise PhysDistillError(f"expected {len(coefs)} initial values, got {len(x0)}")
        try:
            res = least_squares(residual, x0, method="lm" if n >= len(coefs) else "trf",
                                max_nfev=max_nfev or 100 * (len(coefs) + 1), xtol=1e-12,
                                ftol=1e-12)
        except (ValueError, np.linalg.LinAlgError):
            continue
        loss = weighted_mse(predict(res.x), y, weights)
        if loss < best_loss:
            best_theta, best_loss = res.x, loss
    return np.asarray(best_theta, dtype=np.float64), best_loss


def parametrize(expr: sympy.Expr, prefix: str = "_c") -> tuple[sympy.Expr, list[sympy.Symbol],
                                                                 list[float]]:
    """Replace every float constant by a symbol ``_c0, _c1, ...``.

    Returns ``(template, symbols, values)``; substituting ``values`` for ``symbols`` in
    ``template`` gives ``expr`` back.
    """
    floats = sorted(expr.atoms(sympy.Float), key=lambda f: (float(f), str(f)))
    symbols = [sympy.Symbol(f"{prefix}{i}") for i in range(len(floats))]
    template = expr.xreplace(dict(zip(floats, symbols)))
    return template, symbols, [float(f) for f in floats]
