"""Functions on bare sympy expressions: the complexity count, constant rounding, cheap rewrites.

They work on ``sympy.Expr`` alone, without variables or the JSON tree, so that the search
engines' cleaning step (:mod:`~physdistill.symbolic.regress`), the comparison with known laws
(:mod:`~physdistill.symbolic.compare`) and :class:`~physdistill.symbolic.expr.Expression`
share one definition of each.

Complexity
----------
:func:`complexity` counts the nodes of the expression as it reads, like PySR's default: every
variable, constant, operator and function counts 1. ``x0*x1/x2**2`` is 7 (x0, x1, x2, 2 and
the three operators ``* / **``), ``2.5*sin(x0) + x1**2`` is 8. Subtraction and division count
as one operator (no hidden ``-1`` or ``**-1`` nodes); ``sqrt(x)`` counts as one function.
"""

from __future__ import annotations

import time

import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic._tree import to_tree
from physdistill.symbolic.bounded import REWRITE_SECONDS, bounded


def plain_symbols(expr: sympy.Expr) -> sympy.Expr:
    """Replace every symbol by an assumption-free symbol of the same name.

    ``Symbol('x', positive=True)`` and ``Symbol('x')`` are different to sympy; the symbolic
    layer only uses plain ones so that expressions from users and engines compare equal.
    """
    mapping = {s: sympy.Symbol(s.name) for s in expr.free_symbols
               if isinstance(s, sympy.Symbol) and s != sympy.Symbol(s.name)}
    return expr.xreplace(mapping) if mapping else expr


def complexity(expr: sympy.Expr) -> int:
    """Number of nodes of ``expr`` as written (see the module docstring)."""
    if expr.is_Atom:
        return 1
    if expr.is_Add:
        total = len(expr.args) - 1
        for a in expr.args:
            total += _term_cost(a)
        return total
    if expr.is_Mul:
        return _mul_cost(expr)
    if expr.is_Pow:
        base, e = expr.args
        if e == sympy.Rational(1, 2):
            return complexity(base) + 1
        if e.is_Number and e < 0:
            return 2 + _pow_cost(base, -e)  # 1 / base**|e|
        return complexity(base) + complexity(e) + 1
    return 1 + sum(complexity(a) for a in expr.args)


def _pow_cost(base: sympy.Expr, e: sympy.Expr) -> int:
    if e == 1:
        return complexity(base)
    if e == sympy.Rational(1, 2):
        return complexity(base) + 1
    return complexity(base) + complexity(e) + 1


def _term_cost(term: sympy.Expr) -> int:
    # a leading -1 is the subtraction already counted by the Add
    if term.is_Mul and term.args[0] == -1:
        rest = term.func(*term.args[1:])
        return complexity(rest)
    if term.is_Number and term < 0:
        return 1
    return complexity(term)


def _mul_cost(expr: sympy.Expr) -> int:
    num, den = [], []
    for f in expr.args:
        if f == -1:
            continue
        if f.is_Pow and f.args[1].is_Number and f.args[1] < 0:
            den.append(_pow_cost(f.args[0], -f.args[1]))
        elif f.is_Rational and not f.is_Integer:
            num.append(1 if f.p not in (1, -1) else 0)
            den.append(1)
        else:
            num.append(complexity(f))
    num = [c for c in num if c]
    if not num:
        num = [1]  # 1/x
    parts = num + den
    return sum(parts) + len(parts) - 1


def round_constants(expr: sympy.Expr, digits: int = 4) -> sympy.Expr:
    """Round every float constant to ``digits`` significant digits.

    Values that become whole numbers turn into exact integers (``1.0*x`` -> ``x``,
    ``x**2.0`` -> ``x**2``), and sympy folds the result (``0*x`` disappears).
    """
    if not isinstance(digits, int) or digits < 1:
        raise PhysDistillError(f"digits must be a positive integer, got {digits!r}")
    mapping = {}
    for f in expr.atoms(sympy.Float):
        v = float(f)
        r = float(f"{v:.{digits}g}")
        if r == 0:
            mapping[f] = sympy.Integer(0)
        elif r == round(r) and abs(r) < 1e15:
            mapping[f] = sympy.Integer(int(round(r)))
        else:
            mapping[f] = sympy.Float(r)
    return expr.xreplace(mapping) if mapping else expr


def is_supported(expr: sympy.Expr) -> bool:
    try:
        to_tree(expr)
    except PhysDistillError:
        return False
    return True


_TRIG = (sympy.sin, sympy.cos, sympy.tan)


def tidy(expr: sympy.Expr, max_ops: int = 60, seconds: float = 6.0) -> sympy.Expr:
    """The least complex of a few cheap sympy rewrites of ``expr`` (or ``expr`` itself).

    Tried: ``factor_terms``, ``powsimp``, ``expand``, ``together``, ``cancel`` and, when there
    are trigonometric functions, ``trigsimp``; the winner must be supported and strictly less
    complex. (Full ``sympy.simplify`` costs ~0.2 s per candidate and rarely does better on
    engine output, which sympy has already folded.) Expressions with more than ``max_ops``
    operations are left alone, and the rewrites are bounded in time
    (:func:`~physdistill.symbolic.bounded.bounded`: each at most
    :data:`~physdistill.symbolic.bounded.REWRITE_SECONDS`, all together at most ``seconds``);
    a rewrite that runs out of time is skipped, so the worst case returns ``expr`` unchanged.
    """
    if sympy.count_ops(expr) > max_ops:
        return expr
    rewrites = [sympy.factor_terms, sympy.powsimp, sympy.expand, sympy.together, sympy.cancel]
    if expr.has(*_TRIG):
        rewrites.append(sympy.trigsimp)
    best, best_c = expr, complexity(expr)
    end = time.perf_counter() + seconds
    for fn in rewrites:
        left = min(REWRITE_SECONDS, end - time.perf_counter())
        if left <= 0:
            break
        try:
            s = bounded(fn, expr, seconds=left, max_ops=None)
        except Exception:  # sympy raises assorted errors on odd float expressions
            continue
        if not isinstance(s, sympy.Expr) or not s.free_symbols <= expr.free_symbols:
            continue
        c = complexity(s)
        if c < best_c and is_supported(s):
            best, best_c = s, c
    return best
