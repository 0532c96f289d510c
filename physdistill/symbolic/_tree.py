"""The expression tree: sympy <-> JSON-able nested dicts, and evaluation with numpy or torch.

The tree is the one interchange format of the symbolic layer: files store it, the torch module
is compiled from it, and numpy evaluates it. Each node is a dict with a ``"type"`` key:

=================  ==========================================  =================================
``type``           other keys                                  meaning
=================  ==========================================  =================================
``Symbol``         ``name`` (identifier)                       an input variable
``Float``          ``value`` (finite JSON number)              a fitted constant
``Integer``        ``value`` (int, ``|n| <= 1e15``)            an exact integer
``Rational``       ``p``, ``q`` (ints, ``q > 1``)              an exact fraction ``p/q``
``Constant``       ``name`` (``"pi"`` or ``"E"``)              a mathematical constant
``Add``, ``Mul``   ``args`` (list of >= 2 nodes)               sum, product
``Pow``            ``args`` ([base, exponent])                 power
function names     ``args`` ([x])                              ``sin cos tan exp log sqrt Abs
                                                               tanh sinh cosh``
=================  ==========================================  =================================

Reading a tree checks every node against this whitelist (unknown types or keys, wrong arity,
non-finite numbers, names that are not identifiers) and against size limits (node count, depth)
*before* building anything; while building, every power is checked after its exponent is
built, so a non-literal exact exponent (``Pow(2, Pow(2, 64))``) is refused before sympy forms
the power. A hostile file can neither run code nor exhaust time or memory. Nothing is ever
passed to ``eval``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import (
    MAX_EXACT_EXPONENT,
    MAX_EXACT_INT,
    _checked_pow,
    check_name,
)
from physdistill.symbolic.operators import FUNCTIONS as REGISTRY_FUNCTIONS

MAX_TREE_NODES = 10_000
MAX_TREE_DEPTH = 200

# JSON name -> sympy function (unary functions), from the operator registry
FUNCTIONS: dict[str, Any] = {f.name: f.sympy for f in REGISTRY_FUNCTIONS}
# the ones sympy keeps as function nodes (sqrt is a power in sympy)
_SYMPY_FUNC_NAMES = {f.name for f in REGISTRY_FUNCTIONS if f.name != "sqrt"}
_CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
_LEAF_KEYS = {
    "Symbol": {"type", "name"},
    "Float": {"type", "value"},
    "Integer": {"type", "value"},
    "Rational": {"type", "p", "q"},
    "Constant": {"type", "name"},
}
ALLOWED_TYPES = tuple(sorted([*_LEAF_KEYS, "Add", "Mul", "Pow", *FUNCTIONS]))


# ---------------------------------------------------------------------------------------------
# sympy -> tree


def to_tree(expr: sympy.Basic) -> dict:
    """Convert a sympy expression into the JSON-able tree, checking the whitelist.

    Raises:
        PhysDistillError: the expression holds something the tree cannot represent (another
            function, a complex or infinite number, a relational, ...).
    """
    if isinstance(expr, int) and not isinstance(expr, bool):
        expr = sympy.Integer(expr)
    elif isinstance(expr, float):
        expr = sympy.Float(expr)
    elif not isinstance(expr, sympy.Basic):
        raise PhysDistillError(f"expected a sympy expression, got {type(expr).__name__}")
    try:
        return _to_tree(expr, 0)
    except RecursionError:
        raise PhysDistillError(f"expression is nested deeper than {MAX_TREE_DEPTH}") from None


def _to_tree(e: sympy.Basic, depth: int) -> dict:
    if depth > MAX_TREE_DEPTH:
        raise PhysDistillError(f"expression is nested deeper than {MAX_TREE_DEPTH} levels")
    if e.is_Symbol:
        return {"type": "Symbol", "name": check_name(e.name, "symbol name")}
    if e.is_Integer:
        return {"type": "Integer", "value": int(e)}
    if e.is_Rational:
        return {"type": "Rational", "p": int(e.p), "q": int(e.q)}
    if e.is_Float:
        v = float(e)
        if not math.isfinite(v):
            raise PhysDistillError(f"expression holds the non-finite number {e}; expected "
                                   "finite constants")
        return {"type": "Float", "value": v}
    if e is sympy.pi or e is sympy.E:
        return {"type": "Constant", "name": "pi" if e is sympy.pi else "E"}
    if e.is_Add or e.is_Mul:
        return {"type": "Add" if e.is_Add else "Mul",
                "args": [_to_tree(a, depth + 1) for a in e.args]}
    if e.is_Pow:
        return {"type": "Pow", "args": [_to_tree(a, depth + 1) for a in e.args]}
    name = type(e).__name__
    if isinstance(e, sympy.Function) and name in _SYMPY_FUNC_NAMES and len(e.args) == 1:
        return {"type": name, "args": [_to_tree(e.args[0], depth + 1)]}
    raise PhysDistillError(
        f"expression part {e} ({name}) is not supported; expected numbers, symbols, + * ** "
        f"and the functions {sorted(FUNCTIONS)}")


# ---------------------------------------------------------------------------------------------
# tree -> sympy (validated)


def check_tree(tree: Any) -> None:
    """Validate a tree read from a file; raise PhysDistillError on the first problem."""
    count = 0
    stack = [(tree, 0, "tree")]
    while stack:
        node, depth, where = stack.pop()
        count += 1
        if count > MAX_TREE_NODES:
            raise PhysDistillError(f"expression tree has more than {MAX_TREE_NODES} nodes")
        if depth > MAX_TREE_DEPTH:
            raise PhysDistillError(f"expression tree is deeper than {MAX_TREE_DEPTH} levels")
        if not isinstance(node, dict):
            raise PhysDistillError(f"expression tree node at {where} is a "
                                   f"{type(node).__name__}; expected an object with a 'type'")
        kind = node.get("type")
        if not isinstance(kind, str) or kind not in ALLOWED_TYPES:
            raise PhysDistillError(
                f"expression tree node at {where} has type {str(kind)[:60]!r}; expected one "
                f"of {list(ALLOWED_TYPES)}")
        if kind in _LEAF_KEYS:
            if set(node) != _LEAF_KEYS[kind]:
                raise PhysDistillError(f"{kind} node at {where} has keys {sorted(node)[:8]}; "
                                       f"expected {sorted(_LEAF_KEYS[kind])}")
            _check_leaf(kind, node, where)
            continue
        if set(node) != {"type", "args"} or not isinstance(node["args"], list):
            raise PhysDistillError(f"{kind} node at {where} must have exactly the keys "
                                   "'type' and 'args' (a list)")
        n = len(node["args"])
        need_ok = n >= 2 if kind in ("Add", "Mul") else n == (2 if kind == "Pow" else 1)
        if not need_ok:
            raise PhysDistillError(f"{kind} node at {where} has {n} arguments")
        for i, child in enumerate(node["args"]):
            stack.append((child, depth + 1, f"{where}.args[{i}]"))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_leaf(kind: str, node: dict, where: str) -> None:
    if kind == "Symbol":
        check_name(node["name"], f"symbol name at {where}")
    elif kind == "Float":
        v = node["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise PhysDistillError(f"Float at {where} has value {str(v)[:40]!r}; expected a "
                                   "finite number")
    elif kind == "Integer":
        v = node["value"]
        if not _is_int(v) or abs(v) > MAX_EXACT_INT:
            raise PhysDistillError(f"Integer at {where} has value {str(v)[:40]!r}; expected an "
                                   f"integer with |n| <= {MAX_EXACT_INT}")
    elif kind == "Rational":
        p, q = node["p"], node["q"]
        if not (_is_int(p) and _is_int(q)) or q < 2 or abs(p) > MAX_EXACT_INT \
                or q > MAX_EXACT_INT:
            raise PhysDistillError(f"Rational at {where} is {str(p)[:20]}/{str(q)[:20]}; "
                                   f"expected integers with 2 <= q and |p|, q <= {MAX_EXACT_INT}")
    elif kind == "Constant":
        if node["name"] not in _CONSTANTS:
            raise PhysDistillError(f"Constant at {where} is {str(node['name'])[:40]!r}; "
                                   "expected 'pi' or 'E'")


def _is_exact_number(node: dict) -> bool:
    return node["type"] in ("Integer", "Rational")


def from_tree(tree: Any) -> sympy.Expr:
    """Build the sympy expression of a tree, validating it first (see :func:`check_tree`)."""
    check_tree(tree)
    symbols: dict[str, sympy.Symbol] = {}

    def build(node: dict):
        kind = node["type"]
        if kind == "Symbol":
            name = node["name"]
            return symbols.setdefault(name, sympy.Symbol(name))
        if kind == "Float":
            return sympy.Float(float(node["value"]))
        if kind == "Integer":
            return sympy.Integer(node["value"])
        if kind == "Rational":
            return sympy.Rational(node["p"], node["q"])
        if kind == "Constant":
            return _CONSTANTS[node["name"]]
        if kind == "Pow":
            base_node, exp_node = node["args"]
            if _is_exact_number(exp_node):
                exp_val = sympy.Rational(exp_node.get("p", exp_node.get("value")),
                                         exp_node.get("q", 1))
                if abs(exp_val) > MAX_EXACT_EXPONENT:
                    raise PhysDistillError(f"exact exponent {exp_val} is too large "
                                           f"(|exponent| <= {MAX_EXACT_EXPONENT})")
                if _exact_compound(base_node):
                    raise PhysDistillError("an exact power of an exact compound number must be "
                                           "written as one number")
            # the built exponent is checked too: a non-literal exact exponent such as
            # Pow(2, 64) folds into a number before the outer power is formed
            return _checked_pow(build(base_node), build(exp_node))
        args = [build(a) for a in node["args"]]
        if kind in ("Add", "Mul") and sum(a.is_Number and not a.is_Float for a in args) > 1:
            # sympy folds exact numbers (our writer never stores two in one node); folding
            # crafted ones could build astronomically large integers
            raise PhysDistillError(f"{kind} node holds more than one exact number; expected "
                                   "them folded into one")
        if kind == "Add":
            return sympy.Add(*args)
        if kind == "Mul":
            return sympy.Mul(*args)
        return FUNCTIONS[kind](args[0])

    try:
        return build(tree)
    except RecursionError:
        raise PhysDistillError("expression tree is nested too deeply") from None


def _exact_compound(node: dict) -> bool:
    """True for an Add/Mul/Pow made only of exact numbers (sympy would fold it into one
    number, possibly an astronomically large one; our writer never produces it)."""
    if node["type"] not in ("Add", "Mul", "Pow"):
        return False
    stack = [node]
    while stack:
        n = stack.pop()
        if n["type"] not in ("Add", "Mul", "Pow", "Integer", "Rational"):
            return False
        stack.extend(n.get("args", []))
    return True


# ---------------------------------------------------------------------------------------------
# evaluation


class Ops:
    """The array operations evaluation needs; one instance for numpy, one for torch."""

    def __init__(self, lib: Any, funcs: Mapping[str, Callable], sqrt: Callable,
                 power: Callable):
        self.lib = lib
        self.funcs = funcs
        self.sqrt = sqrt
        self.power = power


def numpy_ops() -> Ops:
    import numpy as np

    funcs = {f.name: f.numpy for f in REGISTRY_FUNCTIONS}
    return Ops(np, funcs, np.sqrt, np.power)


def evaluate_tree(tree: dict, env: Mapping[str, Any], ops: Ops,
                  const: Callable[[dict], Any] | None = None) -> Any:
    """Evaluate a (validated) tree.

    Args:
        tree: a node as produced by :func:`to_tree`.
        env: symbol name -> array (or scalar).
        ops: the array library (see :func:`numpy_ops`).
        const: optional hook mapping a ``Float`` node to a value (the torch module uses it to
            put parameters in place of constants).
    """
    kind = tree["type"]
    if kind == "Symbol":
        return env[tree["name"]]
    if kind == "Float":
        return const(tree) if const is not None else float(tree["value"])
    if kind == "Integer":
        return int(tree["value"])
    if kind == "Rational":
        return tree["p"] / tree["q"]
    if kind == "Constant":
        return math.pi if tree["name"] == "pi" else math.e
    if kind == "Pow":
        base_node, exp_node = tree["args"]
        base = evaluate_tree(base_node, env, ops, const)
        if exp_node["type"] == "Integer":
            return base ** int(exp_node["value"])
        if exp_node["type"] == "Rational" and (exp_node["p"], exp_node["q"]) == (1, 2):
            return ops.sqrt(base)
        if exp_node["type"] == "Rational" and (exp_node["p"], exp_node["q"]) == (-1, 2):
            return 1.0 / ops.sqrt(base)
        return ops.power(base, evaluate_tree(exp_node, env, ops, const))
    args = [evaluate_tree(a, env, ops, const) for a in tree["args"]]
    if kind == "Add":
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out
    if kind == "Mul":
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    return ops.funcs[kind](args[0])
