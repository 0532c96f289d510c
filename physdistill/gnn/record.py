"""Run a user's model over their graphs once and record one layer's messages.

The data is a PyG ``DataLoader`` (any iterable of ``Data`` / ``Batch``), a list of ``Data``
(batched here, ``batch_size`` graphs at a time), or one ``Data``. Graphs may differ in size and
carry ``edge_attr``. The model is called as ``forward(model, batch)`` when a ``forward`` is
given, else by its own signature: a ``forward(data)`` / ``forward(batch)`` gets the batch, any
other gets the batch's attributes by parameter name (``x``, ``edge_index``, ``edge_attr``,
``pos``, ``batch``, ...).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.messages import MessageRecorder, MessageSample

Forward = Callable[[nn.Module, Any], Any]


def _device(model: nn.Module) -> torch.device:
    t = next(iter(model.parameters()), None)
    if t is None:
        t = next(iter(model.buffers()), None)
    return t.device if t is not None else torch.device("cpu")


def batches(data: Any, batch_size: int = 64) -> Iterator[Any]:
    """The graphs of ``data`` as PyG batches (see the module docstring)."""
    from torch_geometric.data import Batch, Data

    if isinstance(data, (Data, Batch)):
        yield data
        return
    if isinstance(data, (list, tuple)):
        bad = [i for i, d in enumerate(data) if not isinstance(d, Data)]
        if bad:
            raise PhysDistillError(f"data[{bad[0]}] is a {type(data[bad[0]]).__name__}; expected "
                                   "torch_geometric.data.Data objects (or pass a DataLoader)")
        if not data:
            raise PhysDistillError("data is an empty list; give at least one graph")
        for a in range(0, len(data), batch_size):
            yield Batch.from_data_list(list(data[a:a + batch_size]))
        return
    if not isinstance(data, Iterable):
        raise PhysDistillError(f"data is a {type(data).__name__}; expected a PyG DataLoader, a "
                               "list of Data or one Data")
    for b in data:
        if not isinstance(b, Data):
            raise PhysDistillError(f"the data yields {type(b).__name__} objects; expected PyG "
                                   "Data / Batch (a torch_geometric.loader.DataLoader does)")
        yield b


def default_forward(model: nn.Module) -> Forward:
    """How ``model`` is called on a batch when no ``forward`` is given (module docstring)."""
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) >= 1 and params[0].name in ("data", "batch") and \
            all(p.default is not p.empty for p in params[1:]):
        return lambda m, b: m(b)
    if not params:
        raise PhysDistillError(f"cannot tell how to call {type(model).__name__} on a batch; "
                               "pass forward=lambda model, batch: model(...)")

    def call(m: nn.Module, b: Any) -> Any:
        kw = {}
        for p in params:
            if p.name in b:
                kw[p.name] = b[p.name]
            elif p.default is p.empty:
                raise PhysDistillError(f"{type(m).__name__}.forward needs {p.name!r}, which the "
                                       f"graphs do not have (they have {sorted(b.keys())}); "
                                       "pass forward=lambda model, batch: model(...)")
        return m(**kw)

    return call


def record(model: nn.Module, layer: nn.Module, data: Any, *, forward: Forward | None = None,
           max_edges: int = 50_000, seed: int = 0, batch_size: int = 64) -> MessageSample:
    """Run ``model`` in eval mode without gradients over ``data`` on its device and record
    ``layer``'s messages (a uniform sample of at most ``max_edges`` edges)."""
    device = _device(model)
    call = forward if forward is not None else default_forward(model)
    was = model.training
    model.eval()
    try:
        with MessageRecorder(model, layer=layer, max_edges=max_edges, seed=seed) as rec, \
                torch.no_grad():
            for b in batches(data, batch_size):
                call(model, b.to(device))
    finally:
        model.train(was)
    if rec.reservoir.size == 0:
        fused = " (its message_and_aggregate() runs instead of message() on sparse " \
                "adjacency matrices: give edge_index as a [2, E] tensor)" \
            if getattr(layer, "fuse", False) else ""
        raise PhysDistillError(f"{type(layer).__name__}.message() was never called while the "
                               f"model ran over the data{fused}; check that the model calls "
                               "this layer")
    return rec.sample()
