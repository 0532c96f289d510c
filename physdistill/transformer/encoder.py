"""Sentence embeddings from a BERT encoder: tokenised batches, mean pooling, unit length.

This is sentence-transformers' recipe for all-MiniLM-L6-v2 (``modules.json``: Transformer,
mean Pooling, Normalize), written out so that the case study needs only ``transformers``:

.. math::
    e(s) = \\frac{\\bar h}{\\lVert \\bar h \\rVert}, \\qquad
    \\bar h = \\frac{\\sum_t m_t h_t}{\\sum_t m_t}

with ``h_t`` the last hidden state of token ``t`` and ``m_t`` the attention mask.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from physdistill.errors import PhysDistillError


@dataclass
class Batch:
    """One tokenised batch on the model's device.

    Attributes:
        inputs: the tokenizer's tensors (``input_ids``, ``attention_mask``, ...).
        mask: ``attention_mask`` as bool, shape ``(B, T)``.
        size: the number of sentences.
    """

    inputs: dict[str, torch.Tensor]
    mask: torch.Tensor
    size: int


class SentenceEncoder:
    """Embed sentences with a BERT model (mean pooling, L2 normalisation).

    Args:
        model: a ``transformers`` BERT-like encoder (called with the tokenizer's tensors,
            returning ``last_hidden_state``).
        tokenizer: its tokenizer.
        max_length: sentences are truncated to this many tokens (sentence-transformers uses
            256 for this model; the corpus' sentences are shorter).
        device: where the batches go (default: the model's device).

    Shapes:
        :meth:`embed` returns ``(n_sentences, hidden)``, float32, unit rows.
    """

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128,
                 device: torch.device | str | None = None):
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise PhysDistillError(f"max_length must be an integer >= 2, got {max_length!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        if device is None:
            p = next(iter(model.parameters()), None)
            device = p.device if p is not None else torch.device("cpu")
        self.device = torch.device(device)

    def batches(self, sentences: Sequence[str], batch_size: int = 32) -> list[Batch]:
        """Tokenise ``sentences`` in order into batches of ``batch_size`` (padded per batch)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise PhysDistillError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not sentences:
            raise PhysDistillError("no sentences to encode")
        out = []
        for i in range(0, len(sentences), batch_size):
            chunk = list(sentences[i:i + batch_size])
            enc = self.tokenizer(chunk, padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in enc.items()}
            out.append(Batch(inputs, inputs["attention_mask"].bool(), len(chunk)))
        return out

    def forward(self, batch: Batch) -> torch.Tensor:
        """Unit-length mean-pooled embeddings of one batch, ``(B, hidden)``."""
        hidden = self.model(**batch.inputs).last_hidden_state
        m = batch.mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def iter_embed(self, batches: Sequence[Batch]) -> Iterator[torch.Tensor]:
        with torch.inference_mode():
            for b in batches:
                yield self.forward(b)

    def embed(self, batches: Sequence[Batch]) -> torch.Tensor:
        """Embeddings of every sentence of ``batches``, in order, on the CPU, float32."""
        return torch.cat([e.float().cpu() for e in self.iter_embed(batches)])
