"""The symbolic forward pass of :class:`~physdistill.symbolic.model.SymbolicModel`: choose one
equation per output from the distilled fronts, install them as torch modules and evaluate them
in place of the wrapped module.

A mixin: :class:`SymbolicModel` holds the fronts and the recorded specs these methods read; it
is not used on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.symbolic.capture import (
    flatten_call,
    flatten_output,
    lead_shape,
)
from physdistill.symbolic.expr import Expression

if TYPE_CHECKING:
    from physdistill.symbolic.model import SymbolicModel


class _Switching:
    """The switching and symbolic-forward methods of :class:`SymbolicModel`."""

    # --- switching ---------------------------------------------------------------------------

    def _check_distilled(self) -> None:
        if not getattr(self, "fronts_", None):
            raise PhysDistillError("this SymbolicModel is not distilled yet; call distill() "
                                   "first")

    def switch_to_symbolic(self, complexity: int | Mapping[Any, Any] | None = None, *,
                           rule: str | None = None, trainable: bool = False) -> SymbolicModel:
        """Evaluate equations instead of the module in :meth:`forward`.

        Args:
            complexity: ``None`` (each front's chosen candidate, or ``rule``), one complexity
                for every dimension, or a mapping ``dim -> complexity or rule name``.
                Dimensions without a front keep the module's output.
            rule: a selection rule for the dimensions not given in ``complexity``.
            trainable: make the equations' constants trainable parameters.

        Raises:
            PhysDistillError: not distilled, or the weights/transforms changed since
                :meth:`distill` (the equations would be stale).
        """
        self._check_distilled()
        if self._state_key() != self.distill_key_:
            raise PhysDistillError("the module's weights or the transforms changed since "
                                   "distill(); the equations are stale: record new samples and "
                                   "call distill() again")
        choice: dict[int, Any] = {}
        if isinstance(complexity, Mapping):
            for k, v in complexity.items():
                (d,) = self._dims([k])
                choice[d] = v
        elif complexity is not None:
            choice = {d: complexity for d in self.fronts_}
        equations = {}
        for d, front in self.fronts_.items():
            c = choice.get(d)
            try:
                if isinstance(c, str):
                    cand = front.candidates[front.index(c, factor=self.factor)]
                elif c is not None:
                    cand = front.at_complexity(c)
                elif rule is not None:
                    cand = front.candidates[front.index(rule, factor=self.factor)]
                else:
                    cand = front.chosen
            except PhysDistillError as exc:
                raise PhysDistillError(f"output {d}: {exc}") from None
            equations[d] = cand.expression
        self._install(equations, trainable)
        return self

    def _install(self, equations: Mapping[int, Expression], trainable: bool) -> None:
        self.equations_ = dict(equations)
        self.equation_modules_ = nn.ModuleDict(
            {str(d): e.torch(trainable=trainable) for d, e in self.equations_.items()})
        self.transform_modules_ = nn.ModuleDict(
            {k: e.torch() for k, e in self._transform_exprs().items()})
        self.mode_ = "symbolic"

    def switch_to_neural(self) -> SymbolicModel:
        """Run the module again in :meth:`forward` (the equations are kept)."""
        self.mode_ = "neural"
        return self

    # --- forward -----------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.mode_ == "symbolic":
            return self._symbolic(args, kwargs)
        out = self.module(*args, **kwargs)
        if not isinstance(self.module, nn.Module) and self._active:
            self._record(None, args, kwargs, out)
        return out

    def _symbolic(self, args, kwargs) -> Any:
        specs, blocks = flatten_call(args, kwargs)
        if specs != self.input_spec_:
            raise PhysDistillError(f"this call's inputs {[s.to_list() for s in specs]} differ "
                                   f"from the recorded ones "
                                   f"{[s.to_list() for s in self.input_spec_]}")
        X = torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]
        self._move_to(X.device)
        env = {n: X[:, j] for j, n in enumerate(self.input_columns())}
        for name, mod in self.transform_modules_.items():
            env[name] = mod(env)
        cols, neural = [], None
        for d in range(self.n_outputs):
            mod = self.equation_modules_[str(d)] if str(d) in self.equation_modules_ else None
            if mod is not None:
                cols.append(mod(env))
                continue
            if neural is None:
                self._suspend = True
                try:
                    neural = torch.cat(flatten_output(self.module(*args, **kwargs))[1], dim=1)
                finally:
                    self._suspend = False
            cols.append(neural[:, d])
        dtype = X.dtype if X.is_floating_point() else torch.get_default_dtype()
        Y = torch.stack([c.to(dtype) for c in cols], dim=1)
        lead = lead_shape(args, kwargs)
        outs, a = [], 0
        for spec in self.output_spec_:
            block = Y[:, a:a + spec.width]
            a += spec.width
            outs.append(block.reshape(lead) if spec.vector else block.reshape(*lead, spec.width))
        if self.output_kind_ == "tensor":
            return outs[0]
        return list(outs) if self.output_kind_ == "list" else tuple(outs)

    def _move_to(self, device: torch.device) -> None:
        for mods in (self.equation_modules_, self.transform_modules_):
            for m in mods.values():
                if m.constants.device != device:
                    m.to(device)
