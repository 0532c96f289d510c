"""PDE discovery: the network route (physdistill) against PDE-FIND on finite differences, same data.

Cases (the targets of issue 16): Burgers u_t = -u u_x + 0.1 u_xx on [-8, 8) x [0, 10]
(256 x 101, PDE-FIND's setting) at 0 %, 1 % and 10 % noise; KdV u_t = -6 u u_x - u_xxx on
[-15, 15) x [0, 2] from exp(-x^2/4) (256 x 101) at 0 % and 1 % noise. Noise is Gaussian with
standard deviation ``level * std(u)``, seed 0. All methods use the same library (PDE-FIND's
{1, u, u^2} x {1, u_x, u_xx, u_xxx}) and the same bootstrap-ensembled STLSQ; they differ in
where the regression rows come from:

* ``PDE-FIND (FD)``: pysindy's FiniteDifference derivatives of the grid, strong form;
* ``weak (FD)``: the same data in the weak form (WSINDy: u and its finite-difference u_x
  against test functions);
* ``PINN weak``: a network fitted to the samples, u and u_x of it on a grid, weak form
  (the :class:`~physdistill.pde.discover.DiscoveryConfig` default);
* ``PINN strong``: the same network's autograd derivatives at random points (``weak=None``),
  with 300 L-BFGS iterations of physics refinement.

Printed per case and method: the found PDE, whether the support is correct, the largest
relative coefficient error over the true terms, and wall time (the network fit is counted in
each PINN row).

Run::

    python benchmarks/pde_discovery.py                 # all five cases, all methods
    python benchmarks/pde_discovery.py --cases kdv:0.01 --methods pdefind weak-fd pinn-weak
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time

import torch

from physdistill.pde.discover import DiscoveryConfig, discover, pdefind
from physdistill.pde.examples import example, simulate
from physdistill.pde.pipeline import truth_terms
from physdistill.pde.weak import WeakConfig

CASES = ("burgers:0", "burgers:0.01", "burgers:0.1", "kdv:0", "kdv:0.01")
METHODS = ("pdefind", "weak-fd", "pinn-weak", "pinn-strong")
LABELS = {"pdefind": "PDE-FIND (FD)", "weak-fd": "weak (FD)", "pinn-weak": "PINN weak",
          "pinn-strong": "PINN strong"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), help="name:noise")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="network, noise and bootstrap seed")
    ap.add_argument("--fit-lbfgs", type=int, default=DiscoveryConfig().fit_lbfgs)
    ap.add_argument("--header", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = DiscoveryConfig(seed=args.seed, fit_lbfgs=args.fit_lbfgs)
    if args.header:
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
              f"{torch.__version__}, {args.threads} thread(s), seed {args.seed}; DiscoveryConfig (fit "
              f"{cfg.fit_adam} Adam + {cfg.fit_lbfgs} L-BFGS, refine {cfg.physics_steps}, "
              f"{cfg.weak})")
        print("| case | noise | method | discovered | support | max coef. error | seconds |")
        print("|---|---|---|---|---|---|---|")
    for case in args.cases:
        name, _, level = case.partition(":")
        noise = float(level or 0)
        problem, (nx, nt) = example(name)
        data = simulate(problem, nx, nt).with_noise(noise, args.seed)
        truth = truth_terms(problem)
        for method in args.methods:
            start = time.perf_counter()
            if method in ("pdefind", "weak-fd"):
                res = pdefind(data, periodic=problem.bc == "periodic", truth=truth,
                              seed=args.seed, weak=WeakConfig() if method == "weak-fd" else None)
                text, t = res["expression"], res["truth"]
            else:
                c = cfg if method == "pinn-weak" else dataclasses.replace(cfg, weak=None,
                                                                         physics_steps=300)
                found = discover(data, c, truth=truth)
                text, t = found.fit.text(6), found.truth
            sec = time.perf_counter() - start
            err = t["max_rel_error"]
            print(f"| {name} | {noise:g} | {LABELS[method]} (seed {args.seed}) | `{text}` | "
                  f"{'yes' if t['support_correct'] else 'no'} | "
                  f"{'-' if err is None else f'{100 * err:.3f} %'} | {sec:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
