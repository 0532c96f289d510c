"""The whole study on the tiny model: run folder, metrics, report, plot."""

from __future__ import annotations

import pytest

from physdistill.runs import RunFolder
from physdistill.symbolic import SRConfig
from physdistill.transformer.corpus import load_corpus
from physdistill.transformer.pipeline import TransformerConfig, run_transformer
from physdistill.transformer.report import rerender
from physdistill.transformer.surrogate import DistillConfig, load_surrogates

from .conftest import sentences


def test_run_transformer_writes_report(tiny, tmp_path):
    corpus = load_corpus(60, 40, sentences=sentences(100, seed=3))
    cfg = TransformerConfig(
        sizes=((8, 2), (4, 2)), max_blocks=2, batch_size=16, rank_sentences=32,
        time_sentences=32, rounds=1, device="cpu",
        distill=DistillConfig(sr=SRConfig(operators=("+", "-", "*"), max_length=7,
                                          population_size=40, generations=10,
                                          max_evaluations=2000, time_limit_s=1,
                                          n_threads=1)))
    out = tmp_path / "run"
    m = run_transformer(out, cfg, loaded=tiny, corpus=corpus, log=lambda s: None)
    for f in ("metrics.json", "report.md", "tradeoff.png", "surrogates.safetensors",
              "run.json"):
        assert (out / f).is_file(), f
    assert len(m["curve"]) == 4 and sorted(m["order"]) == [0, 1]
    table = m["headline"]["table"]
    assert set(table) == {"original", "equations", "linear", "pca_mlp"}
    assert table["original"]["fidelity"]["mean_cosine"] == pytest.approx(1.0)
    for row in table.values():
        assert row["timing"]["sentences_per_s"] > 0
    text = (out / "report.md").read_text()
    assert "published (Qwen2.5-1.5B)" in text and "differ" in text
    surrogates, _ = load_surrogates(out / "surrogates.safetensors")
    assert sorted(surrogates) == sorted(m["headline"]["blocks"])
    (out / "report.md").unlink()
    with RunFolder.open(out, "transformer", lock=True) as run:
        rerender(run)  # from metrics.json alone
    assert (out / "report.md").read_text() == text
