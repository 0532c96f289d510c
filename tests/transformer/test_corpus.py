"""The corpus: standard-library docstrings, parsed (never imported), split without overlap."""

from __future__ import annotations

import pytest

from physdistill.errors import PhysDistillError
from physdistill.transformer.corpus import load_corpus, stdlib_docstrings


def test_docstrings_are_parsed_not_imported(tmp_path):
    (tmp_path / "mod.py").write_text(
        '"""Return the value of the thing. This text has enough words to be kept."""\n'
        'raise SystemExit("imported!")\n'
        'def f():\n    """Open the file and read every line of it twice."""\n')
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "t.py").write_text('"""A test module that should never be read."""\n')
    found = stdlib_docstrings(root=tmp_path)
    assert found == ["Open the file and read every line of it twice.",
                     "Return the value of the thing.", "This text has enough words to be kept."]


def test_split_is_disjoint_and_seeded():
    s = [f"Sentence number {i} is here." for i in range(50)]
    a, b = load_corpus(30, 10, seed=1, sentences=s), load_corpus(30, 10, seed=1, sentences=s)
    assert a == b and not set(a.fit) & set(a.eval) and len(a.fit) == 30
    assert load_corpus(30, 10, seed=2, sentences=s).digest != a.digest
    with pytest.raises(PhysDistillError, match="fewer than"):
        load_corpus(45, 10, sentences=s)
