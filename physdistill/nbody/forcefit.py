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
The fit itself is domain-free (:mod:`physdistill.gnn.linfit`); this module adds the n-body
edge variables and forces.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physdistill.errors import PhysDistillError
from physdistill.gnn.linfit import ROBUST_DROP, ChannelFit, fit_channel, fit_channels
from physdistill.nbody.laws import ForceLaw


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


__all__ = ["ROBUST_DROP", "ChannelFit", "edge_variable_names", "edge_variables", "fit_channel",
           "fit_channels", "pair_forces"]
