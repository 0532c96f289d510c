r"""Message regularisers: what makes an OGN's messages sparse enough to read.

A regulariser sits between the edge MLP and the aggregation. It sees the edge MLP's raw output
``raw [E, raw_dim]``, turns it into the message ``m [E, msg_dim]`` (:meth:`Regularizer.forward`)
and adds a penalty to the loss (:meth:`Regularizer.penalty`). Penalties follow the reference
(Cranmer et al. 2020), taken per graph over *all* its edges and averaged over the graphs of the
batch; for graphs of equal size ``n`` this is

.. math::
    \text{penalty} = \frac{\lambda}{B}\sum_{g=1}^{B} \frac{1}{n}\sum_{e \in g} f(\text{raw}_e)
                   = \lambda \, \frac{\sum_{e} f(\text{raw}_e)}{N_{\text{nodes}}},

which is how it is computed (``N_nodes = B n``; for graphs of unequal size it is the per-node
normalisation).

========== ============================== ================================================
name       message                        penalty / behaviour
========== ============================== ================================================
standard   ``raw`` (100 channels)          none
bottleneck ``raw`` (``dim`` channels)      none
l1         ``raw`` (100 channels)          :math:`f = |m|`, :math:`\lambda = 10^{-2}`
kl         :math:`\mu + e^{\ell/2}\epsilon` :math:`f = \tfrac12(e^{\ell} + \mu^2 - \ell)`,
           (eval: :math:`\mu`)             :math:`\lambda = 1`; ``raw = [\mu, \ell]``
pruning    ``raw * mask`` (100 channels)   lowest-std channels masked down to ``dim`` on a
                                           cosine schedule ending at ``end`` of training
========== ============================== ================================================

A new regulariser subclasses :class:`Regularizer`, overrides what differs (usually
:meth:`penalty`) and registers itself with :func:`register_regularizer`.
"""

from __future__ import annotations

import difflib
import math

import torch
from torch import Tensor, nn

from physdistill.errors import PhysDistillError

REGULARIZERS: dict[str, type[Regularizer]] = {}


def register_regularizer(cls: type[Regularizer]) -> type[Regularizer]:
    """Class decorator: make ``cls`` available by its ``name`` to :func:`get_regularizer`."""
    if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
        raise PhysDistillError(f"register_regularizer takes a Regularizer subclass, got {cls!r}")
    REGULARIZERS[cls.name] = cls
    return cls


class Regularizer(nn.Module):
    r"""Base regulariser: the message is the edge MLP's output, and there is no penalty.

    Args:
        msg_dim: message channels requested (the variant may override it, see
            :meth:`message_dim`).
        dim: spatial dimension (the number of channels the messages should end with).
        strength: :math:`\lambda`; ``None`` takes the class's ``default_strength``.

    Class attributes:
        name: the variant's name. rank_by: how the message extractor ranks channels
        (``"std"``, ``"kl"`` or ``"all"``). default_strength: :math:`\lambda`.

    Shapes:
        raw ``[E, raw_dim]`` -> message ``[E, msg_dim]``; penalty: a scalar tensor or ``None``.
    """

    name = "standard"
    rank_by = "std"
    default_strength = 0.0

    def __init__(self, msg_dim: int, dim: int, strength: float | None = None) -> None:
        super().__init__()
        if strength is not None and not (isinstance(strength, (int, float)) and strength >= 0
                                         and math.isfinite(strength)):
            raise PhysDistillError(f"regulariser strength must be a finite number >= 0, got "
                                   f"{strength!r}")
        self.msg_dim = self.message_dim(msg_dim, dim)
        self.dim = dim
        self.strength = float(self.default_strength if strength is None else strength)

    # -- the one-method hooks a variant overrides ---------------------------------------------
    @classmethod
    def message_dim(cls, requested: int, dim: int) -> int:
        """Message channels for a requested width (the bottleneck returns ``dim``)."""
        return requested

    @property
    def raw_dim(self) -> int:
        """Width of the edge MLP's output."""
        return self.msg_dim

    def forward(self, raw: Tensor) -> Tensor:
        """The message from the edge MLP's raw output."""
        return raw

    def penalty_terms(self, raw: Tensor) -> Tensor | None:
        """:math:`\\sum_e f(\\text{raw}_e)` over all edges and channels, or ``None``."""
        return None

    def penalty(self, raw: Tensor, n_nodes: int) -> Tensor | None:
        """:math:`\\lambda \\sum_e f(\\text{raw}_e) / N_{nodes}` (see the module docstring)."""
        total = self.penalty_terms(raw)
        if total is None or self.strength == 0.0:
            return None
        return total * (self.strength / max(int(n_nodes), 1))

    def train_progress(self, progress: float) -> None:
        """Called by the trainer before each step with the fraction of training done."""

    @classmethod
    def stacked(cls, regs: list[Regularizer], buffers: dict[str, Tensor], raw: Tensor,
                n_nodes: int) -> tuple[Tensor, Tensor | None] | None:
        """Messages and penalties of ``M`` regularisers of this class at once, for a stack of
        models (:class:`~physdistill.nbody.stacked.StackedOGN`), or ``None`` when the class has no
        batched form (the stack then calls each regulariser in turn).

        ``buffers`` holds each buffer of the ``M`` regularisers stacked (``[M, ...]``); the
        regularisers' own buffers are views into it, so in-place updates reach both.

        Shapes: raw ``[M, E, raw_dim]`` -> messages ``[M, E, msg_dim]`` and penalties ``[M]``
        (or ``None`` without a penalty).
        """
        if cls.forward is Regularizer.forward and cls.penalty_terms is Regularizer.penalty_terms:
            return raw, None
        return None

    def channel_scores(self, raw: Tensor) -> Tensor:
        """Per-channel importance used to rank message channels: the std over edges.

        Shapes: raw ``[E, raw_dim]`` -> ``[msg_dim]``.
        """
        with torch.no_grad():
            m = self.eval_message(raw)
            return m.double().std(0, unbiased=False) if m.shape[0] > 0 else m.new_zeros(
                m.shape[1])

    def eval_message(self, raw: Tensor) -> Tensor:
        """The deterministic (eval-mode) message of ``raw``, whatever the module's mode."""
        was = self.training
        self.train(False)
        try:
            return self(raw)
        finally:
            self.train(was)

    def extra_repr(self) -> str:
        return f"msg_dim={self.msg_dim}, strength={self.strength:g}"


register_regularizer(Regularizer)


@register_regularizer
class Bottleneck(Regularizer):
    """No penalty; the messages have exactly ``dim`` channels, all kept."""

    name = "bottleneck"
    rank_by = "all"

    @classmethod
    def message_dim(cls, requested: int, dim: int) -> int:
        return dim


@register_regularizer
class L1(Regularizer):
    r"""L1 penalty on the messages: :math:`f = \sum_c |m_c|`, :math:`\lambda = 10^{-2}`."""

    name = "l1"
    default_strength = 1e-2

    def penalty_terms(self, raw: Tensor) -> Tensor:
        return raw.abs().sum()

    @classmethod
    def stacked(cls, regs, buffers, raw, n_nodes):
        return raw, raw.abs().sum((1, 2)) * (regs[0].strength / max(int(n_nodes), 1))


@register_regularizer
class KL(Regularizer):
    r"""Variational messages: the edge MLP outputs a mean :math:`\mu` and a log-variance
    :math:`\ell` per channel; training samples :math:`m = \mu + e^{\ell/2}\epsilon`,
    :math:`\epsilon \sim N(0, 1)` (reparameterisation), evaluation uses :math:`m = \mu`.

    Penalty :math:`f = \sum_c \tfrac12(e^{\ell_c} + \mu_c^2 - \ell_c)` (the KL divergence to
    :math:`N(0,1)` up to a constant), :math:`\lambda = 1`. Channels are ranked by their mean KL
    divergence :math:`\tfrac12(e^{\ell} + \mu^2 - \ell - 1)` over edges.

    Shapes: raw ``[E, 2 msg_dim]`` (``[mu, logvar]``) -> ``[E, msg_dim]``.
    """

    name = "kl"
    rank_by = "kl"
    default_strength = 1.0

    @property
    def raw_dim(self) -> int:
        return 2 * self.msg_dim

    def split(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        return raw[:, : self.msg_dim], raw[:, self.msg_dim:]

    def forward(self, raw: Tensor) -> Tensor:
        mu, logvar = self.split(raw)
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def penalty_terms(self, raw: Tensor) -> Tensor:
        mu, logvar = self.split(raw)
        return 0.5 * (torch.exp(logvar) + mu * mu - logvar).sum()

    @classmethod
    def stacked(cls, regs, buffers, raw, n_nodes):
        C = regs[0].msg_dim
        mu, logvar = raw[..., :C], raw[..., C:]
        penalty = 0.5 * (torch.exp(logvar) + mu * mu - logvar).sum((1, 2))
        msg = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if regs[0].training else mu
        return msg, penalty * (regs[0].strength / max(int(n_nodes), 1))

    def channel_scores(self, raw: Tensor) -> Tensor:
        with torch.no_grad():
            mu, logvar = (t.double() for t in self.split(raw))
            return (0.5 * (torch.exp(logvar) + mu * mu - logvar - 1)).mean(0)


@register_regularizer
class Pruning(Regularizer):
    r"""Progressive channel pruning (SymTorch's variant).

    Messages are ``raw * mask``. Before each training step the trainer reports the fraction
    ``p`` of training done; the number of active channels follows a cosine from ``msg_dim`` down
    to ``dim``,

    .. math::
        k(p) = \mathrm{round}\Big(d + (C - d)\,\tfrac12\big(1 + \cos(\pi \min(p / p_{end}, 1))
        \big)\Big),

    reached at ``p_end = end`` (default 0.65). When ``k`` drops, the active channels with the
    lowest standard deviation (an exponential moving average over training batches, decay
    ``decay``) are masked. Mask and statistics are buffers, so they are saved and resumed with
    the weights.

    Args:
        end: fraction of training at which ``dim`` channels remain (0 < end <= 1).
        decay: decay of the moving averages of each channel's mean and mean square.
    """

    name = "pruning"

    def __init__(self, msg_dim: int, dim: int, strength: float | None = None, *,
                 end: float = 0.65, decay: float = 0.99) -> None:
        super().__init__(msg_dim, dim, strength)
        if not (isinstance(end, (int, float)) and 0 < end <= 1):
            raise PhysDistillError(f"pruning end must be a fraction in (0, 1], got {end!r}")
        if not (isinstance(decay, (int, float)) and 0 <= decay < 1):
            raise PhysDistillError(f"pruning decay must be in [0, 1), got {decay!r}")
        if self.msg_dim < dim:
            raise PhysDistillError(f"pruning needs msg_dim >= dim, got msg_dim={self.msg_dim}, "
                                   f"dim={dim}")
        self.end = float(end)
        self.decay = float(decay)
        self.register_buffer("mask", torch.ones(self.msg_dim))
        self.register_buffer("ema_mean", torch.zeros(self.msg_dim))
        self.register_buffer("ema_sq", torch.zeros(self.msg_dim))
        self.register_buffer("ema_count", torch.zeros(()))
        self._active: int | None = self.msg_dim
        self.register_load_state_dict_post_hook(_forget_active)

    def target(self, progress: float) -> int:
        """Channels left at training fraction ``progress``: :math:`k(p)` above."""
        p = min(max(float(progress) / self.end, 0.0), 1.0)
        return round(self.dim + (self.msg_dim - self.dim) * 0.5 * (1 + math.cos(math.pi * p)))

    @property
    def n_active(self) -> int:
        if self._active is None:
            self._active = int(self.mask.sum().item())
        return self._active

    def forward(self, raw: Tensor) -> Tensor:
        if self.training and torch.is_grad_enabled():
            with torch.no_grad():
                r = raw.detach()
                w = torch.clamp(1.0 / (self.ema_count + 1.0), min=1.0 - self.decay)
                self.ema_mean.lerp_(r.mean(0), w)
                self.ema_sq.lerp_((r * r).mean(0), w)
                self.ema_count.add_(1.0)
        return raw * self.mask

    @classmethod
    def stacked(cls, regs, buffers, raw, n_nodes):
        if regs[0].training and torch.is_grad_enabled():
            with torch.no_grad():
                r = raw.detach()
                w = torch.clamp(1.0 / (buffers["ema_count"] + 1.0), min=1.0 - regs[0].decay)
                buffers["ema_mean"].lerp_(r.mean(1), w[:, None])
                buffers["ema_sq"].lerp_((r * r).mean(1), w[:, None])
                buffers["ema_count"].add_(1.0)
        return raw * buffers["mask"][:, None, :], None

    def train_progress(self, progress: float) -> None:
        k = self.target(progress)
        if k < self.n_active:
            with torch.no_grad():
                std = (self.ema_sq - self.ema_mean ** 2).clamp_min(0).sqrt()
                std = torch.where(self.mask > 0, std, torch.full_like(std, -1.0))
                keep = torch.topk(std, k).indices
                self.mask.zero_().index_fill_(0, keep, 1.0)
            self._active = k

    def channel_scores(self, raw: Tensor) -> Tensor:
        scores = super().channel_scores(raw)
        return torch.where(self.mask.to(scores.device) > 0, scores,
                           torch.full_like(scores, -math.inf))


def _forget_active(module: Pruning, _keys) -> None:
    module._active = None


def get_regularizer(name: str, msg_dim: int, dim: int, strength: float | None = None,
                    **options) -> Regularizer:
    """Build the regulariser registered as ``name`` (see :data:`REGULARIZERS`)."""
    if name not in REGULARIZERS:
        close = difflib.get_close_matches(str(name), list(REGULARIZERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PhysDistillError(f"unknown regulariser {name!r}; choose one of "
                               f"{', '.join(REGULARIZERS)}.{hint}")
    return REGULARIZERS[name](msg_dim, dim, strength, **options)
