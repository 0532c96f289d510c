"""The domain-free symbolic layer: symbolic regression, safe expressions, known-law comparison,
and :class:`SymbolicModel` (distil a torch module into equations).

It imports nothing from the domain packages (n-body, heat). ``import physdistill.symbolic``
loads numpy and sympy only; torch loads with :class:`SymbolicModel`, :func:`slime` or
:class:`TorchExpression`, pyoperon when a search runs, and PySR (Julia) only inside the PySR
backend. See ``docs/symbolic.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

from physdistill.symbolic._parse import parse_expression
from physdistill.symbolic.backends import (
    OperonBackend,
    PySRBackend,
    SRBackend,
    available_backends,
    get_backend,
    register_backend,
)
from physdistill.symbolic.compare import Agreement, Comparison, compare
from physdistill.symbolic.config import OPERATORS, SRConfig
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.front import Candidate, ParetoFront
from physdistill.symbolic.regress import regress, regress_columns
from physdistill.symbolic.selection import RULES, select_index

_LAZY = {
    "SymbolicModel": "physdistill.symbolic.model",
    "slime": "physdistill.symbolic.local",
    "TorchExpression": "physdistill.symbolic.torch_expr",
}

__all__ = [
    "OPERATORS", "RULES", "Agreement", "Candidate", "Comparison", "Expression", "OperonBackend",
    "ParetoFront", "PySRBackend", "SRBackend", "SRConfig", "available_backends", "compare",
    "get_backend", "parse_expression", "regress", "regress_columns", "register_backend", "select",
    "select_index",
    *_LAZY,
]


def select(front: ParetoFront, rule: str = "best", *, complexity: int | None = None,
           **kwargs: Any) -> Candidate:
    """The candidate of ``front`` chosen by ``rule`` or of exactly ``complexity``
    (see :mod:`physdistill.symbolic.selection`)."""
    return front.candidates[front.index(rule, complexity=complexity, **kwargs)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'physdistill.symbolic' has no attribute {name!r}")
