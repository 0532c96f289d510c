"""physdistill: train GNNs and PINNs, then distil them into closed-form equations.

Importing the package is cheap: heavy modules (torch, sympy, pyoperon) load on first use of the
names below, and PySR/Julia load only inside the PySR backend.
"""

from __future__ import annotations

import importlib
from typing import Any

from physdistill.errors import PhysDistillError

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "SymbolicModel": "physdistill.symbolic",
    "get_law": "physdistill.nbody.laws",
    "ForceLaw": "physdistill.nbody.laws",
    "simulate": "physdistill.nbody.simulate",
    "SimConfig": "physdistill.nbody.simulate",
}

__all__ = ["PhysDistillError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'physdistill' has no attribute {name!r}")
