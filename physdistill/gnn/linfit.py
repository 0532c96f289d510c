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
