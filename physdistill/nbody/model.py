r"""The OGN: Cranmer et al.'s (2020) message-passing graph network, as a PyG ``MessagePassing``.

.. math::
    \mathbf m_{ij} = R\big(\phi_e([\mathbf x_i, \mathbf x_j])\big), \qquad
    \hat{\mathbf a}_i = \phi_v\Big(\Big[\mathbf x_i, \sum_{j \ne i} \mathbf m_{ij}\Big]\Big),

with :math:`i` the receiver and :math:`j` the sender, :math:`\phi_e, \phi_v` ReLU MLPs
(default 3 hidden layers of 300, as in the reference) and :math:`R` the variant's
:class:`~physdistill.nbody.regularizers.Regularizer` (identity, KL sampling, pruning mask).

It is a plain ``MessagePassing`` layer (``aggr="add"``, ``flow="source_to_target"``), so it runs
on any graph given as ``(x, edge_index)``; the n-body trainer feeds it dense batches of equal,
fully connected graphs (:class:`~physdistill.nbody.dataset.GraphBatches`), and the message
extractor (:mod:`physdistill.messages`) reads its messages with PyG's message hooks.

Example:
    >>> model = OGN(OGNConfig(dim=2, variant="bottleneck"))
    >>> out, penalty = model(x, edge_index, return_penalty=True)   # penalty: None here
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from physdistill.configs import JSONConfig
from physdistill.errors import PhysDistillError
from physdistill.nbody.regularizers import REGULARIZERS, Regularizer, get_regularizer

VARIANTS = ("standard", "bottleneck", "l1", "kl", "pruning")


@dataclass(frozen=True)
class OGNConfig(JSONConfig):
    """Architecture of an :class:`OGN`.

    Args:
        dim: spatial dimension = output width (accelerations).
        node_dim: node feature width; ``None`` means ``2 dim + 2`` (``[pos, vel, q, m]``).
        variant: regulariser name: ``standard``, ``bottleneck``, ``l1``, ``kl``, ``pruning``
            (or one registered with :func:`~physdistill.nbody.regularizers.register_regularizer`).
        msg_dim: message channels (100 in the reference; the bottleneck uses ``dim``).
        hidden: width of the hidden layers of both MLPs (reference: 300).
        layers: hidden layers per MLP (reference: 3).
        strength: penalty weight; ``None`` = the variant's default (L1 1e-2, KL 1).
        prune_end: fraction of training at which pruning reaches ``dim`` channels.
    """

    dim: int = 2
    node_dim: int | None = None
    variant: str = "standard"
    msg_dim: int = 100
    hidden: int = 300
    layers: int = 3
    strength: float | None = None
    prune_end: float = 0.65

    config_name: ClassVar[str] = "model config"

    @property
    def in_dim(self) -> int:
        return 2 * self.dim + 2 if self.node_dim is None else self.node_dim

    def validate(self) -> OGNConfig:
        for name in ("dim", "msg_dim", "hidden", "layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"OGNConfig.{name} must be a positive integer, got {v!r}")
        if self.node_dim is not None and (isinstance(self.node_dim, bool)
                                          or not isinstance(self.node_dim, int)
                                          or self.node_dim < 1):
            raise PhysDistillError(f"OGNConfig.node_dim must be a positive integer or None, got "
                                   f"{self.node_dim!r}")
        if self.variant not in REGULARIZERS:
            get_regularizer(self.variant, self.msg_dim, self.dim)  # raises with a suggestion
        if self.strength is not None and not (isinstance(self.strength, (int, float))
                                              and self.strength >= 0
                                              and math.isfinite(self.strength)):
            raise PhysDistillError(f"OGNConfig.strength must be None or a finite number >= 0, "
                                   f"got {self.strength!r}")
        if not (isinstance(self.prune_end, (int, float)) and 0 < self.prune_end <= 1):
            raise PhysDistillError(f"OGNConfig.prune_end must be in (0, 1], got "
                                   f"{self.prune_end!r}")
        return self

    @classmethod
    def from_dict(cls, data: Any) -> OGNConfig:
        """The architecture stored by :meth:`to_dict` (keys checked), validated."""
        return super().from_dict(data).validate()


def mlp(in_dim: int, out_dim: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden``, then a linear output layer."""
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    mods.append(nn.Linear(width, out_dim))
    return nn.Sequential(*mods)


class OGN(MessagePassing):
    r"""Message-passing graph network with a message regulariser (see the module docstring).

    Args:
        config: an :class:`OGNConfig` (default: the reference's standard 2-D model).
        **overrides: fields of ``config`` to replace, e.g. ``OGN(variant="l1", hidden=128)``.

    Attributes:
        edge_mlp: :math:`\phi_e`, ``2 node_dim -> raw_dim``.
        node_mlp: :math:`\phi_v`, ``node_dim + msg_dim -> dim``.
        regularizer: the variant's :class:`~physdistill.nbody.regularizers.Regularizer`.
        msg_dim: message channels after the regulariser.

    Shapes:
        x ``[N, node_dim]``, edge_index ``[2, E]`` (row 0 senders ``j``, row 1 receivers ``i``)
        -> ``[N, dim]``; with ``return_penalty=True`` also a scalar penalty (or ``None``).
    """

    def __init__(self, config: OGNConfig | None = None, **overrides: Any) -> None:
        super().__init__(aggr="add", flow="source_to_target")
        cfg = config if config is not None else OGNConfig()
        if not isinstance(cfg, OGNConfig):
            raise PhysDistillError(f"config must be an OGNConfig, got {type(cfg).__name__}")
        if overrides:
            bad = sorted(set(overrides) - {f.name for f in fields(OGNConfig)})
            if bad:
                raise PhysDistillError(f"unknown OGN options {bad}; use fields of OGNConfig")
            cfg = replace(cfg, **overrides)
        self.config = cfg.validate()
        opts = {"end": cfg.prune_end} if cfg.variant == "pruning" else {}
        self.regularizer: Regularizer = get_regularizer(cfg.variant, cfg.msg_dim, cfg.dim,
                                                        cfg.strength, **opts)
        self.msg_dim = self.regularizer.msg_dim
        F = cfg.in_dim
        self.edge_mlp = mlp(2 * F, self.regularizer.raw_dim, cfg.hidden, cfg.layers)
        self.node_mlp = mlp(F + self.msg_dim, cfg.dim, cfg.hidden, cfg.layers)
        self._keep_raw = False
        self._raw: Tensor | None = None

    def forward(self, x: Tensor, edge_index: Tensor, *, return_penalty: bool = False
                ) -> Tensor | tuple[Tensor, Tensor | None]:
        """Accelerations ``[N, dim]``; with ``return_penalty`` also the regulariser's penalty
        over all edges of the batch (a scalar, or ``None`` for variants without one)."""
        if x.dim() != 2 or x.shape[1] != self.config.in_dim:
            raise PhysDistillError(f"expected node features x of shape [N, {self.config.in_dim}]"
                                   f", got {tuple(x.shape)}")
        self._keep_raw = return_penalty
        try:
            out = self.propagate(edge_index, x=x)
            if not return_penalty:
                return out
            raw, self._raw = self._raw, None
            penalty = None if raw is None else self.regularizer.penalty(raw, x.shape[0])
            return out, penalty
        finally:
            self._keep_raw = False
            self._raw = None

    def edge_raw(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        """The edge MLP's raw output ``[E, raw_dim]`` (before the regulariser)."""
        return self.edge_mlp(torch.cat([x_i, x_j], dim=-1))

    def message(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        raw = self.edge_raw(x_i, x_j)
        if self._keep_raw:
            self._raw = raw
        return self.regularizer(raw)

    def update(self, aggr_out: Tensor, x: Tensor) -> Tensor:
        return self.node_mlp(torch.cat([x, aggr_out], dim=-1))

    def train_progress(self, progress: float) -> None:
        """Trainer hook: the fraction of training done, before each step (drives pruning)."""
        self.regularizer.train_progress(progress)

    def extra_repr(self) -> str:
        c = self.config
        return (f"variant={c.variant}, dim={c.dim}, node_dim={c.in_dim}, msg_dim={self.msg_dim}"
                f", hidden={c.hidden}x{c.layers}")


def ogn_loss(model: nn.Module, x: Tensor, edge_index: Tensor, y: Tensor,
             n_graphs: int) -> tuple[Tensor, Tensor]:
    r"""The reference loss: per graph :math:`\sum_{i,d} |\hat a_{id} - a_{id}|`, averaged over
    the ``n_graphs`` graphs of the batch, plus the regulariser's penalty.

    ``model`` may be an :class:`OGN` or a wrapper (DDP) that passes ``return_penalty`` on.
    Returns ``(total, mae)``; ``mae`` is detached (for logging).
    """
    out, penalty = model(x, edge_index, return_penalty=True)
    mae = (out - y).abs().sum() / n_graphs
    total = mae if penalty is None else mae + penalty
    return total, mae.detach()


def flops_per_graph(config: OGNConfig, n: int) -> float:
    """Nominal FLOPs of one training step per graph of ``n`` nodes (forward + 2x backward).

    Counts the multiply-adds of the Linear layers only (2 FLOPs each) on ``n (n-1)`` edges and
    ``n`` nodes, times 3; the reference model (n=4, 2-D, standard) gives 20.5 MFLOP. The first
    layer's input gradient, which training never needs, is counted too (about 1 %).
    """
    reg = get_regularizer(config.variant, config.msg_dim, config.dim)
    F, h, L = config.in_dim, config.hidden, config.layers

    def macs(i: int, o: int) -> int:
        return i * h + (L - 1) * h * h + h * o

    edge = macs(2 * F, reg.raw_dim) * n * (n - 1)
    node = macs(F + reg.msg_dim, config.dim) * n
    return 3 * 2.0 * (edge + node)
