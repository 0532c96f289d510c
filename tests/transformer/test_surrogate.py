"""Distillation, the switch and switching back, and save/load (safetensors + JSON)."""

from __future__ import annotations

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.symbolic import SRConfig
from physdistill.transformer.capture import record_blocks
from physdistill.transformer.encoder import SentenceEncoder
from physdistill.transformer.surrogate import (
    BlockSwitch,
    DistillConfig,
    build_surrogate,
    load_surrogates,
    save_surrogates,
)

from .conftest import sentences

TINY_SR = DistillConfig(sr=SRConfig(operators=("+", "-", "*", "square"), max_length=9,
                                    population_size=60, generations=20,
                                    max_evaluations=5000, time_limit_s=2, n_threads=1),
                        max_samples=400)


@pytest.fixture(scope="module")
def setup(tiny):
    enc = SentenceEncoder(tiny.model, tiny.tokenizer)
    fit = enc.batches(sentences(80, seed=1), 16)
    ev = enc.batches(sentences(40, seed=2), 16)
    records = record_blocks(enc, fit, [0, 1], max_tokens=600)
    switch = BlockSwitch(tiny.model)
    eq, distilled = build_surrogate(records[1], switch.layers[1], 8, 3, "equations", TINY_SR)
    return enc, ev, records, switch, eq, distilled


def test_distillation_gives_equations_that_help(setup):
    *_, eq, d = setup
    assert set(d.fronts) == {0, 1, 2}  # one front per kept output component
    assert d.equations, "the tiny search should keep at least one equation"
    for j, e in d.equations.items():
        assert set(e.variables) <= {f"z{i}" for i in range(8)}
        assert d.r2_equations[j] >= d.r2_linear[j]  # kept only when it helps on held-out rows
        assert d.gain[j] >= TINY_SR.min_gain
    assert eq.equations == d.equations


def test_switch_and_switch_back(setup):
    enc, ev, _, switch, eq, _ = setup
    base = enc.embed(ev)
    layer = switch.layers[1]
    inter, dense = layer.intermediate, layer.output.dense
    with switch.switched({1: eq}):
        assert switch.active == [1] and layer.intermediate is eq
        hybrid = enc.embed(ev)
    assert layer.intermediate is inter and layer.output.dense is dense and switch.active == []
    assert not torch.allclose(hybrid, base, atol=1e-4)
    assert torch.equal(enc.embed(ev), base)  # switched back exactly
    cos = torch.nn.functional.cosine_similarity(hybrid, base).mean()
    assert cos > 0.9
    with pytest.raises(RuntimeError), switch.switched({1: eq}):
        raise RuntimeError("inside")
    assert layer.intermediate is inter  # restored after an error too
    with pytest.raises(PhysDistillError, match="block 7 does not exist"):
        switch.switch({7: eq})


def test_pca_mlp_control_at_full_size_is_the_original(setup):
    enc, ev, records, switch, *_ = setup
    base = enc.embed(ev)
    every = record_blocks(enc, ev, [0], max_tokens=100_000)[0]  # clip range: every token
    full, _ = build_surrogate(every, switch.layers[0], 16, 16, "pca_mlp")
    lin, _ = build_surrogate(records[0], switch.layers[0], 16, 16, "linear")
    with switch.switched({0: full}):
        assert torch.allclose(enc.embed(ev), base, atol=1e-4)
    with switch.switched({0: lin}):
        assert not torch.allclose(enc.embed(ev), base, atol=1e-3)  # the MLP is not linear


def test_save_load_round_trip(setup, tmp_path):
    enc, ev, records, switch, eq, _ = setup
    lin, _ = build_surrogate(records[0], switch.layers[0], 4, 2, "linear")
    path = tmp_path / "s.safetensors"
    save_surrogates(path, {1: eq, 0: lin}, {"model": "tiny"})
    loaded, meta = load_surrogates(path)
    assert meta == {"model": "tiny"} and sorted(loaded) == [0, 1]
    assert loaded[1].equations == eq.equations and loaded[0].kind == "linear"
    with switch.switched({1: eq, 0: lin}):
        a = enc.embed(ev)
    with switch.switched(loaded):
        b = enc.embed(ev)
    assert torch.allclose(a, b, atol=1e-6)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:  # one safetensors file, structure as JSON metadata
        assert "physdistill_structure" in fh.metadata()
    pm, _ = build_surrogate(records[0], switch.layers[0], 4, 2, "pca_mlp")
    with pytest.raises(PhysDistillError, match="pca_mlp"):
        save_surrogates(tmp_path / "x.safetensors", {0: pm})
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(PhysDistillError):
        load_surrogates(tmp_path / "junk.safetensors")
