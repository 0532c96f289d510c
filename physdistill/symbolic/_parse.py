"""Safe text -> sympy parser (no ``eval``, no ``sympify`` of strings).

Engines print expressions as text (``"(x0 * x1) / (x2 ^ 2)"``, ``"square(x1) + sin(x0)"``), and
users write reference laws and transforms as text (``"sqrt(dx**2 + dy**2)"``). sympy's own
``parse_expr``/``sympify`` run :func:`eval` on the string, so a crafted string can execute code.
Here the text is parsed by Python's :mod:`ast` (which never executes anything) and the tree is
walked against a whitelist:

* numbers: ``int`` and ``float`` literals (no bool, complex, strings, bytes);
* names: the given variables; ``pi`` and ``E`` when they are not variables;
* operators: ``+ - * / **`` (``^`` is read as ``**``), unary ``+``/``-``;
* calls ``f(a)`` to the functions in :data:`PARSE_FUNCTIONS` (positional arguments only).

Everything else (attributes, subscripts, lambdas, comprehensions, keyword arguments, other
functions) raises :class:`~physdistill.errors.PhysDistillError` naming the offending piece. Size
limits (text length, node count, depth, size of exact numbers) keep a hostile string from using
unbounded time or memory.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterable

import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic.operators import FUNCTIONS as REGISTRY_FUNCTIONS
from physdistill.symbolic.operators import POWER_SPELLINGS

MAX_TEXT = 20_000
MAX_NODES = 5_000
MAX_DEPTH = 200
MAX_EXACT_INT = 10**15  # largest |integer| base of a numeric power; also the literal cap
MAX_EXACT_EXPONENT = 64

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _pow(a, b):
    return _checked_pow(a, b)


# name in text -> (arity, builder), from the operator registry: its functions and their
# aliases, and the engines' spellings of powers (``square``/``cube``/``inv``/``neg``/``pow``),
# which become ordinary sympy powers.
PARSE_FUNCTIONS: dict[str, tuple[int, object]] = {
    **{name: (1, f.sympy) for f in REGISTRY_FUNCTIONS for name in (f.name, *f.aliases)},
    **POWER_SPELLINGS,
    "pow": (2, _pow),
}

# names that can never be variables (they would be read as functions or constants)
RESERVED_NAMES = frozenset(PARSE_FUNCTIONS) | {"pi", "E"}


def check_name(name: object, what: str = "variable name") -> str:
    """Return ``name`` if it is a usable variable name, else raise a clear error."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise PhysDistillError(
            f"{what} {name!r} is not usable: expected an identifier of letters, digits and "
            "underscores (at most 64 characters, not starting with a digit), e.g. 'x0' or 'dx'")
    if keyword.iskeyword(name) or name in RESERVED_NAMES:
        raise PhysDistillError(
            f"{what} {name!r} is reserved (a Python keyword, a function name or the constants "
            "pi/E); rename it, e.g. to f'{name}_'")
    return name


def _checked_pow(base, exponent):
    """``base**exponent`` that refuses to build astronomically large exact numbers."""
    if exponent.is_Number and not exponent.is_Float:
        if abs(exponent) > MAX_EXACT_EXPONENT:
            raise PhysDistillError(
                f"exact exponent {exponent} is too large (|exponent| <= {MAX_EXACT_EXPONENT}); "
                "write it as a float if it is a fitted value")
        if base.is_Number and not base.is_Float and abs(base) > MAX_EXACT_INT:
            raise PhysDistillError(
                f"exact power {base}**{exponent} is too large to build; expected a base with "
                f"|base| <= {MAX_EXACT_INT}")
    return sympy.Pow(base, exponent)


class _Builder:
    def __init__(self, variables: frozenset[str] | None, what: str):
        self.variables = variables
        self.what = what
        self.nodes = 0
        self.symbols: dict[str, sympy.Symbol] = {}

    def fail(self, msg: str) -> PhysDistillError:
        return PhysDistillError(f"cannot read {self.what}: {msg}")

    def symbol(self, name: str) -> sympy.Symbol:
        if name not in self.symbols:
            self.symbols[name] = sympy.Symbol(name)
        return self.symbols[name]

    def build(self, node: ast.AST, depth: int):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} syntax nodes; expected a formula")
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Expression):
            return self.build(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.fail(f"literal {v!r} is not a real number")
            if isinstance(v, int):
                if abs(v) > MAX_EXACT_INT:
                    raise self.fail(f"integer literal {v} is too large (|n| <= {MAX_EXACT_INT});"
                                    " write it as a float, e.g. 1e20")
                return sympy.Integer(v)
            return sympy.Float(v)
        if isinstance(node, ast.Name):
            name = node.id
            if self.variables is not None and name in self.variables:
                return self.symbol(name)
            if name == "pi":
                return sympy.pi
            if name == "E":
                return sympy.E
            if self.variables is None:
                return self.symbol(check_name(name))
            raise self.fail(f"unknown name {name!r}; expected one of the variables "
                            f"{sorted(self.variables)} (or pi, E)")
        if isinstance(node, ast.UnaryOp):
            arg = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.USub):
                return -arg
            if isinstance(node.op, ast.UAdd):
                return arg
            raise self.fail(f"operator {type(node.op).__name__} is not allowed; expected + or -")
        if isinstance(node, ast.BinOp):
            a = self.build(node.left, depth + 1)
            b = self.build(node.right, depth + 1)
            op = node.op
            if isinstance(op, ast.Add):
                return a + b
            if isinstance(op, ast.Sub):
                return a - b
            if isinstance(op, ast.Mult):
                return a * b
            if isinstance(op, ast.Div):
                return a / b
            if isinstance(op, ast.Pow):
                return _checked_pow(a, b)
            raise self.fail(f"operator {type(op).__name__} is not allowed; expected one of "
                            "+ - * / ** ^")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in PARSE_FUNCTIONS:
                fname = node.func.id if isinstance(node.func, ast.Name) else ast.dump(node.func)
                raise self.fail(f"function {fname!r} is not allowed; expected one of "
                                f"{sorted(PARSE_FUNCTIONS)}")
            if node.keywords:
                raise self.fail(f"{node.func.id}() takes no keyword arguments")
            arity, fn = PARSE_FUNCTIONS[node.func.id]
            if len(node.args) != arity or any(isinstance(a, ast.Starred) for a in node.args):
                raise self.fail(f"{node.func.id}() takes {arity} argument(s), "
                                f"got {len(node.args)}")
            args = [self.build(a, depth + 1) for a in node.args]
            return fn(*args)
        raise self.fail(f"syntax {type(node).__name__} is not allowed in a formula")


def parse_expression(text: str, variables: Iterable[str] | None = None, *,
                     what: str = "expression") -> sympy.Expr:
    """Parse ``text`` into a sympy expression without evaluating any code.

    Args:
        text: the formula, e.g. ``"2.5*sin(x0) + x1^2"``. ``^`` means power.
        variables: allowed variable names. ``None`` accepts any identifier that is not
            reserved (see :func:`check_name`).
        what: how to name the text in error messages.

    Returns:
        The sympy expression (plain, assumption-free symbols).

    Raises:
        PhysDistillError: the text is too long, not a formula, or uses anything outside the
            whitelist described in the module docstring.
    """
    if not isinstance(text, str):
        raise PhysDistillError(f"{what} must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise PhysDistillError(f"{what} is {len(text)} characters long; the limit is {MAX_TEXT}")
    if variables is not None:
        variables = frozenset(variables)
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError) as exc:
        why = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise PhysDistillError(f"cannot read {what} {text[:80]!r}: not a formula ({why})"
                               ) from None
    except (RecursionError, MemoryError):
        raise PhysDistillError(f"cannot read {what}: nested too deeply") from None
    try:
        expr = _Builder(variables, what).build(tree, 0)
    except RecursionError:
        raise PhysDistillError(f"cannot read {what}: nested too deeply") from None
    if not isinstance(expr, sympy.Expr):
        raise PhysDistillError(f"cannot read {what} {text[:80]!r}: not an expression")
    return expr
