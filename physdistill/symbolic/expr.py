"""Closed-form expressions: text, LaTeX, numpy/torch evaluation and a JSON tree format.

An :class:`Expression` is an immutable sympy expression over an ordered tuple of named input
variables. It is built from sympy or from text through the safe parser (no ``eval``), and it
only ever holds whitelisted nodes (see :mod:`physdistill.symbolic._tree`), so anything that
reached an Expression can be evaluated, differentiated and written to JSON. Its complexity is
the node count of :func:`~physdistill.symbolic.sympy_tools.complexity`; the functions on bare
sympy expressions (rounding, tidying) are in :mod:`~physdistill.symbolic.sympy_tools`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from physdistill._io import atomic_write_text
from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import check_name, parse_expression
from physdistill.symbolic._tree import evaluate_tree, from_tree, numpy_ops, to_tree
from physdistill.symbolic.sympy_tools import complexity, plain_symbols, round_constants

if TYPE_CHECKING:
    from physdistill.symbolic.torch_expr import TorchExpression

#: serialises sympy work when searches for several outputs run in threads (the engines run in
#: parallel; sympy's caches are not documented as thread-safe)
SYMPY_LOCK = threading.RLock()

FORMAT = "physdistill.expression"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 10_000_000

_NUMPY_OPS = None


def _np_ops():
    global _NUMPY_OPS
    if _NUMPY_OPS is None:
        _NUMPY_OPS = numpy_ops()
    return _NUMPY_OPS


class Expression:
    """An immutable closed-form expression over named variables.

    Args:
        expr: a sympy expression, an :class:`Expression`, or text such as
            ``"2.5*sin(x0) + x1^2"`` (read by the safe parser; ``^`` means power).
        variables: the ordered input names; column ``i`` of an input matrix is
            ``variables[i]``. Default: the free symbols, sorted by name.

    Raises:
        PhysDistillError: unsupported parts (see the JSON format in ``docs/symbolic.md``),
            unusable names, or free symbols missing from ``variables``.

    Example:
        >>> e = Expression("2.50000031*sin(x0) + x1**2", ["x0", "x1"])
        >>> str(e)
        'x1**2 + 2.5*sin(x0)'
        >>> e.evaluate(np.array([[0.0, 2.0]]))
        array([4.])
    """

    __slots__ = ("_expr", "_tree", "_variables", "_complexity")

    def __init__(self, expr: sympy.Expr | str | Expression,
                 variables: Sequence[str] | None = None):
        if isinstance(expr, Expression):
            variables = expr.variables if variables is None else variables
            expr = expr.sympy()
        elif isinstance(expr, str):
            expr = parse_expression(expr, variables)
        elif isinstance(expr, (int, float)) and not isinstance(expr, bool):
            expr = sympy.Integer(expr) if isinstance(expr, int) else sympy.Float(expr)
        if not isinstance(expr, sympy.Expr):
            raise PhysDistillError(f"expected a sympy expression or a string, got "
                                   f"{type(expr).__name__}")
        expr = plain_symbols(expr)
        self._tree = to_tree(expr)
        self._expr = expr
        names = sorted(s.name for s in expr.free_symbols)
        if variables is None:
            variables = names
        variables = tuple(check_name(v) for v in variables)
        if len(set(variables)) != len(variables):
            raise PhysDistillError(f"variable names must be unique, got {list(variables)}")
        missing = sorted(set(names) - set(variables))
        if missing:
            raise PhysDistillError(f"expression {expr} uses {missing}, which are not among its "
                                   f"variables {list(variables)}; add them to `variables`")
        self._variables = variables
        self._complexity = None

    # --- views -------------------------------------------------------------------------------

    @property
    def variables(self) -> tuple[str, ...]:
        return self._variables

    def sympy(self) -> sympy.Expr:
        """The expression at full precision."""
        return self._expr

    @property
    def tree(self) -> dict:
        """The JSON-able tree (a fresh copy)."""
        return json.loads(json.dumps(self._tree))

    @property
    def complexity(self) -> int:
        if self._complexity is None:
            self._complexity = complexity(self._expr)
        return self._complexity

    @property
    def constants(self) -> list[float]:
        """The float constants, in tree order."""
        out: list[float] = []
        stack = [self._tree]
        while stack:
            node = stack.pop()
            if node["type"] == "Float":
                out.append(node["value"])
            stack.extend(reversed(node.get("args", [])))
        return out

    def rounded(self, digits: int = 4) -> sympy.Expr:
        """The expression with constants rounded to ``digits`` significant digits."""
        return round_constants(self._expr, digits)

    def text(self, digits: int = 4) -> str:
        return sympy.sstr(self.rounded(digits), full_prec=False)

    def latex(self, digits: int = 4) -> str:
        return sympy.latex(self.rounded(digits), full_prec=False)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Expression({str(self._expr)!r}, variables={list(self._variables)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self._variables == other._variables and self._expr == other._expr

    def __hash__(self) -> int:
        return hash((self._variables, self._expr))

    # --- evaluation --------------------------------------------------------------------------

    def _env(self, X: Any) -> tuple[dict[str, np.ndarray], int]:
        if isinstance(X, Mapping):
            missing = [v for v in self._variables if v not in X]
            if missing:
                raise PhysDistillError(f"inputs lack the variables {missing}; got "
                                       f"{sorted(X)}")
            env = {v: np.asarray(X[v], dtype=np.float64).reshape(-1) for v in self._variables}
            sizes = {a.shape[0] for a in env.values()}
            if len(sizes) > 1:
                raise PhysDistillError(f"input arrays differ in length: {sorted(sizes)}")
            n = sizes.pop() if sizes else len(np.atleast_1d(next(iter(X.values()), [0.0])))
            return env, n
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self._variables):
            raise PhysDistillError(
                f"expected inputs of shape (n, {len(self._variables)}) with columns "
                f"{list(self._variables)}, got shape {X.shape}")
        return {v: X[:, i] for i, v in enumerate(self._variables)}, X.shape[0]

    def evaluate(self, X: Any) -> np.ndarray:
        """Evaluate with numpy (float64).

        Args:
            X: array of shape ``(n, len(variables))`` (columns in ``variables`` order) or a
                mapping name -> array of shape ``(n,)``.

        Returns:
            Array of shape ``(n,)``; invalid operations (log of a negative) give NaN.
        """
        env, n = self._env(X)
        with np.errstate(all="ignore"):
            out = evaluate_tree(self._tree, env, _np_ops())
        return np.broadcast_to(np.asarray(out, dtype=np.float64), (n,)).copy()

    def torch(self, trainable: bool = False) -> TorchExpression:
        """A differentiable ``torch.nn.Module`` computing this expression (see
        :class:`~physdistill.symbolic.torch_expr.TorchExpression`)."""
        # imported here so that torch loads only when asked for (torch_expr imports no expr)
        from physdistill.symbolic.torch_expr import TorchExpression

        return TorchExpression(self, trainable=trainable)

    # --- derived expressions -----------------------------------------------------------------

    def with_constants(self, values: Iterable[float]) -> Expression:
        """A copy with the float constants replaced, in :attr:`constants` order."""
        values = [float(v) for v in values]
        if len(values) != len(self.constants):
            raise PhysDistillError(f"expected {len(self.constants)} constants, got "
                                   f"{len(values)}")
        it = iter(values)
        tree = self.tree

        stack = [tree]
        while stack:
            node = stack.pop()
            if node["type"] == "Float":
                node["value"] = next(it)
            stack.extend(reversed(node.get("args", [])))
        return Expression(from_tree(tree), self._variables)

    # --- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The JSON-able form: ``{"format", "version", "variables", "tree"}``."""
        return {"format": FORMAT, "version": FORMAT_VERSION,
                "variables": list(self._variables), "tree": self.tree}

    @classmethod
    def from_dict(cls, data: Any) -> Expression:
        """Rebuild from :meth:`to_dict` output, validating every node (nothing is executed)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PhysDistillError(f"not a physdistill expression: expected an object with "
                                   f"format={FORMAT!r}")
        if data.get("version") != FORMAT_VERSION:
            raise PhysDistillError(f"expression format version {data.get('version')!r} is not "
                                   f"supported; expected {FORMAT_VERSION}")
        if set(data) != {"format", "version", "variables", "tree"}:
            raise PhysDistillError(f"expression object has keys {sorted(data)[:10]}; expected "
                                   "format, version, variables, tree")
        variables = data["variables"]
        if not isinstance(variables, list) or len(variables) > 10_000:
            raise PhysDistillError("expression 'variables' must be a list of names")
        return cls(from_tree(data["tree"]), [check_name(v) for v in variables])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Expression:
        if len(text) > MAX_FILE_BYTES:
            raise PhysDistillError(f"expression JSON is {len(text)} bytes; the limit is "
                                   f"{MAX_FILE_BYTES}")
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise PhysDistillError(f"expression JSON is corrupt ({str(exc)[:120]})") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_json` to ``path`` atomically."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Expression:
        """Read a file written by :meth:`save`. Corrupt or hostile files raise
        PhysDistillError and execute nothing."""
        path = Path(path)
        if not path.is_file():
            raise PhysDistillError(f"expression file not found: {path}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PhysDistillError(f"{path} is {size} bytes; an expression file is at most "
                                   f"{MAX_FILE_BYTES}")
        try:
            return cls.from_json(path.read_bytes())
        except PhysDistillError as exc:
            raise PhysDistillError(f"{path}: {exc}") from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")
