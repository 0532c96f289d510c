"""Heat PINN training recipes side by side: network rel. L2 and the alpha the network gives.

Each run is the train stage of ``physdistill heat`` (:func:`physdistill.heat.train.train`)
with the given ``TrainConfig`` overrides on top of the general trainer's defaults (``--set
lbfgs_steps=1000`` etc.; ``--recipe`` starts from the heat recipe instead), followed by what
the run folder reports about the network: the relative L2 error against the exact solution on
the 256 x 201 grid (and its RMS in four time bands, since the 3 pi mode of the two-mode IC
lives only at early times), and the sparse-regression PDE of
:func:`physdistill.heat.pde.discover_pde` with its alpha error. ``--point-seeds N`` repeats the
PDE fit on N draws of the 4000 points where the network is differentiated, which shows how much
of the alpha error is the choice of points rather than the network. ``--time-power p`` draws
the collocation times as ``t = T s^p`` (``s`` scrambled Halton; p = 2 puts more points at early
times) by patching :meth:`PDEProblem.sample_domain` for this process. One JSON line per run on
stdout. Run, e.g.::

    python benchmarks/heat_recipe.py --ic "sin(pi*x)+0.5*sin(3*pi*x)" --set lbfgs_steps=3000
    python benchmarks/heat_recipe.py --ic "sin(2*pi*x)" --recipe
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
import warnings
from typing import Any

import numpy as np
import torch

from physdistill.heat.pde import PDEConfig, discover_pde, network_fields
from physdistill.heat.pinn import ModelConfig
from physdistill.heat.problem import HeatProblem
from physdistill.heat.train import TrainConfig, predict, recipe_config, rel_l2_on_grid, train

BANDS = ((0.0, 0.05), (0.05, 0.15), (0.15, 0.4), (0.4, 1.0))


def overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lbfgs_steps=3000", ...]`` -> ``{"lbfgs_steps": 3000}``, typed as the field's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in defaults:
            raise SystemExit(f"unknown TrainConfig field {key!r}")
        out[key] = value if isinstance(defaults[key], str) else type(defaults[key])(value)
    return out


def stretch_times(power: float) -> None:
    """Collocation times ``t = T s^power`` for every problem of this process."""
    from physdistill.pde.problem import PDEProblem

    draw = PDEProblem.sample_domain

    def sample_domain(self: PDEProblem, n: int, rng: np.random.Generator,
                      method: str = "halton") -> np.ndarray:
        pts = draw(self, n, rng, method)
        pts[:, 1] = self.T * (pts[:, 1] / self.T) ** power
        return pts

    PDEProblem.sample_domain = sample_domain  # type: ignore[method-assign]


def measure(problem: HeatProblem, config: TrainConfig, width: int,
            point_seeds: int) -> dict[str, Any]:
    """Train once; the network's rel. L2, error bands, PDE and alpha errors, and timings."""
    start = time.perf_counter()
    result = train(problem, ModelConfig(width=width), config)
    wall = time.perf_counter() - start
    model = result.model
    X, T = problem.grid(256, 201)
    err = predict(model, X, T) - problem.reference(X, T)
    bands = {f"{lo:g}-{hi:g}": float(np.sqrt(np.mean(err[(T >= lo) & (T <= hi)] ** 2)))
             for lo, hi in BANDS}
    alpha_errors, terms = [], {}
    with warnings.catch_warnings():  # a one-mode IC is not identifiable: use alpha_if_heat
        warnings.simplefilter("ignore")
        for seed in range(point_seeds):
            fields = network_fields(model, problem, 4000, seed, 3)
            pde = discover_pde(model, problem, config=PDEConfig(seed=seed), fields=fields)
            terms = terms or pde.terms
            alpha = pde.alpha if pde.alpha is not None else pde.alpha_if_heat
            alpha_errors.append(abs(alpha / problem.alpha - 1))
    h = result.history
    return {"rel_l2": rel_l2_on_grid(model, problem), "rms_error_by_t": bands,
            "pde_terms": terms, "alpha_error_by_point_seed": alpha_errors,
            "final_loss": h["loss"][-1], "lbfgs_iterations": h["step"][-1] - config.adam_steps,
            "seconds": result.seconds, "wall_s": round(wall, 1),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ic", default="sin(pi*x)+0.5*sin(3*pi*x)")
    ap.add_argument("--alpha", type=float, default=0.4)
    ap.add_argument("--recipe", action="store_true",
                    help="start from the heat recipe (RECIPES['heat']), not the general defaults")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a TrainConfig override (repeatable)")
    ap.add_argument("--width", type=int, default=20)
    ap.add_argument("--time-power", type=float, default=1.0)
    ap.add_argument("--point-seeds", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.time_power != 1.0:
        stretch_times(args.time_power)
    over = {"progress": False, **overrides(args.set)}
    config = recipe_config(**over) if args.recipe else TrainConfig(**over)
    problem = HeatProblem(alpha=args.alpha, ic=args.ic)
    row = {"ic": args.ic, "recipe": args.recipe, "set": args.set, "width": args.width,
           "time_power": args.time_power,
           **measure(problem, config, args.width, args.point_seeds)}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
