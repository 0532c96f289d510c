"""Recording the MLP blocks with hooks, and PCA round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.transformer.capture import (
    block_pcas,
    fit_pca,
    linear_map,
    mlp_blocks,
    record_blocks,
)
from physdistill.transformer.encoder import SentenceEncoder

from .conftest import sentences


@pytest.fixture(scope="module")
def recorded(tiny):
    enc = SentenceEncoder(tiny.model, tiny.tokenizer)
    batches = enc.batches(sentences(80), 16)
    return enc, batches, record_blocks(enc, batches, [1, 0], max_tokens=300, seed=0)


def test_capture_keeps_real_tokens_and_true_outputs(tiny, recorded):
    _, batches, records = recorded
    n_tokens = sum(int(b.mask.sum()) for b in batches)
    assert sorted(records) == [0, 1]
    layer = mlp_blocks(tiny.model)[1]
    rec = records[1]
    assert rec.moments.n == n_tokens and rec.sample.shape == (300, 32)
    h = torch.as_tensor(rec.inputs, dtype=torch.float32)
    with torch.no_grad():
        f = layer.output.dense(layer.intermediate(h))
    assert np.allclose(f.numpy(), rec.outputs, atol=1e-5)  # rows are (h, f(h)) pairs
    # no hook is left behind
    assert not layer.intermediate._forward_hooks and not layer.output.dense._forward_hooks


def test_pca_round_trip(recorded):
    _, _, records = recorded
    rec = records[0]
    x = torch.as_tensor(rec.inputs)
    full_in, _ = block_pcas(rec, 16, 16)
    assert full_in.explained == pytest.approx(1.0)
    assert torch.allclose(full_in.decode(full_in.encode(x)), x, atol=1e-8)
    c = full_in.components
    assert torch.allclose(c.T @ c, torch.eye(16, dtype=c.dtype), atol=1e-10)
    small, _ = block_pcas(rec, 4, 2)
    err = (small.decode(small.encode(x)) - x).pow(2).sum(1).mean()
    assert 0 < small.explained < 1 and float(err) > 0
    with pytest.raises(PhysDistillError, match="PCA size"):
        fit_pca(rec.moments.means()[0], rec.moments.covariances()[0], 17)


def test_linear_map_is_least_squares(recorded):
    enc, batches, _ = recorded
    rec = record_blocks(enc, batches, [0], max_tokens=100_000)[0]  # every token kept
    pin, pout = block_pcas(rec, 6, 3)
    A = linear_map(rec, pin, pout)
    z = pin.encode(torch.as_tensor(rec.inputs))
    y = pout.encode(torch.as_tensor(rec.outputs))
    ref = torch.linalg.lstsq(z, y).solution
    assert torch.allclose(A, ref, atol=1e-6)


def test_bad_blocks_are_named(tiny):
    enc = SentenceEncoder(tiny.model, tiny.tokenizer)
    with pytest.raises(PhysDistillError, match="block 5 does not exist"):
        record_blocks(enc, enc.batches(sentences(4)), [5])
    with pytest.raises(PhysDistillError, match="named twice"):
        record_blocks(enc, enc.batches(sentences(4)), [0, 0])
