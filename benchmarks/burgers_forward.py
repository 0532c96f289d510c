"""Forward Burgers PINN (DeepXDE's example) against DeepXDE's reference solution.

Problem (reference.md section 6): u_t = -u u_x + (0.01/pi) u_xx on [-1, 1] x [0, 0.99],
u(x, 0) = -sin(pi x), u(+-1, t) = 0. The reference is DeepXDE's ``examples/dataset/Burgers.npz``,
read from ``../shared/data/burgers_deepxde.npz`` (never copied into the repository); the script
says so and exits when it is absent. Printed: the built-in method-of-lines solver against the
file, and the physdistill PINN (2-[20]x3-1, the heat recipe, with residual-based resampling)
against the file: rel. L2 and wall time. DeepXDE itself is not run here (the DeepXDE side of the
comparison is not done).

Run::

    python benchmarks/burgers_forward.py [--adam 1000] [--lbfgs 1000] [--resample-every 250]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from physdistill.pde.examples import example
from physdistill.pde.model import NetConfig
from physdistill.pde.problem import relative_l2
from physdistill.pde.train import TrainConfig, predict, train

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "burgers_deepxde.npz"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--adam", type=int, default=1000)
    ap.add_argument("--lbfgs", type=int, default=1000)
    ap.add_argument("--resample-every", type=int, default=250)
    ap.add_argument("--points", type=int, default=2540)
    args = ap.parse_args(argv)
    if not args.reference.is_file():
        print(f"skipped: reference {args.reference} not found (DeepXDE's Burgers.npz)")
        return 0
    torch.set_num_threads(1)
    with np.load(args.reference, allow_pickle=False) as z:
        x, t, usol = z["x"].ravel(), z["t"].ravel(), z["usol"]
    X, T = np.meshgrid(x, t, indexing="ij")
    problem, _ = example("burgers-deepxde")
    start = time.perf_counter()
    solver = problem.reference(X, T)
    print(f"built-in solver vs reference: rel. L2 {relative_l2(solver, usol):.3e} "
          f"({time.perf_counter() - start:.1f} s)")
    start = time.perf_counter()
    r = train(problem, NetConfig(), TrainConfig(adam_steps=args.adam, lbfgs_steps=args.lbfgs,
                                                n_domain=args.points, device="cpu",
                                                resample_every=args.resample_every,
                                                progress=False))
    wall = time.perf_counter() - start
    print(f"physdistill PINN ({args.adam} Adam + <= {args.lbfgs} L-BFGS, resample every "
          f"{args.resample_every}): rel. L2 {relative_l2(predict(r.model, X, T), usol):.3e}, "
          f"{wall:.1f} s wall ({r.seconds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
