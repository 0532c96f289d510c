r"""A known message law to compare the distilled equations with.

A message channel that learned a vector law :math:`F = (F_1, \dots, F_d)` of the edge
features is, at best, a linear combination of its components plus a constant, so each
channel's equation is compared with

.. math:: a_0 F_1 + \dots + a_{d-1} F_d + b

(free coefficients fitted by :func:`~physdistill.symbolic.compare`), and the recorded messages
are fitted by the same combination (:func:`~physdistill.gnn.linfit.fit_channels`). A scalar
law is the case ``d = 1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import parse_expression
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.sympy_tools import plain_symbols


@dataclass(frozen=True)
class Reference:
    """The known law and the recovery rule's tolerances.

    Args:
        components: the law's components, formulas of the feature names (text or sympy).
        match_tol, rel_tol, rel_floor: :func:`~physdistill.symbolic.compare`'s rule (a term
            left over after the fit has RMS <= ``match_tol`` x the law's; the maximum relative
            error, floored at ``rel_floor`` x RMS, is < ``rel_tol`` in and out of distribution).
        keep: features whose recorded values the out-of-distribution points reuse (e.g.
            charges that are +-1), instead of drawing them from a widened range.
    """

    components: tuple[str, ...]
    match_tol: float = 1e-3
    rel_tol: float = 1e-2
    rel_floor: float = 1e-2
    keep: tuple[str, ...] = ()

    @classmethod
    def of(cls, value: Any, names: Sequence[str]) -> Reference:
        """``value`` (a :class:`Reference`, one formula, or a sequence of them) checked
        against the feature ``names``."""
        if isinstance(value, Reference):
            ref = value
        elif isinstance(value, (str, sympy.Basic)):
            ref = cls((str(value),))
        elif isinstance(value, Sequence) and value:
            ref = cls(tuple(str(v) for v in value))
        else:
            raise PhysDistillError(f"reference must be a Reference, a formula or a sequence of "
                                   f"formulas in the features {list(names)}, got {value!r}")
        ref.expressions(names)
        return ref

    def expressions(self, names: Sequence[str]) -> list[sympy.Expr]:
        """The components as sympy, each checked to use only feature names."""
        if not self.components:
            raise PhysDistillError("a reference needs at least one component")
        out = []
        for i, c in enumerate(self.components):
            e = parse_expression(c, None, what=f"reference component {i}")
            unknown = sorted(s.name for s in e.free_symbols if s.name not in names)
            if unknown:
                raise PhysDistillError(f"reference component {c!r} uses {unknown}, which are "
                                       f"not features; the features are {list(names)}")
            out.append(plain_symbols(e))
        bad = [k for k in self.keep if k not in names]
        if bad:
            raise PhysDistillError(f"reference keep={bad} are not features {list(names)}")
        return out

    def coefficients(self, names: Sequence[str]) -> list[str]:
        """The free coefficients ``a0 .. a{d-1}, b`` (``c0 .., c`` or ``coef0 .., coef`` when
        a feature has one of those names)."""
        d = len(self.components)
        for a, b in (("a", "b"), ("c", "c"), ("coef", "coef")):
            coefs = [f"{a}{i}" for i in range(d)] + [b]
            if not set(coefs) & set(names):
                return coefs
        raise PhysDistillError(f"the features {list(names)} use every name the reference's "
                               "free coefficients could take (a0.., b / c0.., c / coef0.., "
                               "coef); rename those features")

    def combination(self, names: Sequence[str]) -> sympy.Expr:
        """:math:`\\sum_k a_k F_k + b` in sympy."""
        coefs = self.coefficients(names)
        comps = self.expressions(names)
        return sum((sympy.Symbol(a) * f for a, f in zip(coefs, comps)), sympy.Integer(0)) + \
            sympy.Symbol(coefs[-1])

    def values(self, env: Mapping[str, np.ndarray]) -> np.ndarray:
        """The components on the recorded edges, ``[E, d]``."""
        names = list(env)
        n = len(next(iter(env.values())))
        return np.stack([np.broadcast_to(Expression(e, names).evaluate(env), (n,))
                         for e in self.expressions(names)], axis=1)
