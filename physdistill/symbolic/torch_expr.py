"""An :class:`~physdistill.symbolic.expr.Expression` as a differentiable torch module.

The module evaluates the expression's JSON tree with torch ops and gives back an Expression
through the source's own :meth:`~physdistill.symbolic.expr.Expression.with_constants`, so it
needs nothing from :mod:`~physdistill.symbolic.expr` at run time; ``Expression.torch()``
imports this module (and torch) only when called.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.symbolic._tree import Ops, evaluate_tree
from physdistill.symbolic.operators import FUNCTIONS

if TYPE_CHECKING:
    from physdistill.symbolic.expr import Expression


def _as_tensor(x: Any, like: torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.tensor(float(x), dtype=torch.float64, device=like.device)


def _scalar_safe(tfn, mfn):
    """Apply ``tfn`` to tensors and ``mfn`` to plain numbers (NaN where math refuses)."""
    def fn(x):
        if isinstance(x, torch.Tensor):
            return tfn(x)
        try:
            return mfn(float(x))
        except (ValueError, OverflowError):
            return float("nan")
    return fn


def _power(base, exponent):
    if isinstance(base, torch.Tensor) or isinstance(exponent, torch.Tensor):
        if not isinstance(base, torch.Tensor):
            base = torch.tensor(float(base), dtype=torch.float64, device=exponent.device)
        return torch.pow(base, exponent)
    try:
        return math.pow(base, exponent)
    except (ValueError, OverflowError):
        return float("nan")


_FUNCS = {f.name: _scalar_safe(getattr(torch, f.torch), f.math) for f in FUNCTIONS}
_TORCH_OPS = Ops(torch, _FUNCS, _FUNCS["sqrt"], _power)


class TorchExpression(nn.Module):
    r"""Evaluate an expression with torch ops, on any device, with autograd.

    The float constants :math:`c_1..c_k` of the expression live in one float64 vector
    ``constants``: an ``nn.Parameter`` when ``trainable=True`` (so an optimiser can refine
    them), else a buffer. Exact numbers (integer exponents, rationals) stay exact. Being 0-dim,
    the constants do not change the dtype of the result: float32 inputs give float32 outputs.

    Args:
        expression: the expression to compile.
        trainable: make the constants trainable parameters.

    Shapes:
        - input: a tensor ``(*, len(variables))`` whose last axis follows ``variables``, or a
          mapping name -> tensor ``(*)``.
        - output: ``(*)``.

    :meth:`sympy` and :meth:`expression` give back the expression with the current (possibly
    trained) constant values.
    """

    def __init__(self, expression: Expression, trainable: bool = False):
        super().__init__()
        if not all(hasattr(expression, a) for a in ("variables", "tree", "with_constants")):
            raise PhysDistillError(f"expected an Expression, got {type(expression).__name__}")
        self._source = expression
        self.variables = expression.variables
        self._tree = expression.tree
        values: list[float] = []
        stack = [self._tree]
        while stack:
            node = stack.pop()
            if node["type"] == "Float":
                node["slot"] = len(values)  # internal copy only; never written to files
                values.append(node["value"])
            stack.extend(reversed(node.get("args", [])))
        data = torch.tensor(values, dtype=torch.float64)
        if trainable:
            self.constants = nn.Parameter(data)
        else:
            self.register_buffer("constants", data)

    def _const(self, node: dict) -> torch.Tensor:
        return self.constants[node["slot"]]

    def forward(self, inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        if isinstance(inputs, Mapping):
            missing = [v for v in self.variables if v not in inputs]
            if missing:
                raise PhysDistillError(f"inputs lack the variables {missing}; got "
                                       f"{sorted(inputs)}")
            env = {v: inputs[v] for v in self.variables}
            ref = next(iter(env.values()), None)
        else:
            if not isinstance(inputs, torch.Tensor) or inputs.ndim < 1 \
                    or inputs.shape[-1] != len(self.variables):
                shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else None
                raise PhysDistillError(
                    f"expected a tensor of shape (*, {len(self.variables)}) with last axis "
                    f"{list(self.variables)}, got {type(inputs).__name__} of shape {shape}")
            env = {v: inputs[..., i] for i, v in enumerate(self.variables)}
            ref = inputs[..., 0] if self.variables else inputs.sum(-1)
        out = evaluate_tree(self._tree, env, _TORCH_OPS, self._const)
        out = _as_tensor(out, self.constants)
        if ref is not None:
            if out.device != ref.device:
                out = out.to(ref.device)
            dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
            out = out.to(dtype).expand(ref.shape) if out.shape != ref.shape else out.to(dtype)
        return out

    def sympy(self):
        """The expression with the current constant values (full precision)."""
        return self.expression().sympy()

    def expression(self) -> Expression:
        """The source expression with the current constant values (the slots follow
        :attr:`Expression.constants` order)."""
        return self._source.with_constants(self.constants.detach().cpu().tolist())

    def extra_repr(self) -> str:
        return f"{self.expression()}, variables={list(self.variables)}"

