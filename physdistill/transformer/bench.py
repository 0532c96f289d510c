r"""Speed and fidelity of a (hybrid) sentence encoder against the original.

Speed: sentences per second and latency per batch of the model's forward pass on tokenised
batches (tokenisation is done once beforehand and not timed). Variants are interleaved batch
by batch (batch 1 under every variant, then batch 2, ..., for each round), so that a load
that comes and goes on a shared machine falls on all of them alike, and each (variant, batch)
keeps its fastest of ``rounds`` runs. Throughput is the sentences over the sum of those
fastest runs, latency their median; both are also given in process CPU time. On CUDA every
timed region ends with ``torch.cuda.synchronize()``.

Fidelity, on held-out sentences, against the original model's embeddings :math:`e_i`:

- mean cosine similarity :math:`\frac1n \sum_i \cos(\hat e_i, e_i)` (and its 5th percentile);
- top-10 nearest-neighbour agreement: for each sentence, the overlap of its 10 nearest
  neighbours (cosine, itself left out) among the held-out sentences by the hybrid and by the
  original, :math:`\frac1n \sum_i |N_{10}(\hat e_i) \cap N_{10}(e_i)| / 10`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from physdistill.errors import PhysDistillError
from physdistill.transformer.encoder import Batch, SentenceEncoder


@dataclass(frozen=True)
class Timing:
    """Speed of one variant.

    Attributes:
        sentences_per_s: sentences / the sum over batches of each batch's fastest run.
        latency_ms: median over batches of each batch's fastest run.
        latency_p90_ms: 90th percentile of every run (how much the machine disturbed it).
        batch_size: sentences per batch (the last batch may be smaller).
        rounds: timed runs per batch.
        cpu_sentences_per_s: the same as ``sentences_per_s`` in process CPU time (all
            threads); with one torch thread on a CPU, the work itself, whatever else runs.
    """

    sentences_per_s: float
    latency_ms: float
    latency_p90_ms: float
    batch_size: int
    rounds: int
    cpu_sentences_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_variants(encoder: SentenceEncoder, batches: Sequence[Batch],
                  variants: Mapping[str, Callable[[], Any]], rounds: int = 3,
                  warmup: int = 1) -> dict[str, Timing]:
    """Time the encoder's forward pass under each variant.

    Each batch is run under every variant in turn, ``rounds`` times, so a variant's runs of
    one batch are never far apart in time from the others'. Each (variant, batch) keeps its
    fastest run: the least disturbed by other work on the machine.

    Args:
        encoder: the encoder (its model is what the variants switch).
        batches: tokenised batches, each timed on its own.
        variants: name -> a context-manager factory that puts the model in that state (e.g.
            ``lambda: switch.switched(surrogates)``; ``contextlib.nullcontext`` for the
            original).
        rounds: timed runs of each batch per variant.
        warmup: untimed passes per variant before timing (allocator, caches, kernels).
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise PhysDistillError(f"rounds must be a positive integer, got {rounds!r}")
    if not batches:
        raise PhysDistillError("no batches to time")
    device = encoder.device
    n = sum(b.size for b in batches)
    wall = {k: np.full((len(batches), rounds), np.inf) for k in variants}
    cpu = {k: np.full((len(batches), rounds), np.inf) for k in variants}
    with torch.inference_mode():
        for name, ctx in variants.items():
            with ctx():
                for _ in range(warmup):
                    for b in batches:
                        encoder.forward(b)
                _sync(device)
        for r in range(rounds):
            for i, b in enumerate(batches):
                for name, ctx in variants.items():
                    with ctx():
                        c0, t0 = time.process_time(), time.perf_counter()
                        encoder.forward(b)
                        _sync(device)
                        wall[name][i, r] = time.perf_counter() - t0
                        cpu[name][i, r] = time.process_time() - c0
    out = {}
    for k in variants:
        best = wall[k].min(1)
        out[k] = Timing(n / best.sum(), 1e3 * float(np.median(best)),
                        1e3 * float(np.quantile(wall[k], 0.9)), batches[0].size, rounds,
                        n / max(cpu[k].min(1).sum(), 1e-9))
    return out


def neighbours(emb: torch.Tensor, k: int = 10) -> torch.Tensor:
    """Indices ``(n, k)`` of each row's ``k`` nearest rows by cosine (itself left out)."""
    n = emb.shape[0]
    if not 1 <= k < n:
        raise PhysDistillError(f"top-{k} neighbours need more than {k} sentences, got {n}")
    e = torch.nn.functional.normalize(emb.double(), dim=-1)
    sim = e @ e.T
    sim.fill_diagonal_(-torch.inf)
    return sim.topk(k, dim=1).indices


@dataclass(frozen=True)
class Fidelity:
    """How close a variant's embeddings are to the original's.

    Attributes:
        mean_cosine: mean cosine similarity to the original embedding of the same sentence.
        p05_cosine: its 5th percentile.
        knn_agreement: mean overlap of the top-``k`` neighbour sets (0..1).
        k: the neighbours compared.
        n: sentences.
    """

    mean_cosine: float
    p05_cosine: float
    knn_agreement: float
    k: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fidelity(original: torch.Tensor, other: torch.Tensor, k: int = 10,
             original_neighbours: torch.Tensor | None = None) -> Fidelity:
    """Compare ``other (n, d)`` with ``original (n, d)`` (see the module docstring)."""
    if original.shape != other.shape:
        raise PhysDistillError(f"embeddings differ in shape: {tuple(original.shape)} vs "
                               f"{tuple(other.shape)}")
    cos = torch.nn.functional.cosine_similarity(original.double(), other.double(), dim=-1)
    a = original_neighbours if original_neighbours is not None else neighbours(original, k)
    b = neighbours(other, k)
    hits = (a.unsqueeze(2) == b.unsqueeze(1)).any(2).double().sum(1) / k
    return Fidelity(float(cos.mean()), float(torch.quantile(cos, 0.05)), float(hits.mean()), k,
                    int(original.shape[0]))
