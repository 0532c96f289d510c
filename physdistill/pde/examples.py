"""Built-in problems; each simulates its own data with :mod:`physdistill.pde.solve`.

========================  ===============================================  ====================
name                      PDE, box, horizon, IC, BCs                       data grid (nx x nt)
========================  ===============================================  ====================
``heat``                  u_t = 0.4 u_xx on [0, 1], T 1, two sine modes,   256 x 101
                          Dirichlet 0
``burgers``               u_t = -u u_x + 0.1 u_xx on [-8, 8), T 10,        256 x 101
                          exp(-(x+2)^2), periodic (PDE-FIND's setting)
``kdv``                   u_t = -6 u u_x - u_xxx on [-15, 15), T 2,        256 x 101
                          exp(-x^2/4) (a soliton and a dispersive train), periodic
``fisher``                u_t = 0.1 u_xx + u - u^2 (Fisher-KPP reaction-   256 x 101
                          diffusion) on [-10, 10], T 8, exp(-x^2), Neumann 0
``burgers-deepxde``       u_t = -u u_x + (0.01/pi) u_xx on [-1, 1],        256 x 100
                          T 0.99, -sin(pi x), Dirichlet 0 (DeepXDE's)
========================  ===============================================  ====================

KdV starts from a Gaussian, not from solitons: a single soliton satisfies :math:`u_t = -c\\,u_x`
exactly, and separated solitons nearly so, so the PDE would not be identifiable.
"""

from __future__ import annotations

import math
from typing import Any

from physdistill.errors import PhysDistillError
from physdistill.pde.problem import PDEProblem

EXAMPLES: dict[str, dict[str, Any]] = {
    "heat": {"pde": "u_t = alpha*u_xx", "ic": "sin(pi*x) + 0.5*sin(3*pi*x)",
             "domain": (0.0, 1.0), "T": 1.0, "bc": "dirichlet",
             "coefficients": {"alpha": 0.4}, "grid": (256, 101)},
    "burgers": {"pde": "u_t = -u*u_x + nu*u_xx", "ic": "exp(-(x + 2)**2)",
                "domain": (-8.0, 8.0), "T": 10.0, "bc": "periodic",
                "coefficients": {"nu": 0.1}, "grid": (256, 101)},
    "kdv": {"pde": "u_t = -6*u*u_x - u_xxx", "ic": "exp(-x**2/4)",
            "domain": (-15.0, 15.0), "T": 2.0, "bc": "periodic", "coefficients": {},
            "grid": (256, 101)},
    "fisher": {"pde": "u_t = D*u_xx + r*u - r*u**2", "ic": "exp(-x**2)",
               "domain": (-10.0, 10.0), "T": 8.0, "bc": "neumann",
               "coefficients": {"D": 0.1, "r": 1.0}, "grid": (256, 101)},
    "burgers-deepxde": {"pde": "u_t = -u*u_x + nu*u_xx", "ic": "-sin(pi*x)",
                        "domain": (-1.0, 1.0), "T": 0.99, "bc": "dirichlet",
                        "coefficients": {"nu": 0.01 / math.pi}, "grid": (256, 100)},
}
#: the PINN training recipe an example's forward and inverse runs take unless the command line
#: overrides a value (``TrainConfig`` fields); the shock of DeepXDE's Burgers example needs a
#: faster start and resampling (docs/pde.md, "Forward Burgers", measured against DeepXDE). Heat
#: (also the recipe of ``physdistill heat``): L-BFGS runs until it stalls, with a memory of 500
#: pairs; a fast-decaying mode needs several thousand iterations, one slow mode about 700
#: (docs/heat.md, "PINN and trainer")
RECIPES: dict[str, dict[str, Any]] = {
    "heat": {"lbfgs_steps": 10_000, "lbfgs_history": 500, "lbfgs_stall": 0.01,
             "lbfgs_stall_window": 250},
    "burgers-deepxde": {"dtype": "float32", "adam_lr": 1e-2, "adam_steps": 2000,
                        "resample_every": 250, "lbfgs_steps": 3000, "holdout": 4096,
                        "restarts": 1},
}


def example(name: str, learn: tuple[str, ...] = ()) -> tuple[PDEProblem, tuple[int, int]]:
    """``(problem, (nx, nt))`` of a built-in example (see the module docstring).

    Raises:
        PhysDistillError: unknown name (the message lists the known ones).
    """
    if name not in EXAMPLES:
        raise PhysDistillError(f"unknown example {name!r}; expected one of {sorted(EXAMPLES)}")
    spec = dict(EXAMPLES[name])
    grid = spec.pop("grid")
    return PDEProblem(**spec, learn=learn, name=name), grid


def simulate(problem: PDEProblem, nx: int, nt: int) -> Any:
    """The reference solution on an ``nx x nt`` grid as :class:`~physdistill.pde.data.MeasuredData`."""
    from physdistill.pde.data import MeasuredData

    X, T = problem.grid(nx, nt)
    return MeasuredData.from_grid(X[:, 0], T[0], problem.reference(X, T),
                                  f"{problem.name} (simulated, {nx} x {nt})")
