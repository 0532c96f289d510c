r"""From recorded OGN messages to physics: edge variables, true pair forces, and the force fit.

The reference analysis (Cranmer et al. 2020): a message channel that learned the force is a
linear combination of the true pair-force components,

.. math::
    m_k \approx a_k F_x + b_k F_y\,[+\, c_k F_z] + d_k ,

fitted by least squares. The headline is :math:`R^2` on **all** test edges
(:attr:`ChannelFit.r2`). The reference publication fitted the coefficients to the best 90 % of
the edges (it minimised the sum of the smallest 90 % of squared residuals, a trimmed least
squares) and reported :math:`R^2` on those; that number is kept as
:attr:`ChannelFit.r2_robust`, clearly labelled, because it is the one their tables quote. It is
always higher: the edges it ignores are the worst fitted ones (close encounters, mostly).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import sympy as sp

from physdistill.errors import PhysDistillError
from physdistill.nbody.laws import ForceLaw

ROBUST_DROP = 0.10


def edge_variable_names(dim: int) -> list[str]:
    """``dx, dy[, dz], r, m1, m2, q1, q2``: the symbolic-regression inputs of one edge."""
    return [*("dx", "dy", "dz")[:dim], "r", "m1", "m2", "q1", "q2"]


def edge_variables(x_i: np.ndarray, x_j: np.ndarray, dim: int) -> dict[str, np.ndarray]:
    """Edge variables from receiver (``x_i``) and sender (``x_j``) node features.

    Node features are ``[pos (dim), vel (dim), q, m]``; ``dx = x_i - x_j`` (receiver minus
    sender, the convention of :meth:`ForceLaw.pair_force`), ``r`` the unsoftened distance,
    ``m1, q1`` the receiver's, ``m2, q2`` the sender's.
    """
    x_i, x_j = np.asarray(x_i, np.float64), np.asarray(x_j, np.float64)
    if x_i.shape != x_j.shape or x_i.ndim != 2 or x_i.shape[1] != 2 * dim + 2:
        raise PhysDistillError(f"edge inputs must be two [E, {2 * dim + 2}] arrays "
                               f"([pos, vel, q, m]), got {x_i.shape} and {x_j.shape}")
    d = x_i[:, :dim] - x_j[:, :dim]
    out = {name: d[:, k] for k, name in enumerate(("dx", "dy", "dz")[:dim])}
    out["r"] = np.sqrt((d * d).sum(1))
    out["m1"], out["m2"] = x_i[:, 2 * dim + 1], x_j[:, 2 * dim + 1]
    out["q1"], out["q2"] = x_i[:, 2 * dim], x_j[:, 2 * dim]
    return out


def pair_forces(law: ForceLaw, variables: dict[str, np.ndarray], dim: int) -> np.ndarray:
    """The law's exact pair force ``[E, dim]`` on the receiver, at the given edge variables."""
    comps = law.pair_force(dim)
    names = edge_variable_names(dim)
    syms = sp.symbols(names)
    # The expressions come from the law table or the whitelisted potential parser.
    f = sp.lambdify(syms, comps, modules="numpy")
    vals = f(*(variables[k] for k in names))
    E = len(variables["r"])
    return np.stack([np.broadcast_to(np.asarray(v, np.float64), (E,)) for v in vals], axis=1)


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
