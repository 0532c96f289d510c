r"""Linear fit of message channels by a reference vector, domain-free.

A message channel that learned a vector law :math:`F(x) \in \mathbb R^{dim}` is a linear
combination of its components plus a constant,

.. math::
    m_k \approx a_k F_1 + b_k F_2\,[+\, \dots] + d_k ,

fitted by least squares. The headline is :math:`R^2` on **all** edges (:attr:`ChannelFit.r2`).
Cranmer et al. (2020) fitted the coefficients to the best 90 % of the edges (a trimmed least
squares) and reported :math:`R^2` on those; that number is kept as :attr:`ChannelFit.r2_robust`,
clearly labelled, because it is the one their tables quote. It is always higher: the edges it
ignores are the worst fitted ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from physdistill.errors import PhysDistillError

#: fraction of the edges the robust fit leaves out (the reference publication's 10 %)
ROBUST_DROP = 0.10


@dataclass(frozen=True)
class ChannelFit:
    """Least-squares fit of one message channel by the force components plus an intercept.

    Attributes:
        coef: ``[a, b, (c)]`` per force component. intercept: ``d``.
        r2: :math:`R^2` over all edges (the headline).
        r2_robust: :math:`R^2` of the trimmed least-squares fit on the ``1 - ROBUST_DROP`` of the
            edges it fits best (the reference publication's number); ``robust_coef`` and
            ``robust_intercept`` are that fit's.
    """

    coef: list[float]
    intercept: float
    r2: float
    r2_robust: float
    robust_coef: list[float]
    robust_intercept: float

    def to_dict(self) -> dict:
        return asdict(self)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return float(1.0 - ((y - pred) ** 2).sum() / ss) if ss > 0 else float("nan")


def fit_channel(message: np.ndarray, forces: np.ndarray) -> ChannelFit:
    """Fit ``message [E]`` as ``forces [E, dim] @ coef + intercept``; see :class:`ChannelFit`."""
    y = np.asarray(message, np.float64).reshape(-1)
    F = np.asarray(forces, np.float64)
    if F.ndim != 2 or F.shape[0] != y.size:
        raise PhysDistillError(f"forces must be [E, dim] with E = {y.size}, got {F.shape}")
    ok = np.isfinite(y) & np.isfinite(F).all(1)
    if ok.sum() < F.shape[1] + 2:
        raise PhysDistillError(f"only {int(ok.sum())} finite edges; cannot fit a channel")
    y, F = y[ok], F[ok]
    A = np.column_stack([F, np.ones(y.size)])
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    pred = A @ sol
    robust, keep = _trimmed_lstsq(A, y, sol)
    return ChannelFit([float(c) for c in sol[:-1]], float(sol[-1]), _r2(y, pred),
                      _r2(y[keep], (A @ robust)[keep]), [float(c) for c in robust[:-1]],
                      float(robust[-1]))


def _trimmed_lstsq(A: np.ndarray, y: np.ndarray, start: np.ndarray, max_iter: int = 100
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Least squares on the ``1 - ROBUST_DROP`` best-fitted rows: refit on the rows with the
    smallest residuals until that set stops changing (each round lowers the trimmed sum of
    squares, so this ends at a local minimum of it). Returns the solution and the kept rows."""
    h = max(A.shape[1] + 1, int(np.ceil((1.0 - ROBUST_DROP) * y.size)))
    sol, keep = start, None
    for _ in range(max_iter):
        new = np.zeros(y.size, dtype=bool)
        new[np.argpartition(np.abs(y - A @ sol), h - 1)[:h]] = True
        if keep is not None and np.array_equal(new, keep):
            break
        keep = new
        sol, *_ = np.linalg.lstsq(A[keep], y[keep], rcond=None)
    return sol, keep


def fit_channels(messages: np.ndarray, forces: np.ndarray) -> list[ChannelFit]:
    """:func:`fit_channel` for every column of ``messages [E, C]``."""
    m = np.asarray(messages, np.float64)
    if m.ndim != 2:
        raise PhysDistillError(f"messages must be [E, channels], got shape {m.shape}")
    return [fit_channel(m[:, k], forces) for k in range(m.shape[1])]


#: a bin "carries the law" when its gain is within this of 1
GAIN_TOL = 0.1


#: quantile levels of the feature that bound :func:`binned_gain`'s bins: tenths in the middle,
#: finer in the tails, where close encounters and far pairs part from the law first
GAIN_LEVELS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
               0.95, 0.98, 0.99, 0.995, 1.0)


def binned_gain(message: np.ndarray, prediction: np.ndarray, intercept: float,
                feature: np.ndarray, levels: tuple[float, ...] = GAIN_LEVELS,
                min_edges: int = 50) -> list[dict[str, float]]:
    """Where along ``feature`` a channel carries the fitted law, at the fit's global scale.

    A fit (e.g. the robust force fit) predicts ``prediction`` for ``message``. In each bin of
    ``feature`` (e.g. the pair distance) between consecutive quantile ``levels`` (a bin of
    fewer than ``min_edges`` edges joins the next), the *gain* is the median of
    ``(message - intercept) / (prediction - intercept)`` over the bin's edges whose predicted
    deviation is at least the bin's median (so that no edge near a zero of the prediction
    divides by almost nothing, and a few extreme edges, such as saturated close encounters in
    a bin of masses, do not set the value): 1 where the network carries the law as the fit does
    everywhere, below 1 where its messages fall short (e.g. saturate at close encounters), near
    0 where they carry nothing of it. A global :math:`R^2` hides these
    bands: a fit to the well-trained middle scores high while the tails, which a search also
    sees, follow another law.

    Returns one dict per bin: ``lo``, ``hi`` and ``median`` of the feature, ``n`` edges and
    ``gain`` (NaN where every prediction in the bin equals the intercept).
    """
    y = np.asarray(message, np.float64).reshape(-1) - intercept
    p = np.asarray(prediction, np.float64).reshape(-1) - intercept
    f = np.asarray(feature, np.float64).reshape(-1)
    if not y.size == p.size == f.size:
        raise PhysDistillError(f"message, prediction and feature must have one value per edge, "
                               f"got {y.size}, {p.size} and {f.size}")
    ok = np.isfinite(y) & np.isfinite(p) & np.isfinite(f)
    y, p, f = y[ok], p[ok], f[ok]
    if y.size < min_edges:
        raise PhysDistillError(f"only {y.size} finite edges; the gain needs {min_edges}")
    order = np.argsort(f, kind="stable")
    cuts = sorted({int(round(q * y.size)) for q in levels} | {0, y.size})
    groups, start = [], 0
    for end in cuts[1:]:
        if end - start >= min_edges or end == y.size:
            groups.append(order[start:end])
            start = end
    if len(groups) > 1 and groups[-1].size < min_edges:
        groups[-2:] = [np.concatenate(groups[-2:])]
    out = []
    for idx in groups:
        pp, yy = p[idx], y[idx]
        big = np.abs(pp) >= np.median(np.abs(pp))
        big &= np.abs(pp) > 0
        out.append({"lo": float(f[idx].min()), "hi": float(f[idx].max()),
                    "median": float(np.median(f[idx])), "n": int(idx.size),
                    "gain": float(np.median(yy[big] / pp[big])) if big.any() else float("nan")})
    return out


def carried(gains: list[dict[str, float]], tol: float = GAIN_TOL) -> dict[str, float | None]:
    """Summary of :func:`binned_gain`: the ``share`` of edges in bins whose gain is within
    ``tol`` of 1, and the feature range ``lo``-``hi`` of those bins (``None`` if none)."""
    good = [b for b in gains if abs(b["gain"] - 1.0) <= tol]
    total = sum(b["n"] for b in gains)
    return {"share": sum(b["n"] for b in good) / total if total else 0.0,
            "lo": min(b["lo"] for b in good) if good else None,
            "hi": max(b["hi"] for b in good) if good else None}
