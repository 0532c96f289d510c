"""Real English text that ships with every Python: the docstrings of the standard library.

The sentences come from the ``.py`` files of the running interpreter's standard library
(``sysconfig.get_paths()["stdlib"]``, top level and packages, tests and IDLE left out). Each
file is *parsed* with :mod:`ast` (never imported: importing ``this`` or ``antigravity`` has side
effects), and the docstrings of its module, classes and functions are split into sentences.
The result depends only on the Python version, so it is named in every report with that
version and a hash of the sentences.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from physdistill.errors import PhysDistillError

#: standard-library folders that hold test data, generated tables or tool code, not prose
_SKIP_PARTS = {"test", "tests", "idlelib", "lib2to3", "site-packages", "__pycache__",
               "turtledemo", "pydoc_data", "encodings", "ensurepip", "venv"}
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Corpus:
    """Sentences split into a fitting set and an evaluation (retrieval) set.

    Attributes:
        fit: sentences the blocks are recorded on (PCA, linear maps, equations).
        eval: held-out sentences: fidelity and retrieval are measured on these only.
        name: what the text is, for the report.
        digest: SHA-256 (16 hex digits) of all sentences, in order.
    """

    fit: tuple[str, ...]
    eval: tuple[str, ...]
    name: str
    digest: str


def _sentences(text: str, min_words: int, max_words: int) -> list[str]:
    flat = " ".join(text.split())
    out = []
    for s in _SPLIT.split(flat):
        words = s.split()
        if min_words <= len(words) <= max_words and s[0].isupper() and s[-1] in ".!?" \
                and sum(bool(_WORD.search(w)) for w in words) >= 0.8 * len(words):
            out.append(s)
    return out


def stdlib_docstrings(min_words: int = 6, max_words: int = 40,
                      root: str | Path | None = None) -> list[str]:
    """Unique sentences of the standard library's docstrings, sorted.

    Args:
        min_words, max_words: keep sentences of this many words.
        root: the standard-library folder (default: the running interpreter's).
    """
    root = Path(root or sysconfig.get_paths()["stdlib"])
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        if _SKIP_PARTS & set(path.relative_to(root).parts[:-1]):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    found.update(_sentences(doc, min_words, max_words))
    return sorted(found)


def load_corpus(n_fit: int = 1500, n_eval: int = 500, seed: int = 0,
                sentences: list[str] | None = None) -> Corpus:
    """Shuffle the sentences (seeded) and take ``n_fit`` for fitting and the next ``n_eval``
    for evaluation (disjoint).

    Args:
        sentences: use these instead of the standard library's docstrings (tests).

    Raises:
        PhysDistillError: fewer sentences than ``n_fit + n_eval``.
    """
    name = ("Python standard-library docstrings (Python "
            f"{sys.version_info.major}.{sys.version_info.minor}, parsed with ast)")
    if sentences is None:
        sentences = stdlib_docstrings()
    else:
        name = "sentences given by the caller"
    for what, n in (("n_fit", n_fit), ("n_eval", n_eval)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise PhysDistillError(f"{what} must be an integer >= 2, got {n!r}")
    if len(sentences) < n_fit + n_eval:
        raise PhysDistillError(f"the corpus has {len(sentences)} sentences, fewer than n_fit + "
                               f"n_eval = {n_fit + n_eval}; ask for fewer")
    order = list(sentences)
    random.Random(seed).shuffle(order)
    fit, ev = tuple(order[:n_fit]), tuple(order[n_fit:n_fit + n_eval])
    digest = hashlib.sha256("\n".join(fit + ev).encode()).hexdigest()[:16]
    return Corpus(fit, ev, name, digest)
