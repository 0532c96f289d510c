"""Fidelity metrics and the interleaved timer."""

from __future__ import annotations

import contextlib

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.transformer.bench import fidelity, neighbours, time_variants
from physdistill.transformer.encoder import SentenceEncoder

from .conftest import sentences


def test_fidelity_of_itself_and_of_a_shuffle():
    torch.manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(50, 8), dim=-1)
    same = fidelity(e, e, k=5)
    assert same.mean_cosine == pytest.approx(1.0) and same.knn_agreement == 1.0
    other = fidelity(e, e[torch.randperm(50)], k=5)
    assert other.mean_cosine < 0.5 and other.knn_agreement < 0.5
    nn = neighbours(e, 5)
    assert nn.shape == (50, 5) and not (nn == torch.arange(50)[:, None]).any()  # self left out
    with pytest.raises(PhysDistillError, match="more than 50"):
        neighbours(e, 50)


def test_time_variants_interleaves_every_variant(tiny):
    enc = SentenceEncoder(tiny.model, tiny.tokenizer)
    batches = enc.batches(sentences(24), 8)
    entered = []

    @contextlib.contextmanager
    def marked():
        entered.append("b")
        yield

    t = time_variants(enc, batches, {"a": contextlib.nullcontext, "b": marked}, rounds=2,
                      warmup=0)
    assert set(t) == {"a", "b"} and len(entered) == 1 + 2 * 3  # warm-up, then per run
    for v in t.values():
        assert v.sentences_per_s > 0 and v.cpu_sentences_per_s > 0 and v.latency_ms > 0
    with pytest.raises(PhysDistillError, match="rounds"):
        time_variants(enc, batches, {"a": contextlib.nullcontext}, rounds=0)
