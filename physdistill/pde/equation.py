r"""An evolution equation :math:`u_t = F(u, u_x, u_{xx}, \dots; x, t; c)` as data.

The right-hand side is either

* a string such as ``"u_t = -u*u_x + nu*u_xx"``, read by the project's whitelist parser
  (:func:`physdistill.symbolic.parse_expression`: Python's ``ast`` plus a whitelist, never
  evaluated) and turned into numpy / torch functions by ``sympy.lambdify`` of the parsed tree; or
* a Python callable ``F(fields, coeffs, x, t)`` for what a formula cannot say.

Names in a string: the fields ``u, u_x, u_xx, u_xxx, u_xxxx`` (x-derivatives up to order
:data:`MAX_ORDER`), the coordinates ``x, t``, the constants ``pi, E``, and the coefficients the
caller declares (known values, or unknowns an inverse run learns). Anything else is an error
that names the symbol.

Shapes: every field is an array / tensor of shape ``(n,)``; :meth:`Equation.rhs` returns
``(n,)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic import parse_expression

#: highest x-derivative a PDE may use
MAX_ORDER = 4
FIELDS = tuple("u" + ("_" + "x" * k if k else "") for k in range(MAX_ORDER + 1))
COORDS = ("x", "t")
_DERIV = re.compile(r"\bu_([A-Za-z]+)\b")

#: ``F(fields, coeffs, x, t) -> (n,)`` with fields ``{"u": .., "u_x": ..}`` and coeffs by name
RhsCallable = Callable[[Mapping[str, Any], Mapping[str, Any], Any, Any], Any]


def field_name(order: int) -> str:
    """``0 -> "u"``, ``2 -> "u_xx"``."""
    return FIELDS[order]


def _check_derivative_names(text: str, where: str) -> None:
    for m in _DERIV.finditer(text):
        sub = m.group(1)
        if set(sub) != {"x"}:
            raise PhysDistillError(
                f"{where}: derivative u_{sub} is not supported; the right-hand side may use "
                f"only x-derivatives {', '.join(FIELDS)} (mixed or time derivatives cannot be "
                "stepped in time)")
        if len(sub) > MAX_ORDER:
            raise PhysDistillError(
                f"{where}: derivative u_{sub} has order {len(sub)}; supported orders are 0 to "
                f"{MAX_ORDER} ({', '.join(FIELDS)})")


def _coefficient_names(names: Iterable[str], what: str) -> tuple[str, ...]:
    out = tuple(names)
    for n in out:
        if not isinstance(n, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", n) \
                or n in FIELDS or n in COORDS or n in ("pi", "E"):
            raise PhysDistillError(f"{what}: coefficient name {n!r} is not usable; expected "
                                   "letters and digits, not a field, x, t, pi or E")
    return out


@dataclass(frozen=True)
class Equation:
    r"""The PDE :math:`u_t = F`.

    Args:
        text: the equation, ``"u_t = <formula>"``, or ``None`` with ``function``.
        coefficients: names of the coefficients in the formula (their values live in the
            problem); inferred from the text when empty.
        function: a callable ``F(fields, coeffs, x, t)`` instead of a text.
        order: the highest x-derivative ``function`` uses (required with it).

    Raises:
        PhysDistillError: not of the form ``u_t = ...``; ``u_t`` on the right; an unknown
            symbol; a mixed / time derivative or an order above :data:`MAX_ORDER`.
    """

    text: str | None = None
    coefficients: tuple[str, ...] = ()
    function: RhsCallable | None = field(default=None, compare=False)
    order: int | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.function is None):
            raise PhysDistillError("give the PDE as a text 'u_t = ...' or as a callable "
                                   "F(fields, coeffs, x, t), exactly one of them")
        if self.function is not None:
            if not callable(self.function):
                raise PhysDistillError(f"the PDE function must be callable, got "
                                       f"{type(self.function).__name__}")
            if isinstance(self.order, bool) or not isinstance(self.order, int) \
                    or not 1 <= self.order <= MAX_ORDER:
                raise PhysDistillError(f"a PDE callable needs order= its highest x-derivative "
                                       f"(1 to {MAX_ORDER}), got {self.order!r}")
            object.__setattr__(self, "coefficients",
                               _coefficient_names(self.coefficients, "PDE"))
            return
        expr, coeffs = parse_pde(self.text, self.coefficients or None)
        order = max((k for k, f in enumerate(FIELDS) if sympy.Symbol(f) in expr.free_symbols),
                    default=0)
        object.__setattr__(self, "coefficients", coeffs)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "_expr", expr)

    # -- views --------------------------------------------------------------------------------
    @property
    def expr(self) -> sympy.Expr:
        """The right-hand side as sympy (text equations only)."""
        if self.text is None:
            raise PhysDistillError("a PDE given as a callable has no formula")
        return self._expr  # type: ignore[attr-defined]

    @property
    def fields(self) -> tuple[str, ...]:
        """``u .. u_x^order``: the fields :meth:`rhs` needs."""
        return FIELDS[: max(self.order, 1) + 1]

    def substitute(self, values: Mapping[str, float]) -> sympy.Expr:
        """The right-hand side with the coefficients replaced by ``values``."""
        return self.expr.subs({sympy.Symbol(k): float(v) for k, v in values.items()})

    def rhs(self, fields: Mapping[str, Any], coeffs: Mapping[str, Any], x: Any = None,
            t: Any = None, backend: str = "torch") -> Any:
        """:math:`F` at the given fields (numpy arrays or torch tensors), shape ``(n,)``."""
        if self.function is not None:
            return self.function(fields, coeffs, x, t)
        fn = self._lambdified(backend)
        u = fields["u"]
        args = [fields.get(f, None) for f in FIELDS] + [x, t] + [coeffs[c]
                                                                for c in self.coefficients]
        return fn(*args) + 0 * u  # + 0*u: a constant right-hand side broadcasts

    def _lambdified(self, backend: str) -> Callable[..., Any]:
        cache = self.__dict__.setdefault("_fn_cache", {})
        if backend not in cache:
            syms = [sympy.Symbol(n) for n in (*FIELDS, *COORDS, *self.coefficients)]
            cache[backend] = sympy.lambdify(syms, sympy.N(self.expr), modules=backend)
        return cache[backend]

    def linear_split(self, values: Mapping[str, float]) -> tuple[dict[int, float], sympy.Expr]:
        r"""Split :math:`F = \sum_k a_k \partial_x^k u + N(u, \dots)` for a spectral solver.

        Returns ``({order: a_k}, N)``: the constant-coefficient linear terms and the rest.
        """
        expr = sympy.expand(self.substitute(values))
        linear: dict[int, float] = {}
        rest = sympy.Integer(0)
        for term in sympy.Add.make_args(expr):
            coeff, factor = term.as_coeff_Mul()
            hit = [k for k, f in enumerate(FIELDS) if factor == sympy.Symbol(f)]
            if hit and coeff.is_Number:
                linear[hit[0]] = linear.get(hit[0], 0.0) + float(coeff)
            else:
                rest += term
        return linear, rest

    def describe(self) -> dict[str, Any]:
        """JSON-able description (a callable is named, not serialised)."""
        if self.function is not None:
            return {"function": getattr(self.function, "__qualname__", "callable"),
                    "order": self.order, "coefficients": list(self.coefficients)}
        return {"text": self.text, "coefficients": list(self.coefficients)}

    def __str__(self) -> str:
        if self.text is not None:
            return f"u_t = {sympy.sstr(self.expr)}"
        return f"u_t = {getattr(self.function, '__qualname__', 'F')}(u..u_{'x' * self.order})"


def parse_pde(text: str, coefficients: Iterable[str] | None = None
              ) -> tuple[sympy.Expr, tuple[str, ...]]:
    """Parse ``"u_t = <formula>"`` into ``(right-hand side, coefficient names)``.

    Args:
        text: the equation.
        coefficients: allowed coefficient names; ``None`` accepts any identifier that is not a
            field, a coordinate or a reserved name as a coefficient.

    Raises:
        PhysDistillError: see :class:`Equation`.
    """
    if not isinstance(text, str):
        raise PhysDistillError(f"the PDE must be a string 'u_t = ...', got "
                               f"{type(text).__name__}")
    parts = text.split("=")
    if len(parts) != 2 or parts[0].strip() != "u_t":
        lhs = parts[0].strip() if len(parts) == 2 else None
        got = (f"its left side is {lhs!r}" if lhs is not None else
               f"it has {len(parts) - 1} '=' signs")
        raise PhysDistillError(
            f"PDE {text!r} is not an evolution equation: expected 'u_t = F(u, u_x, u_xx, ...)', "
            f"but {got}; write it solved for u_t, e.g. 'u_t = -u*u_x + 0.1*u_xx'")
    rhs = parts[1].strip()
    if re.search(r"\bu_t\b", rhs):
        raise PhysDistillError(f"PDE {text!r} is not an evolution equation: u_t appears on the "
                               "right side; solve the equation for u_t")
    _check_derivative_names(rhs, f"PDE {text!r}")
    if coefficients is not None:
        coeffs = _coefficient_names(coefficients, f"PDE {text!r}")
        names = (*FIELDS, *COORDS, *coeffs)
        try:
            expr = parse_expression(rhs, names, what=f"PDE {text!r}")
        except PhysDistillError as exc:
            m = re.search(r"unknown name '([^']+)'", str(exc))
            if m:
                raise PhysDistillError(
                    f"PDE {text!r}: unknown symbol {m.group(1)!r}; expected the fields "
                    f"{', '.join(FIELDS)}, x, t, pi, E or a declared coefficient "
                    f"({', '.join(coeffs) or 'none declared'}); give its value, e.g. "
                    f"coefficients={{'{m.group(1)}': 0.1}}") from None
            raise
        used = {s.name for s in expr.free_symbols}
        return expr, tuple(c for c in coeffs if c in used)
    expr = parse_expression(rhs, None, what=f"PDE {text!r}")
    found = sorted(s.name for s in expr.free_symbols if s.name not in FIELDS + COORDS)
    bad = [n for n in found if n.startswith("u")]
    if bad:
        raise PhysDistillError(f"PDE {text!r}: unknown symbol {bad[0]!r}; fields are "
                               f"{', '.join(FIELDS)}")
    return expr, _coefficient_names(found, f"PDE {text!r}")


def check_value(name: str, value: Any) -> float:
    """A finite float, or a clear error naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise PhysDistillError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise PhysDistillError(f"{name} must be finite, got {value!r}")
    return v
