"""The generic layers are domain-free: they load nothing from the n-body, heat or PDE packages."""

from __future__ import annotations

import subprocess
import sys


def test_generic_layers_import_no_domain_package():
    code = ("import sys, physdistill.gnn, physdistill.gnn.report, physdistill.gnn.linfit, "
            "physdistill.report_html, physdistill.plots, physdistill.symbolic, "
            "physdistill.checkpoints, physdistill.runs; "
            "print(sorted(m for m in sys.modules if m.startswith(('physdistill.nbody', "
            "'physdistill.heat', 'physdistill.pde'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
