"""Recording for :class:`~physdistill.symbolic.model.SymbolicModel`: capture a module's calls
into a reservoir of rows, and name the rows' columns (inputs, outputs, transforms, features).

A mixin: :class:`SymbolicModel` holds the state these methods read (``module``, the names,
``transforms``, the reservoir and the recorded specs); it is not used on its own.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import check_name, parse_expression
from physdistill.symbolic.capture import (
    Reservoir,
    flatten_call,
    flatten_output,
)
from physdistill.symbolic.expr import Expression

if TYPE_CHECKING:
    from physdistill.symbolic.model import SymbolicModel


def _weights_key(module: Any) -> str:
    """sha256 of every parameter and buffer (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    if isinstance(module, nn.Module):
        for name, t in sorted(module.state_dict().items()):
            if not isinstance(t, torch.Tensor):
                continue
            t = t.detach().cpu().contiguous().reshape(-1)
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class _Recording:
    """The recording and column-naming methods of :class:`SymbolicModel`."""

    # --- recording ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def capture(self) -> Iterator[SymbolicModel]:
        """Record every call of the module inside the ``with`` block.

        If the module's weights changed since the samples already held were recorded, those
        samples are dropped first (they describe a different function).
        """
        key = _weights_key(self.module)
        if self._reservoir is not None and self._samples_key != key:
            self.clear_samples()
        self._samples_key = key
        handle = None
        if isinstance(self.module, nn.Module):
            handle = self.module.register_forward_hook(self._record, with_kwargs=True)
        self._active += 1
        try:
            yield self
        finally:
            self._active -= 1
            if handle is not None:
                handle.remove()

    def clear_samples(self) -> None:
        """Forget the recorded samples (the call signature is kept)."""
        self._reservoir = None
        self._samples_key = None

    @property
    def n_samples(self) -> int:
        return 0 if self._reservoir is None else self._reservoir.size

    def _record(self, module, args, kwargs, output) -> None:
        if self._suspend:
            return
        in_specs, in_blocks = flatten_call(args, kwargs)
        out_specs, out_blocks = flatten_output(output)
        if not in_blocks:
            raise PhysDistillError("the recorded call has no floating-point tensor input")
        kind = "tensor" if isinstance(output, torch.Tensor) else type(output).__name__
        if self.input_spec_ is None:
            self.input_spec_, self.output_spec_, self.output_kind_ = in_specs, out_specs, kind
        elif in_specs != self.input_spec_ or out_specs != self.output_spec_:
            raise PhysDistillError(
                f"this call's tensors {[s.to_list() for s in in_specs + out_specs]} differ from "
                f"the earlier calls' {[s.to_list() for s in self.input_spec_ + self.output_spec_]}"
                "; record one call signature per SymbolicModel (clear_samples() does not reset "
                "it; make a new SymbolicModel)")
        if self._reservoir is None:
            self._reservoir = Reservoir(self.max_samples, self.seed)
        self._reservoir.add(in_blocks + out_blocks)

    # --- names -------------------------------------------------------------------------------

    def _need_spec(self) -> None:
        if self.input_spec_ is None:
            raise PhysDistillError("no call recorded yet: run the model inside "
                                   "`with symbolic_model.capture():` first")

    @property
    def n_inputs(self) -> int:
        self._need_spec()
        return sum(s.width for s in self.input_spec_)

    @property
    def n_outputs(self) -> int:
        self._need_spec()
        return sum(s.width for s in self.output_spec_)

    def _names(self, given, n: int, prefix: str, what: str) -> list[str]:
        if given is None:
            return [f"{prefix}{i}" for i in range(n)]
        names = [check_name(v, f"{what} name") for v in given]
        if len(names) != n or len(set(names)) != n:
            spec = self.input_spec_ if what == "input" else self.output_spec_
            raise PhysDistillError(
                f"{what}_names has {len(names)} names {names} but the recorded calls have {n} "
                f"{what} columns ({', '.join(f'{s.where}: {s.width}' for s in spec)}); give "
                f"{n} unique names")
        return names

    def input_columns(self) -> list[str]:
        return self._names(self.input_names, self.n_inputs, "x", "input")

    def output_columns(self) -> list[str]:
        return self._names(self.output_names, self.n_outputs, "y", "output")

    def _transform_exprs(self) -> dict[str, Expression]:
        inputs = self.input_columns()
        if self.transforms is None:
            return {}
        if not isinstance(self.transforms, Mapping):
            raise PhysDistillError("transforms must be a mapping name -> formula text, e.g. "
                                   "{'r': 'sqrt(dx**2 + dy**2)'}")
        out = {}
        for name, formula in self.transforms.items():
            check_name(name, "transform name")
            if name in inputs:
                raise PhysDistillError(f"transform {name!r} has the name of an input; rename it")
            if not isinstance(formula, str):
                raise PhysDistillError(
                    f"transform {name!r} is a {type(formula).__name__}; write it as a formula "
                    "of the input names, e.g. 'sqrt(dx**2 + dy**2)' (a function cannot be "
                    "saved or compared, a formula can)")
            out[name] = Expression(parse_expression(formula, inputs,
                                                    what=f"transform {name!r}"))
        return out

    def feature_columns(self) -> list[str]:
        base = self.input_columns() + list(self._transform_exprs())
        if self.features is None:
            return base
        feats = list(self.features)
        unknown = [f for f in feats if f not in base]
        if unknown or not feats or len(set(feats)) != len(feats):
            raise PhysDistillError(f"features {feats} must be unique names among the inputs "
                                   f"and transforms {base}")
        return feats
