"""Importing the package never starts Julia, and stays light."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_import_pysr_or_juliacall():
    code = ("import physdistill, physdistill.symbolic, sys; "
            "from physdistill.symbolic import regress, compare, Expression, SRConfig; "
            "bad = [m for m in ('pysr', 'juliacall', 'juliapkg', 'pyoperon', 'torch') "
            "if m in sys.modules]; "
            "assert not bad, bad; "
            "physdistill.SymbolicModel; "
            "assert 'pysr' not in sys.modules and 'juliacall' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_symbolic_layer_imports_no_domain_package():
    code = ("import sys, physdistill.symbolic as s; s.SymbolicModel; s.slime; "
            "bad = [m for m in sys.modules if m.startswith(('physdistill.nbody', "
            "'physdistill.heat'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
