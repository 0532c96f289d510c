"""PINNs for any 1-D evolution PDE, and PDE discovery from data (``docs/pde.md``).

- :mod:`~physdistill.pde.equation`: the PDE as a safe string or a callable;
- :mod:`~physdistill.pde.problem`: the problem as data (box, horizon, IC, BCs, coefficients);
- :mod:`~physdistill.pde.solve`: scipy reference solvers (spectral, method of lines);
- :mod:`~physdistill.pde.model`, :mod:`~physdistill.pde.train`: the PINN and its trainer;
- :mod:`~physdistill.pde.data`: measured u(x, t) from .npz / .csv / .mat;
- :mod:`~physdistill.pde.library`, :mod:`~physdistill.pde.sparse`,
  :mod:`~physdistill.pde.discover`: term libraries, ensembled STLSQ, identifiability, discovery;
- :mod:`~physdistill.pde.examples`, :mod:`~physdistill.pde.pipeline`,
  :mod:`~physdistill.pde.cli`: built-in problems, run folders, ``physdistill pde``.
"""
