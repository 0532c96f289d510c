r"""Record a BERT model's MLP blocks on text, and fit PCA to what they see and return.

A BERT layer's MLP block is

.. math::
    f(h) = W_2\,\mathrm{gelu}(W_1 h + b_1) + b_2,
    \qquad \text{layer output} = \mathrm{LayerNorm}(f(h) + h),

``intermediate`` (``W_1``, gelu) then ``output.dense`` (``W_2``); the residual and LayerNorm
after it stay untouched. Recording puts a forward hook on both modules (the model itself is
not edited): ``h`` is the input of ``intermediate``, ``f(h)`` the output of ``output.dense``.
Only real tokens are kept (the batch's attention mask drops padding).

Per block the recorder keeps, over every token, the float64 moments
``n, sum h, sum f, sum h h^T, sum f f^T, sum h f^T`` (PCA and the least-squares linear map
come from these exactly), and a uniform sample of token rows ``[h, f]`` (a
:class:`~physdistill.symbolic.capture.Reservoir`) for the symbolic regression.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.symbolic.capture import Reservoir
from physdistill.transformer.encoder import Batch, SentenceEncoder


def mlp_blocks(model: nn.Module) -> list[nn.Module]:
    """The layers of a BERT-like encoder that have an MLP block (``intermediate`` and
    ``output.dense``), in order."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if layers is None:
        raise PhysDistillError(f"{type(model).__name__} has no encoder.layer list; expected a "
                               "BERT-like transformers model (BertModel)")
    blocks = []
    for i, layer in enumerate(layers):
        if not (hasattr(layer, "intermediate") and hasattr(getattr(layer, "output", None),
                                                           "dense")):
            raise PhysDistillError(f"encoder layer {i} ({type(layer).__name__}) has no "
                                   "intermediate / output.dense MLP block")
        blocks.append(layer)
    return blocks


def check_blocks(blocks: Sequence[int], n_layers: int) -> list[int]:
    """Validate block indices (unique, in ``0..n_layers-1``), keeping their order."""
    out = []
    for b in blocks:
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < n_layers:
            raise PhysDistillError(f"block {b!r} does not exist; the model has MLP blocks "
                                   f"0..{n_layers - 1}")
        if b in out:
            raise PhysDistillError(f"block {b} is named twice in {list(blocks)}")
        out.append(b)
    return out


class Moments:
    """Running float64 sums of two vector streams ``x (n, a)`` and ``y (n, b)``."""

    def __init__(self, a: int, b: int):
        self.n = 0
        self.sx = torch.zeros(a, dtype=torch.float64)
        self.sy = torch.zeros(b, dtype=torch.float64)
        self.sxx = torch.zeros(a, a, dtype=torch.float64)
        self.syy = torch.zeros(b, b, dtype=torch.float64)
        self.sxy = torch.zeros(a, b, dtype=torch.float64)

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        x, y = x.double(), y.double()
        self.n += int(x.shape[0])
        self.sx += x.sum(0).cpu()
        self.sy += y.sum(0).cpu()
        self.sxx += (x.T @ x).cpu()
        self.syy += (y.T @ y).cpu()
        self.sxy += (x.T @ y).cpu()

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sx / self.n, self.sy / self.n

    def covariances(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(C_xx, C_yy, C_xy)``, the (biased) covariances."""
        mx, my = self.means()
        return (self.sxx / self.n - torch.outer(mx, mx), self.syy / self.n - torch.outer(my, my),
                self.sxy / self.n - torch.outer(mx, my))


@dataclass
class BlockRecord:
    """What one MLP block saw and returned on the corpus.

    Attributes:
        block: the layer index.
        moments: :class:`Moments` of ``(h, f(h))`` over every real token.
        sample: a uniform sample of token rows ``[h, f(h)]``, ``(m, 2 d)``, float64.
        width: the hidden size ``d``.
    """

    block: int
    moments: Moments
    sample: np.ndarray
    width: int

    @property
    def inputs(self) -> np.ndarray:
        return self.sample[:, : self.width]

    @property
    def outputs(self) -> np.ndarray:
        return self.sample[:, self.width:]


@contextlib.contextmanager
def _hooks(layers: Sequence[nn.Module], blocks: Sequence[int],
           seen: dict[tuple[str, int], torch.Tensor]) -> Iterator[None]:
    handles = []
    try:
        for b in blocks:
            layer = layers[b]
            handles.append(layer.intermediate.register_forward_hook(
                lambda m, args, out, b=b: seen.__setitem__(("h", b), args[0])))
            handles.append(layer.output.dense.register_forward_hook(
                lambda m, args, out, b=b: seen.__setitem__(("f", b), out)))
        yield
    finally:
        for h in handles:
            h.remove()


def record_blocks(encoder: SentenceEncoder, batches: Sequence[Batch], blocks: Sequence[int],
                  max_tokens: int = 8000, seed: int = 0) -> dict[int, BlockRecord]:
    """Run the model on ``batches`` and record the MLP blocks ``blocks``.

    Args:
        encoder: the sentence encoder whose model is recorded.
        batches: tokenised sentences (:meth:`SentenceEncoder.batches`).
        blocks: layer indices to record.
        max_tokens: token rows kept per block for the regression (uniform sample).
        seed: the sample's seed (block ``b`` uses ``seed + b``).

    Returns:
        ``{block: BlockRecord}``.
    """
    layers = mlp_blocks(encoder.model)
    blocks = check_blocks(list(blocks), len(layers))
    width = int(layers[0].intermediate.dense.in_features)
    moments = {b: Moments(width, width) for b in blocks}
    samples = {b: Reservoir(max_tokens, seed + b) for b in blocks}
    seen: dict[tuple[str, int], torch.Tensor] = {}
    with _hooks(layers, blocks, seen), torch.inference_mode():
        for batch in batches:
            seen.clear()
            encoder.model(**batch.inputs)
            for b in blocks:
                if ("h", b) not in seen or ("f", b) not in seen:
                    raise PhysDistillError(f"block {b} was not called during the forward pass; "
                                           "is it switched to a surrogate?")
                h, f = seen[("h", b)][batch.mask], seen[("f", b)][batch.mask]
                moments[b].add(h, f)
                samples[b].add([h, f])
    return {b: BlockRecord(b, moments[b], samples[b].data.copy(), width) for b in blocks}


@dataclass
class PCA:
    """A principal-component basis: ``z = (x - mean) @ components``, ``x ~ mean + z @
    components.T``.

    Attributes:
        mean: ``(d,)``.
        components: ``(d, k)``, orthonormal columns by decreasing variance.
        variance: the variance of each kept component, ``(k,)``.
        explained: the fraction of the total variance the ``k`` components hold.
    """

    mean: torch.Tensor
    components: torch.Tensor
    variance: torch.Tensor
    explained: float

    @property
    def k(self) -> int:
        return int(self.components.shape[1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(*, d) -> (*, k)``."""
        return (x - self.mean.to(x)) @ self.components.to(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(*, k) -> (*, d)``."""
        return self.mean.to(z) + z @ self.components.to(z).T


def fit_pca(mean: torch.Tensor, cov: torch.Tensor, k: int) -> PCA:
    """The top ``k`` eigenvectors of ``cov`` (float64), signs fixed so that each column's
    largest entry is positive (a reproducible basis)."""
    d = int(cov.shape[0])
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= d:
        raise PhysDistillError(f"PCA size {k!r} must be an integer in 1..{d}")
    evals, evecs = torch.linalg.eigh(cov.double())
    order = torch.argsort(evals, descending=True)
    evals, evecs = evals[order].clamp_min(0.0), evecs[:, order]
    comps = evecs[:, :k]
    sign = torch.sign(comps[comps.abs().argmax(0), torch.arange(k)])
    comps = comps * torch.where(sign == 0, torch.ones_like(sign), sign)
    total = float(evals.sum())
    explained = float(evals[:k].sum()) / total if total > 0 else 1.0
    return PCA(mean.double().clone(), comps.contiguous(), evals[:k].clone(), explained)


def block_pcas(record: BlockRecord, k_in: int, k_out: int) -> tuple[PCA, PCA]:
    """PCA of a block's inputs (``k_in`` components) and outputs (``k_out``)."""
    mx, my = record.moments.means()
    cxx, cyy, _ = record.moments.covariances()
    return fit_pca(mx, cxx, k_in), fit_pca(my, cyy, k_out)


def linear_map(record: BlockRecord, pin: PCA, pout: PCA) -> torch.Tensor:
    r"""The least-squares map ``A (k_in, k_out)`` with ``z_out ~ z_in @ A`` over every recorded
    token: :math:`A = (P_i^T C_{hh} P_i)^{-1} P_i^T C_{hf} P_o` (both sides centred, so no
    intercept)."""
    cxx, _, cxy = record.moments.covariances()
    czz = pin.components.T @ cxx @ pin.components
    czy = pin.components.T @ cxy @ pout.components
    ridge = 1e-9 * float(torch.trace(czz)) / max(1, czz.shape[0])
    return torch.linalg.solve(czz + ridge * torch.eye(czz.shape[0], dtype=czz.dtype), czy)
