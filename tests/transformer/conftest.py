"""A tiny BERT with random weights and a word-level tokenizer, built in memory (no download)."""

from __future__ import annotations

import pytest

WORDS = ("the a module function returns value of object list file name class data string "
         "type path error default argument number is are and or not to in for with this "
         "that new each time set get read write call open close test line text byte key").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` random sentences of the tokenizer's words, 5 to 12 words long."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 12))]
        out.append(" ".join(words).capitalize() + ".")
    return out


@pytest.fixture(scope="session")
def tiny():
    """A 2-layer BERT (hidden 16, MLP 32) and its tokenizer, as a LoadedModel."""
    pytest.importorskip("transformers", reason="needs the optional extra physdistill[transformer]")
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from physdistill.transformer.loading import LoadedModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + WORDS
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=64,
                        initializer_range=0.3)  # large enough that each MLP matters
    model = BertModel(config, add_pooling_layer=False).eval()
    return LoadedModel(model, tokenizer, "built in memory", "tiny-bert")
