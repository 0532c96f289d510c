"""The one operator registry: every function and search operator the symbolic layer knows.

Each entry says, in one place, what a name means to every part that reads expressions:

* the JSON tree (:mod:`~physdistill.symbolic._tree`) stores a function under its
  :attr:`Function.name` and rebuilds it with :attr:`Function.sympy`;
* the safe text parser (:mod:`~physdistill.symbolic._parse`) reads the name and its
  :attr:`Function.aliases`, plus the engines' spellings of powers (``square``, ``cube``,
  ``inv``, ``neg``, ``pow``);
* evaluation with numpy (:class:`~physdistill.symbolic.expr.Expression`) and with torch
  (:class:`~physdistill.symbolic.torch_expr.TorchExpression`) call :attr:`Function.numpy` and
  :attr:`Function.torch`;
* a search (:class:`~physdistill.symbolic.config.SRConfig`) names operators from
  :data:`SEARCH_OPERATORS`, and each backend translates them with :func:`engine_spelling`.

Adding a function means adding one :class:`Function` row (and, for searches, one
:class:`SearchOperator` row with the engines' spellings); nothing else keeps a list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy


@dataclass(frozen=True)
class Function:
    """A unary function of expressions.

    Args:
        name: its name in the JSON tree and in printed text (sympy's class name).
        sympy: the sympy function.
        numpy, math: the function on arrays and on plain floats.
        torch: the name of the torch function on tensors (a name, so that this module, read
            by the numpy-only parts, does not import torch).
        aliases: other spellings the text parser accepts (``abs`` for ``Abs``).
    """

    name: str
    sympy: Any
    numpy: Callable
    math: Callable
    torch: str
    aliases: tuple[str, ...] = ()


FUNCTIONS: tuple[Function, ...] = (
    Function("sin", sympy.sin, np.sin, math.sin, "sin"),
    Function("cos", sympy.cos, np.cos, math.cos, "cos"),
    Function("tan", sympy.tan, np.tan, math.tan, "tan"),
    Function("exp", sympy.exp, np.exp, math.exp, "exp"),
    Function("log", sympy.log, np.log, math.log, "log"),
    Function("sqrt", sympy.sqrt, np.sqrt, math.sqrt, "sqrt"),
    Function("Abs", sympy.Abs, np.abs, abs, "abs", aliases=("abs",)),
    Function("tanh", sympy.tanh, np.tanh, math.tanh, "tanh"),
    Function("sinh", sympy.sinh, np.sinh, math.sinh, "sinh"),
    Function("cosh", sympy.cosh, np.cosh, math.cosh, "cosh"),
)
FUNCTION_BY_NAME: Mapping[str, Function] = {f.name: f for f in FUNCTIONS}


def _sq(a: Any) -> Any:
    return a**2


def _cube(a: Any) -> Any:
    return a**3


def _inv(a: Any) -> Any:
    return 1 / a


def _neg(a: Any) -> Any:
    return -a


#: engine spellings of powers and negation that the parser reads (they become ordinary sympy
#: powers): name -> (arity, builder); ``pow`` is filled in by the parser (its checked power)
POWER_SPELLINGS: Mapping[str, tuple[int, Callable]] = {
    "square": (1, _sq), "cube": (1, _cube), "inv": (1, _inv), "neg": (1, _neg),
}


@dataclass(frozen=True)
class SearchOperator:
    """An operator a symbolic-regression search may use.

    Args:
        name: our name (``SRConfig.operators``).
        arity: 1 or 2.
        engines: engine -> its spelling: for operon a tuple of its symbols, for PySR
            ``(kind, name)`` with kind ``"unary"`` or ``"binary"``.
        function: the :class:`Function` it builds, where it is one (``None`` for arithmetic
            and powers).
    """

    name: str
    arity: int
    engines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    function: str | None = None


def _op(name: str, arity: int, operon: tuple[str, ...], pysr: str,
        function: str | None = None) -> SearchOperator:
    kind = "binary" if arity == 2 else "unary"
    return SearchOperator(name, arity, {"operon": operon, "pysr": (kind, pysr)}, function)


#: every search operator, in the order searches list them
SEARCH_OPERATORS: tuple[SearchOperator, ...] = (
    _op("+", 2, ("add",), "+"),
    _op("-", 2, ("sub",), "-"),
    _op("*", 2, ("mul",), "*"),
    _op("/", 2, ("div",), "/"),
    _op("sin", 1, ("sin",), "sin", "sin"),
    _op("cos", 1, ("cos",), "cos", "cos"),
    _op("exp", 1, ("exp",), "exp", "exp"),
    _op("log", 1, ("log",), "log", "log"),
    _op("sqrt", 1, ("sqrt",), "sqrt", "sqrt"),
    _op("pow", 2, ("pow",), "^"),
    _op("inv", 1, ("div",), "inv"),  # operon writes c / x with its division
    _op("square", 1, ("square",), "square"),
    _op("cube", 1, ("square", "mul"), "cube"),  # operon has no cube: x * square(x)
)
SEARCH_BY_NAME: Mapping[str, SearchOperator] = {o.name: o for o in SEARCH_OPERATORS}
BASE_OPERATORS: tuple[str, ...] = ("+", "-", "*", "/")


def engine_spelling(engine: str) -> dict[str, tuple[str, ...]]:
    """Our operator name -> ``engine``'s spelling, for the operators that engine has."""
    return {o.name: o.engines[engine] for o in SEARCH_OPERATORS if engine in o.engines}


def search_operators_of(expr: sympy.Expr) -> tuple[str, ...]:
    """The search operators that build the functions appearing in ``expr`` (e.g. ``exp`` for
    a Yukawa force), in registry order."""
    present = {type(f).__name__ for f in expr.atoms(sympy.Function)}
    return tuple(o.name for o in SEARCH_OPERATORS if o.function in present)
