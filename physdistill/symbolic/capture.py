"""Recording what a module sees and returns: call flattening and a reservoir sample.

Column order
------------
A call ``module(*args, **kwargs)`` becomes one row per sample: first the tensor positional
arguments in order, then the tensor keyword arguments sorted by name. A tensor of shape
``(*lead, d)`` (``ndim >= 2``) gives ``d`` columns and ``prod(lead)`` rows; a tensor of shape
``(n,)`` gives one column and ``n`` rows. Non-tensor arguments, 0-dim tensors and tensors that
are not floating point (indices such as a PyG ``edge_index``, masks) are ignored.
Outputs (a tensor, or a tuple/list of tensors) are flattened the same way. Every recorded
tensor of one call must give the same number of rows.

Reservoir
---------
:class:`Reservoir` keeps a uniform random sample of at most ``capacity`` rows of everything it
was given (Vitter's Algorithm R, vectorised per call): row ``i`` (0-based, over all calls) is
kept with probability ``capacity / (i + 1)``, replacing a random kept row. Only the rows that are
kept leave the device, in chunks of :data:`CHUNK` rows, as float64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from physdistill.errors import PhysDistillError

CHUNK = 65_536


@dataclass(frozen=True)
class TensorSpec:
    """Where a recorded tensor came from and how it maps to columns."""

    where: str  # "arg0", "kw:edge_attr", "out0"
    width: int  # number of columns
    vector: bool  # ndim == 1: one column, each element a sample

    def to_list(self) -> list:
        return [self.where, self.width, self.vector]

    @classmethod
    def from_list(cls, data: Any) -> TensorSpec:
        if not (isinstance(data, list) and len(data) == 3 and isinstance(data[0], str)
                and isinstance(data[1], int) and data[1] >= 1 and isinstance(data[2], bool)):
            raise PhysDistillError(f"corrupt tensor spec {str(data)[:80]}")
        return cls(data[0][:200], data[1], data[2])


def _rows(t: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if t.ndim == 1:
        return t.reshape(-1, 1), True
    return t.reshape(-1, t.shape[-1]), False


def flatten_call(args: Sequence[Any], kwargs: Mapping[str, Any]
                 ) -> tuple[list[TensorSpec], list[torch.Tensor]]:
    """Tensors of a call as 2-D ``(rows, width)`` blocks, in the documented column order."""
    items = [(f"arg{i}", a) for i, a in enumerate(args)]
    items += [(f"kw:{k}", kwargs[k]) for k in sorted(kwargs)]
    return _flatten(items)


def flatten_output(out: Any) -> tuple[list[TensorSpec], list[torch.Tensor]]:
    if isinstance(out, torch.Tensor):
        items = [("out0", out)]
    elif isinstance(out, (tuple, list)):
        items = [(f"out{i}", o) for i, o in enumerate(out)]
    else:
        raise PhysDistillError(f"the module returned {type(out).__name__}; SymbolicModel needs "
                               "a tensor or a tuple/list of tensors")
    specs, blocks = _flatten(items)
    if not blocks:
        raise PhysDistillError("the module returned no tensor with at least one dimension")
    return specs, blocks


def _flatten(items) -> tuple[list[TensorSpec], list[torch.Tensor]]:
    specs, blocks = [], []
    for where, t in items:
        if not isinstance(t, torch.Tensor) or t.ndim == 0 or not t.is_floating_point():
            continue
        block, vector = _rows(t)
        specs.append(TensorSpec(where, int(block.shape[1]), vector))
        blocks.append(block)
    return specs, blocks


def lead_shape(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[int, ...]:
    """Leading (sample) shape of the first recorded input tensor."""
    for _, t in [(i, a) for i, a in enumerate(args)] + sorted(kwargs.items()):
        if isinstance(t, torch.Tensor) and t.ndim >= 1:
            return tuple(t.shape) if t.ndim == 1 else tuple(t.shape[:-1])
    raise PhysDistillError("the call has no tensor input with at least one dimension")


class Reservoir:
    """A bounded uniform sample of rows (see the module docstring).

    Args:
        capacity: the most rows kept.
        seed: seed of the sampling.
    """

    def __init__(self, capacity: int, seed: int | None = 0):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise PhysDistillError(f"max_samples must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self.rng = np.random.default_rng(seed)
        self.n_seen = 0
        self._data: np.ndarray | None = None
        self.size = 0

    @property
    def data(self) -> np.ndarray:
        """The kept rows, shape ``(size, n_columns)`` (a view; do not modify)."""
        if self._data is None:
            return np.zeros((0, 0))
        return self._data[: self.size]

    def add(self, blocks: Sequence[torch.Tensor]) -> None:
        """Offer the rows of ``blocks`` (all of shape ``(m, w_k)``, same ``m``, any device)."""
        m = int(blocks[0].shape[0])
        if any(int(b.shape[0]) != m for b in blocks):
            raise PhysDistillError(f"recorded tensors differ in rows: "
                                   f"{[int(b.shape[0]) for b in blocks]}; SymbolicModel needs "
                                   "one output row per input row")
        width = sum(int(b.shape[1]) for b in blocks)
        if self._data is None:
            self._data = np.empty((self.capacity, width), dtype=np.float64)
        elif self._data.shape[1] != width:
            raise PhysDistillError(f"this call gives {width} columns, earlier calls gave "
                                   f"{self._data.shape[1]}")
        if m == 0:
            return
        k = self.capacity
        i = self.n_seen + np.arange(m)
        fill = i < k
        src = [np.flatnonzero(fill)]
        dst = [i[fill]]
        rest = np.flatnonzero(~fill)
        if rest.size:
            j = self.rng.integers(0, i[rest] + 1)
            take = j < k
            src.append(rest[take])
            dst.append(j[take])
        src_rows = np.concatenate(src)
        dst_slots = np.concatenate(dst)
        # sequential semantics: when a slot is written twice in this call, the later row wins
        _, first_rev = np.unique(dst_slots[::-1], return_index=True)
        last = np.sort(dst_slots.size - 1 - first_rev)
        src_rows, dst_slots = src_rows[last], dst_slots[last]
        for a in range(0, src_rows.size, CHUNK):
            rows = torch.as_tensor(src_rows[a:a + CHUNK])
            with torch.no_grad():
                chunk = torch.cat([b.detach()[rows.to(b.device)].to("cpu", torch.float64)
                                   for b in blocks], dim=1)
            self._data[dst_slots[a:a + CHUNK]] = chunk.numpy()
        self.n_seen += m
        self.size = min(k, self.n_seen)

    def state(self) -> dict:
        return {"data": torch.from_numpy(self.data.copy()), "n_seen": int(self.n_seen)}

    def load(self, data: torch.Tensor, n_seen: int) -> None:
        arr = data.detach().cpu().to(torch.float64).numpy()
        if arr.ndim != 2 or arr.shape[0] > self.capacity or n_seen < arr.shape[0]:
            raise PhysDistillError("corrupt sample reservoir in the saved file")
        self._data = np.empty((self.capacity, arr.shape[1]), dtype=np.float64)
        self._data[: arr.shape[0]] = arr
        self.size = arr.shape[0]
        self.n_seen = int(n_seen)
