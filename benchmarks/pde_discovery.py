"""PDE discovery: PINN-based (physdistill) against PDE-FIND on finite differences, same data.

Cases (the targets of issue 16): Burgers u_t = -u u_x + 0.1 u_xx on [-8, 8) x [0, 10]
(256 x 101, PDE-FIND's setting) at 0 %, 1 % and 10 % noise; KdV u_t = -6 u u_x - u_xxx on
[-20, 20) x [0, 5] (256 x 101, two solitons) at 0 % and 1 % noise. Noise is Gaussian with
standard deviation ``level * std(u)``, seed 0. Both methods use the same library (PDE-FIND's
{1, u, u^2} x {1, u_x, u_xx, u_xxx}) and the same bootstrap-ensembled STLSQ; they differ only
in where the derivatives come from (pysindy's FiniteDifference, or autograd of a network fitted
to the data and refined with the physics residual). Printed per case and method: the found
PDE, whether the support is correct, the largest relative coefficient error, and wall time.

Run::

    python benchmarks/pde_discovery.py                 # all five cases
    python benchmarks/pde_discovery.py --cases burgers:0.1 kdv:0
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

from physdistill.pde.discover import DiscoveryConfig, discover, pdefind
from physdistill.pde.examples import example, simulate
from physdistill.pde.pipeline import truth_terms

CASES = ("burgers:0", "burgers:0.01", "burgers:0.1", "kdv:0", "kdv:0.01")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), help="name:noise")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = DiscoveryConfig(seed=args.seed)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, {args.threads} thread(s); DiscoveryConfig defaults "
          f"(fit {cfg.fit_adam} Adam + {cfg.fit_lbfgs} L-BFGS, refine {cfg.physics_steps})")
    print("| case | noise | method | discovered | support | max coef. error | seconds |")
    print("|---|---|---|---|---|---|---|")
    for case in args.cases:
        name, _, level = case.partition(":")
        noise = float(level or 0)
        problem, (nx, nt) = example(name)
        clean = simulate(problem, nx, nt)
        data = clean.with_noise(noise, args.seed)
        truth = truth_terms(problem)
        pf = pdefind(data, periodic=True, truth=truth, seed=args.seed)
        start = time.perf_counter()
        res = discover(data, cfg, truth=truth)
        seconds = time.perf_counter() - start
        for method, text, t, sec in (("PDE-FIND (FD)", pf["expression"], pf["truth"],
                                      pf["seconds"]),
                                     ("PINN", res.fit.text(6), res.truth, seconds)):
            err = t["max_rel_error"]
            print(f"| {name} | {noise:g} | {method} | `{text}` | "
                  f"{'yes' if t['support_correct'] else 'no'} | "
                  f"{'-' if err is None else f'{100 * err:.3f} %'} | {sec:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
