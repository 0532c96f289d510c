"""The 1-D heat equation: PINN training, solution distillation and PDE discovery.

Modules, one per step (see ``docs/heat.md``):

* :mod:`~physdistill.heat.problem` -- :class:`HeatProblem` (data) and the reference solution;
* :mod:`~physdistill.heat.pinn` -- the network and its hard-constraint transform;
* :mod:`~physdistill.heat.train` -- Adam then L-BFGS, checkpoints;
* :mod:`~physdistill.heat.solution` -- distil :math:`u(x, t)` into a formula;
* :mod:`~physdistill.heat.library`, :mod:`~physdistill.heat.pde` -- the PDE from a network;
* :mod:`~physdistill.heat.discover` -- sparsity-regularised discovery PINN;
* :mod:`~physdistill.heat.pipeline`, :mod:`~physdistill.heat.cli` -- ``physdistill heat``.

Importing this package imports nothing heavy; the modules load torch as needed.
"""
