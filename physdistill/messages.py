r"""Record the edge messages of any PyG ``MessagePassing`` layer, and rank their channels.

What a GNN has learned sits in its messages :math:`\mathbf m_{ij} = \phi_e(\mathbf x_i,
\mathbf x_j, \dots)`. :class:`MessageRecorder` reads them with PyG's *message forward hook*,
which fires after every call of the layer's ``message()`` with the exact keyword arguments it
received (``x_i``, ``x_j``, ``edge_attr``... whatever its signature asks for) and what it
returned. So it works on any ``MessagePassing`` layer, ours or a user's, without changing the
layer, including layers called many times per forward.

The rows (one per edge) are kept in the same bounded uniform reservoir that
:class:`~physdistill.symbolic.SymbolicModel` uses for its captures
(:class:`physdistill.symbolic.capture.Reservoir`), so a recording over millions of edges costs
a fixed amount of memory, and only the kept rows leave the device.

Channel ranking (:meth:`MessageSample.top`):

- ``"std"``: standard deviation of each channel over the recorded edges (standard, L1 and
  pruning models: the informative channels vary, the unused ones are near constant);
- ``"kl"``: the mean KL divergence of each channel from the prior (variational models), from the
  layer's ``regularizer.channel_scores`` applied to the raw edge output;
- ``"all"``: every channel in order (bottleneck models, whose width is already the target);
- ``"auto"``: the layer's ``regularizer.rank_by`` when it has one (our OGN), else ``"std"``;
- a callable ``key(messages [E, C]) -> scores [C]`` (higher is better): any user criterion.

Example:
    >>> with MessageRecorder(model, max_edges=20_000) as rec:
    ...     model(x, edge_index)
    >>> sample = rec.sample()
    >>> top = sample.top(2)                      # 2 most informative channels
    >>> top.messages.shape, top.inputs["x_i"].shape
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.graphs import repeat_edges
from physdistill.symbolic.capture import Reservoir

RANKINGS = ("auto", "std", "kl", "all")


@dataclass
class MessageSample:
    """Recorded edges: the message's inputs and its output channels.

    Attributes:
        inputs: name of a ``message()`` argument (``x_i``, ``x_j``, ...) -> ``[E, width]``.
        messages: ``[E, C]`` messages, one column per channel.
        channels: the layer's channel index of each column of ``messages``.
        scores: the ranking score of each column (``NaN`` when ranked ``"all"``).
        rank_by: the ranking used.
        n_seen: edges seen in total (``E`` of them were kept).
    """

    inputs: dict[str, np.ndarray]
    messages: np.ndarray
    channels: list[int]
    scores: np.ndarray
    rank_by: str
    n_seen: int
    _layer: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.messages.shape[0])

    def ranked(self, by: str | Callable[[np.ndarray], Any] = "auto") -> MessageSample:
        """All channels sorted by ``by`` (best first); see the module docstring."""
        if not callable(by) and by not in RANKINGS:
            raise PhysDistillError(f"unknown channel ranking {by!r}; choose one of {RANKINGS} "
                                   "or pass a callable messages [E, C] -> scores [C]")
        if len(self) < 2:
            raise PhysDistillError("need at least 2 recorded edges to rank message channels")
        if callable(by):
            return self._ranked_by_key(by)
        if by == "auto":
            reg = getattr(self._layer, "regularizer", None)
            by = getattr(reg, "rank_by", "std")
        if by == "all":
            scores = np.full(self.messages.shape[1], np.nan)
            order = np.arange(self.messages.shape[1])
        else:
            if by == "std":
                scores = self.messages.std(axis=0)
            else:
                scores = self._kl_scores()
            scores = np.where(np.isfinite(scores), scores, -np.inf)
            order = np.argsort(-scores, kind="stable")
        return MessageSample(self.inputs, self.messages[:, order],
                             [self.channels[i] for i in order], scores[order], by, self.n_seen,
                             self._layer)

    def _ranked_by_key(self, key: Callable[[np.ndarray], Any]) -> MessageSample:
        scores = np.asarray(key(self.messages.copy()), dtype=np.float64).reshape(-1)
        C = self.messages.shape[1]
        if scores.shape != (C,):
            raise PhysDistillError(f"the ranking key returned {scores.size} scores; expected one "
                                   f"per message channel ({C})")
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        order = np.argsort(-scores, kind="stable")
        name = getattr(key, "__name__", type(key).__name__)
        return MessageSample(self.inputs, self.messages[:, order],
                             [self.channels[i] for i in order], scores[order], name,
                             self.n_seen, self._layer)

    def top(self, k: int, by: str | Callable[[np.ndarray], Any] = "auto") -> MessageSample:
        """The ``k`` best channels by ``by``."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise PhysDistillError(f"k must be a positive integer, got {k!r}")
        if k > self.messages.shape[1]:
            raise PhysDistillError(f"asked for {k} channels; the messages have "
                                   f"{self.messages.shape[1]}")
        r = self.ranked(by)
        return MessageSample(r.inputs, r.messages[:, :k], r.channels[:k], r.scores[:k],
                             r.rank_by, r.n_seen, r._layer)

    def _kl_scores(self) -> np.ndarray:
        layer = self._layer
        reg = getattr(layer, "regularizer", None)
        if reg is None or not hasattr(reg, "channel_scores") or not hasattr(layer, "edge_raw"):
            raise PhysDistillError("ranking by KL needs a variational layer with edge_raw() and "
                                   "regularizer.channel_scores() (the OGN 'kl' variant)")
        p = next(layer.parameters())
        with torch.no_grad():
            args = {k: torch.as_tensor(v, dtype=p.dtype, device=p.device)
                    for k, v in self.inputs.items() if k in ("x_i", "x_j")}
            raw = layer.edge_raw(**args)
            scores = reg.channel_scores(raw).double().cpu().numpy()
        return scores[self.channels]


class MessageRecorder:
    """Context manager that records a ``MessagePassing`` layer's messages (see module doc).

    Args:
        module: a ``MessagePassing`` layer, or a module containing exactly one (else pass
            ``layer=``).
        layer: the layer to record when ``module`` has several.
        max_edges: the most edges kept (uniform reservoir sample).
        inputs: names of the ``message()`` arguments to keep; default every floating-point
            tensor argument with one row per edge, in the call's order.
        seed: seed of the reservoir sampling.
    """

    def __init__(self, module: nn.Module, *, layer: nn.Module | None = None,
                 max_edges: int = 50_000, inputs: tuple[str, ...] | None = None,
                 seed: int = 0) -> None:
        self.layer = layer if layer is not None else find_message_layer(module)
        if not hasattr(self.layer, "register_message_forward_hook"):
            raise PhysDistillError(f"{type(self.layer).__name__} is not a torch_geometric "
                                   "MessagePassing layer")
        self.reservoir = Reservoir(max_edges, seed)
        self.inputs = inputs
        self._names: list[tuple[str, int]] | None = None
        self._msg_width: int | None = None
        self._handle = None

    def __enter__(self) -> MessageRecorder:
        self._handle = self.layer.register_message_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, _module: nn.Module, args: tuple[dict[str, Any]], out: Any) -> None:
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            raise PhysDistillError("message() must return an [E, channels] tensor to be "
                                   f"recorded, got {getattr(out, 'shape', type(out).__name__)}")
        kwargs = args[0]
        E = out.shape[0]
        names = self.inputs or tuple(
            k for k, v in kwargs.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.dim() >= 1
            and v.shape[0] == E)
        missing = [k for k in names if k not in kwargs]
        if missing:
            raise PhysDistillError(f"message() was not called with {missing}; its arguments "
                                   f"are {sorted(kwargs)}")
        blocks = []
        layout = []
        for k in names:
            t = kwargs[k].detach()
            t = t.reshape(E, -1) if t.dim() != 1 else t.reshape(E, 1)
            blocks.append(t)
            layout.append((k, int(t.shape[1])))
        if self._names is None:
            self._names, self._msg_width = layout, int(out.shape[1])
        elif layout != self._names or out.shape[1] != self._msg_width:
            raise PhysDistillError("message() arguments changed shape between calls: "
                                   f"{self._names} then {layout}")
        self.reservoir.add(blocks + [out.detach()])

    def sample(self) -> MessageSample:
        """What was recorded so far, channels in the layer's order."""
        if self._names is None or self.reservoir.size == 0:
            raise PhysDistillError("no messages were recorded: run the model's forward inside "
                                   "the `with MessageRecorder(...)` block")
        data = self.reservoir.data
        inputs, a = {}, 0
        for name, w in self._names:
            inputs[name] = data[:, a:a + w].copy()
            a += w
        messages = data[:, a:].copy()
        return MessageSample(inputs, messages, list(range(messages.shape[1])),
                             np.full(messages.shape[1], np.nan), "none",
                             self.reservoir.n_seen, self.layer)


def find_message_layer(module: nn.Module) -> nn.Module:
    """The single ``MessagePassing`` layer inside ``module`` (``module`` itself if it is one)."""
    found = [m for m in module.modules() if hasattr(m, "register_message_forward_hook")]
    if not found:
        raise PhysDistillError(f"{type(module).__name__} contains no torch_geometric "
                               "MessagePassing layer")
    if len(found) > 1:
        raise PhysDistillError(f"{type(module).__name__} contains {len(found)} MessagePassing "
                               "layers; pass layer= to choose one")
    return found[0]


def record_messages(model: nn.Module, x: torch.Tensor, edge_index: torch.Tensor, *,
                    batch_nodes: int = 65_536, max_edges: int = 50_000, seed: int = 0,
                    layer: nn.Module | None = None) -> MessageSample:
    """Run ``model(x, edge_index)`` in eval mode over node chunks of whole graphs and record.

    ``x`` is ``[G, n, F]`` (equal-size graphs) and ``edge_index`` one graph's ``[2, e]``; the
    graphs are batched ``batch_nodes // n`` at a time on the model's device.
    """
    if x.dim() != 3:
        raise PhysDistillError(f"x must be [graphs, nodes, features], got {tuple(x.shape)}")
    G, n, F = x.shape
    device = next(model.parameters()).device
    per = max(1, batch_nodes // n)
    was = model.training
    model.eval()
    try:
        with MessageRecorder(model, layer=layer, max_edges=max_edges, seed=seed) as rec, \
                torch.no_grad():
            for a in range(0, G, per):
                xb = x[a:a + per].to(device)
                B = xb.shape[0]
                ei = repeat_edges(edge_index.to(device), B, n)
                model(xb.reshape(B * n, F), ei)
    finally:
        model.train(was)
    return rec.sample()
