r"""Pairwise force laws for n-body systems.

A law is a pair potential :math:`U(r', m_1, m_2, q_1, q_2)` of the softened distance
:math:`r' = r + \varepsilon`. The force on particle 1 from particle 2 is

.. math::
    \mathbf F_{12} = -\frac{\partial U}{\partial r'}\,\frac{\mathbf x_1 - \mathbf x_2}{r},

so the exact dynamics conserve :math:`\sum \tfrac12 m v^2 + \sum_{pairs} U`. The ``damped`` law
adds a per-particle drag :math:`-\gamma \mathbf v_i`.

Built-in laws follow Cranmer et al. (2020) (see ``shared/reference.md`` §1). User laws are given
as a formula string in ``r, m1, m2, q1, q2`` in which ``r`` stands for the softened distance
:math:`r'`; it is parsed without ``eval`` by the symbolic layer's whitelisting parser.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sympy as sp

from physdistill.errors import PhysDistillError
from physdistill.symbolic import parse_expression

DEFAULT_EPS = 0.01
POTENTIAL_VARS = ("r", "m1", "m2", "q1", "q2")

_r, _m1, _m2, _q1, _q2 = (sp.Symbol(n) for n in POTENTIAL_VARS)


@dataclass(frozen=True)
class ForceLaw:
    """A pair-potential force law.

    Args:
        name: short name (``"r2"``, or ``"custom"`` for user potentials).
        potential: sympy expression of the softened distance ``r`` and ``m1, m2, q1, q2``.
        dt: default integration time step.
        eps: softening added to the distance.
        damping: drag coefficient :math:`\\gamma` of the per-particle force :math:`-\\gamma v`.
        charged: whether charges are drawn as +-1 (else charge is N(0,1) noise the network still
            sees).
        energy_potential: the potential whose sum with kinetic energy the exact dynamics conserve,
            when it differs from ``potential`` (the ``discontinuous`` law's potential jumps at
            r' = 2, but its force has no impulse there); ``None`` if the same.
        source: the potential as text.
    """

    name: str
    potential: sp.Expr
    dt: float
    eps: float = DEFAULT_EPS
    damping: float = 0.0
    charged: bool = False
    energy_potential: sp.Expr | None = None
    source: str = ""
    _cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    # -- symbolic forms -------------------------------------------------------------------
    @cached_property
    def dUdr(self) -> sp.Expr:
        """:math:`\\partial U / \\partial r'` as a sympy expression of r (= r'), m1, m2, q1, q2."""
        return sp.diff(self.potential, _r)

    @cached_property
    def breaks(self) -> tuple[float, ...]:
        """Distances r' at which the force jumps: the thresholds in r of its piecewise
        conditions (``(2.0,)`` for the discontinuous law). The simulator steps exactly onto them,
        because a fixed step across a jump makes an O(dt) error."""
        found: set[float] = set()
        for pw in self.dUdr.atoms(sp.Piecewise):
            for _, cond in pw.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    for root in sp.solve(sp.Eq(rel.lhs, rel.rhs), _r):
                        if root.is_number and root.is_real:
                            found.add(float(root))
        return tuple(sorted(found))

    def pair_force(self, dim: int = 2) -> list[sp.Expr]:
        """Exact force on particle 1 from particle 2, one sympy expression per component.

        Expressions are in the symbols ``dx, dy[, dz]`` (= x1 - x2, the receiver minus the
        sender), ``r`` (the *unsoftened* distance) and ``m1, m2, q1, q2``.
        """
        _check_dim(dim)
        comps = sp.symbols("dx dy dz")[:dim]
        r = sp.Symbol("r")
        radial = -self.dUdr.subs(_r, r + sp.Float(self.eps)) / r
        return [radial * c for c in comps]

    @property
    def conservative(self) -> bool:
        """True when total energy (kinetic + ``energy_potential``) is conserved exactly."""
        return self.damping == 0.0

    # -- numeric forms --------------------------------------------------------------------
    def torch_dUdr(self) -> Callable[..., Any]:
        """A torch function ``f(rp, m1, m2, q1, q2)`` of :math:`\\partial U/\\partial r'`."""
        return self._lambdified("dUdr", self.dUdr)

    def torch_potential(self) -> Callable[..., Any]:
        """A torch function ``U(rp, m1, m2, q1, q2)`` of the energy-conserving potential."""
        pot = self.energy_potential if self.energy_potential is not None else self.potential
        return self._lambdified("U", pot)

    def _lambdified(self, key: str, expr: sp.Expr) -> Callable[..., Any]:
        # The expression comes from the whitelisted parser or from our own table, so the code
        # sympy generates here contains only arithmetic and whitelisted torch functions.
        if key not in self._cache:
            import torch

            fn = sp.lambdify((_r, _m1, _m2, _q1, _q2), expr, modules="torch")

            def wrapped(rp, m1, m2, q1, q2):  # broadcast constants to tensors
                out = fn(rp, m1, m2, q1, q2)
                return out if isinstance(out, torch.Tensor) else torch.full_like(rp, float(out))

            self._cache[key] = wrapped
        return self._cache[key]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "potential": self.source or str(self.potential),
                "dt": self.dt, "eps": self.eps, "damping": self.damping, "charged": self.charged}


def _check_dim(dim: int) -> None:
    if dim not in (2, 3):
        raise PhysDistillError(f"dim must be 2 or 3, got {dim!r}")


def _builtin() -> dict[str, ForceLaw]:
    spring = (_r - 1) ** 2
    disc = sp.Piecewise((0, _r < 2), (spring, True))
    disc_energy = sp.Piecewise((0, _r < 2), (spring - 1, True))  # continuous at r' = 2
    return {
        "r2": ForceLaw("r2", -_m1 * _m2 / _r, 1e-3, source="-m1*m2/r"),
        "r1": ForceLaw("r1", _m1 * _m2 * sp.log(_r), 5e-3, source="m1*m2*log(r)"),
        "spring": ForceLaw("spring", spring, 1e-2, source="(r-1)**2"),
        "charge": ForceLaw("charge", _q1 * _q2 / _r, 1e-3, charged=True, source="q1*q2/r"),
        "damped": ForceLaw("damped", spring, 2e-2, damping=0.5, source="(r-1)**2 ; drag -0.5*v"),
        "discontinuous": ForceLaw("discontinuous", disc, 1e-2, energy_potential=disc_energy,
                                  source="0 if r<2 else (r-1)**2"),
        "superposition": ForceLaw("superposition", _q1 * _q2 / _r - _m1 * _m2 / _r, 1e-3,
                                  charged=True, source="q1*q2/r - m1*m2/r"),
    }


LAWS: tuple[str, ...] = ("spring", "r1", "r2", "charge", "damped", "discontinuous",
                         "superposition")


def get_law(name: str | None = None, *, potential: str | None = None, dt: float | None = None,
            eps: float = DEFAULT_EPS, charged: bool | None = None) -> ForceLaw:
    """Return a built-in law by name, or a user law from a potential formula.

    Args:
        name: one of :data:`LAWS`; ignored when ``potential`` is given.
        potential: a formula in ``r`` (softened distance), ``m1, m2, q1, q2``, e.g.
            ``"m1*m2*exp(-r)/r"``.
        dt: time step; defaults to the law's own (1e-3 for user laws).
        eps: softening.
        charged: draw charges as +-1; defaults to True when the potential uses q1 or q2.
    """
    if eps < 0 or eps != eps:
        raise PhysDistillError(f"eps must be a finite number >= 0, got {eps!r}")
    if dt is not None and not (dt > 0 and dt < float("inf")):
        raise PhysDistillError(f"dt must be a positive finite number, got {dt!r}")
    if potential is not None:
        expr = parse_expression(potential, POTENTIAL_VARS, what="potential")
        if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise PhysDistillError(f"potential {potential!r} is not finite (it reads as {expr}: "
                                   "a division by zero?); expected a finite formula in r, m1, "
                                   "m2, q1, q2")
        if not expr.free_symbols & {_r}:
            raise PhysDistillError(f"potential {potential!r} does not depend on r, so it exerts "
                                   "no force")
        uses_q = bool(expr.free_symbols & {_q1, _q2})
        return ForceLaw("custom", expr, dt if dt is not None else 1e-3, eps=eps,
                        charged=uses_q if charged is None else charged, source=potential)
    table = _builtin()
    if name not in table:
        close = difflib.get_close_matches(str(name), LAWS, n=1, cutoff=0.4)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PhysDistillError(f"unknown force law {name!r}; built-in laws are "
                               f"{', '.join(LAWS)}, or give --potential.{hint}")
    law = table[name]
    changes: dict[str, Any] = {"eps": eps}
    if dt is not None:
        changes["dt"] = dt
    if charged is not None:
        changes["charged"] = charged
    from dataclasses import replace

    return replace(law, **changes)
