r"""Candidate-term libraries for PDE discovery (domain-free), composable like pysindy's feature libraries.

A library maps a dict of fields (``{"u": ..., "u_x": ..., "u_xx": ..., "u_xxx": ...}``, each of
shape ``(n,)``, numpy arrays or torch tensors) to a matrix :math:`\Theta` of shape ``(n, p)``,
whose columns are the candidate terms :math:`\theta_k`, named by :meth:`TermLibrary.names`.

Libraries combine:

- ``A + B`` concatenates the terms (duplicates by name are dropped);
- ``A * B`` takes every product :math:`a_i b_j` (a tensor product, as in pysindy).

Example (the default)::

    lib = Constant() + Derivatives(0, 1, 2, 3) + Powers("u", 2) + Derivatives(0) * Derivatives(1, 2, 3)
    lib.names()  # ['1', 'u', 'u_x', 'u_xx', 'u_xxx', 'u^2', 'u*u_x', 'u*u_xx', 'u*u_xxx']

:func:`pdefind_library` is PDE-FIND's (pysindy ``PDELibrary``) default shape: polynomials in
``u`` up to ``degree``, times ``1`` and the derivatives up to ``order``.

The same object works on numpy (PDE-FIND style regression) and on torch tensors (the
sparsity-regularised discovery PINN), so the terms are defined once.
"""

from __future__ import annotations

from typing import Any

from physdistill.errors import PhysDistillError
from physdistill.pde.equation import FIELDS, MAX_ORDER

_FIELD = dict(enumerate(FIELDS))


def _stack(columns: list[Any]) -> Any:
    first = columns[0]
    if hasattr(first, "detach"):
        import torch

        return torch.stack(columns, dim=1)
    import numpy as np

    return np.stack([np.asarray(c, dtype=float) for c in columns], axis=1)


class TermLibrary:
    """Base class: subclasses implement :meth:`names` and :meth:`columns`."""

    def names(self) -> list[str]:
        raise NotImplementedError

    def columns(self, fields: dict[str, Any]) -> list[Any]:
        """The terms as a list of ``(n,)`` arrays, in the order of :meth:`names`."""
        raise NotImplementedError

    @property
    def max_order(self) -> int:
        """Highest x-derivative the library needs."""
        return 0

    def transform(self, fields: dict[str, Any]) -> Any:
        r""":math:`\Theta`, shape ``(n, p)`` (numpy or torch, as the fields)."""
        missing = [f for f in self.required_fields() if f not in fields]
        if missing:
            raise PhysDistillError(f"the library needs the fields {missing}; got "
                                   f"{sorted(fields)}")
        return _stack(self.columns(fields))

    def required_fields(self) -> list[str]:
        return [_FIELD[k] for k in range(self.max_order + 1)]

    def __len__(self) -> int:
        return len(self.names())

    def __add__(self, other: TermLibrary) -> TermLibrary:
        return Concat(self, other)

    def __mul__(self, other: TermLibrary) -> TermLibrary:
        return Product(self, other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.names())})"


class Constant(TermLibrary):
    """The constant term ``1``."""

    def names(self) -> list[str]:
        return ["1"]

    def columns(self, fields: dict[str, Any]) -> list[Any]:
        u = fields["u"]
        return [u * 0 + 1]


class Derivatives(TermLibrary):
    """``u`` and its x-derivatives of the given orders (0 to :data:`MAX_ORDER`)."""

    def __init__(self, *orders: int) -> None:
        if not orders:
            orders = (0, 1, 2)
        for k in orders:
            if k not in _FIELD:
                raise PhysDistillError(f"derivative order must be an integer from 0 to "
                                       f"{MAX_ORDER}, got {k!r}")
        self.orders = tuple(orders)

    def names(self) -> list[str]:
        return [_FIELD[k] for k in self.orders]

    def columns(self, fields: dict[str, Any]) -> list[Any]:
        return [fields[_FIELD[k]] for k in self.orders]

    @property
    def max_order(self) -> int:
        return max(self.orders)


class Powers(TermLibrary):
    """Powers ``f^2 .. f^degree`` of one field ``f`` (``"u"``, ``"u_x"``, ...)."""

    def __init__(self, field: str = "u", degree: int = 2) -> None:
        if field not in _FIELD.values():
            raise PhysDistillError(f"field must be one of {list(_FIELD.values())}, got {field!r}")
        if not isinstance(degree, int) or degree < 2:
            raise PhysDistillError(f"degree must be an integer >= 2, got {degree!r}")
        self.field, self.degree = field, degree

    def names(self) -> list[str]:
        return [f"{self.field}^{p}" for p in range(2, self.degree + 1)]

    def columns(self, fields: dict[str, Any]) -> list[Any]:
        f = fields[self.field]
        return [f ** p for p in range(2, self.degree + 1)]

    @property
    def max_order(self) -> int:
        return {v: k for k, v in _FIELD.items()}[self.field]


class Concat(TermLibrary):
    """``A + B``: the terms of both, without repeating a name."""

    def __init__(self, *parts: TermLibrary) -> None:
        self.parts = parts

    def _index(self) -> list[tuple[int, int]]:
        seen: set[str] = set()
        keep = []
        for i, part in enumerate(self.parts):
            for j, name in enumerate(part.names()):
                if name not in seen:
                    seen.add(name)
                    keep.append((i, j))
        return keep

    def names(self) -> list[str]:
        return [self.parts[i].names()[j] for i, j in self._index()]

    def columns(self, fields: dict[str, Any]) -> list[Any]:
        cols = [p.columns(fields) for p in self.parts]
        return [cols[i][j] for i, j in self._index()]

    @property
    def max_order(self) -> int:
        return max(p.max_order for p in self.parts)


class Product(TermLibrary):
    """``A * B``: all products ``a*b`` of a term of ``A`` and a term of ``B``."""

    def __init__(self, left: TermLibrary, right: TermLibrary) -> None:
        self.left, self.right = left, right

    def names(self) -> list[str]:
        out = []
        for a in self.left.names():
            for b in self.right.names():
                if a == "1":
                    out.append(b)
                elif b == "1":
                    out.append(a)
                else:
                    out.append(f"{a}*{b}")
        return out

    def columns(self, fields: dict[str, Any]) -> list[Any]:
        return [a * b for a in self.left.columns(fields) for b in self.right.columns(fields)]

    @property
    def max_order(self) -> int:
        return max(self.left.max_order, self.right.max_order)


def default_library() -> TermLibrary:
    """``1, u, u_x, u_xx, u_xxx, u^2, u*u_x, u*u_xx, u*u_xxx`` (9 terms)."""
    return (Constant() + Derivatives(0, 1, 2, 3) + Powers("u", 2)
            + Derivatives(0) * Derivatives(1, 2, 3))


def pdefind_library(degree: int = 2, order: int = 3) -> TermLibrary:
    r"""PDE-FIND's library: :math:`\{1, u, .., u^d\} \times \{1, u_x, .., \partial_x^m u\}`.

    ``degree=2, order=3`` gives 12 terms: ``1, u_x, u_xx, u_xxx, u, u*u_x, .., u^2*u_xxx``.
    """
    if not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise PhysDistillError(f"library order must be an integer from 1 to {MAX_ORDER}, got "
                               f"{order!r}")
    if not isinstance(degree, int) or degree < 1:
        raise PhysDistillError(f"library degree must be an integer >= 1, got {degree!r}")
    powers: TermLibrary = Constant() + Derivatives(0)
    if degree >= 2:
        powers = powers + Powers("u", degree)
    return powers * (Constant() + Derivatives(*range(1, order + 1)))


def canonical_terms(expr: Any) -> dict[str, float] | None:
    """A polynomial sympy expression in the fields as ``{library term name: coefficient}``.

    Names follow the libraries' spelling (``"u*u_x"``, ``"u^2*u_xx"``, ``"1"``); ``None`` when
    the expression is not a polynomial in the fields with numeric coefficients.
    """
    import sympy as sp

    present = {s.name: s for s in expr.free_symbols}
    order = [n for n in FIELDS if n in present]
    if set(present) - set(order):
        return None
    expanded = sp.expand(expr)
    if not order:
        return {"1": float(expanded)} if expanded.is_Number else None
    try:
        poly = sp.Poly(expanded, *[present[n] for n in order])
    except sp.PolynomialError:
        return None
    out: dict[str, float] = {}
    for powers, coeff in poly.terms():
        if not coeff.is_Number:
            return None
        parts = [n if p == 1 else f"{n}^{p}" for n, p in zip(order, powers) if p]
        key = "*".join(parts) or "1"
        out[key] = out.get(key, 0.0) + float(coeff)
    return {k: v for k, v in out.items() if v != 0}
