"""Forward Burgers PINN (DeepXDE's example) against DeepXDE's reference solution, and DeepXDE.

Problem (reference.md section 6): u_t = -u u_x + (0.01/pi) u_xx on [-1, 1] x [0, 0.99],
u(x, 0) = -sin(pi x), u(+-1, t) = 0. The reference is DeepXDE's ``examples/dataset/Burgers.npz``,
read from ``../shared/data/burgers_deepxde.npz`` (never copied into the repository); the script
says so and exits when it is absent. Printed, each as rel. L2 against the file and wall time:

* ``solver``: the built-in method-of-lines solver;
* ``physdistill``: the PDE PINN (2-[20]x3-1, float64, hard IC/BC, Adam with residual-based
  resampling, then L-BFGS);
* ``deepxde``: DeepXDE's own Burgers example (PyTorch backend, ``DDE_BACKEND=pytorch``): the
  same network, 2540 + 80 + 160 points, Adam 1e-3 for ``--dde-adam`` steps (15000 in the
  example), then L-BFGS (``--dde-lbfgs`` iterations at most).

Run::

    python benchmarks/burgers_forward.py --run solver physdistill
    DDE_BACKEND=pytorch python benchmarks/burgers_forward.py --run deepxde
"""

from __future__ import annotations

import argparse
import math
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


def run_physdistill(args: argparse.Namespace, X: np.ndarray, T: np.ndarray,
                    usol: np.ndarray) -> None:
    problem, _ = example("burgers-deepxde")
    start = time.perf_counter()
    r = train(problem, NetConfig(width=args.width, depth=args.depth),
              TrainConfig(adam_steps=args.adam, lbfgs_steps=args.lbfgs, n_domain=args.points,
                          device="cpu", resample_every=args.resample_every,
                          resample_pool=args.pool, progress=False))
    wall = time.perf_counter() - start
    print(f"physdistill PINN 2-[{args.width}]x{args.depth}-1 ({args.adam} Adam + <= {args.lbfgs} "
          f"L-BFGS, {args.points} points, resample every {args.resample_every}): rel. L2 "
          f"{relative_l2(predict(r.model, X, T), usol):.3e}, {wall:.1f} s wall ({r.seconds})",
          flush=True)


def run_deepxde(args: argparse.Namespace, X: np.ndarray, T: np.ndarray,
                usol: np.ndarray) -> None:
    import deepxde as dde

    if dde.backend.backend_name != "pytorch":
        sys.exit(f"DeepXDE uses the {dde.backend.backend_name} backend; run with "
                 "DDE_BACKEND=pytorch")
    nu = 0.01 / math.pi
    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1),
                                          dde.geometry.TimeDomain(0, 0.99))

    def pde(x, y):
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        return dy_t + y * dy_x - nu * dde.grad.hessian(y, x, i=0, j=0)

    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]),
                     lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80,
                            num_initial=160)
    net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    xt = np.stack([X.ravel(), T.ravel()], 1)

    def error() -> float:
        return relative_l2(model.predict(xt)[:, 0].reshape(usol.shape), usol)

    start = time.perf_counter()
    model.compile("adam", lr=1e-3)
    model.train(iterations=args.dde_adam, display_every=1000, verbose=0)
    adam = time.perf_counter() - start
    pause = time.perf_counter()
    e_adam = error()
    start += time.perf_counter() - pause
    print(f"DeepXDE after {args.dde_adam} Adam: rel. L2 {e_adam:.3e}, {adam:.1f} s", flush=True)
    if args.dde_lbfgs:
        dde.optimizers.set_LBFGS_options(maxiter=args.dde_lbfgs)
        model.compile("L-BFGS")
        model.train(display_every=1000, verbose=0)
        print(f"DeepXDE after L-BFGS (<= {args.dde_lbfgs}): rel. L2 {error():.3e}, "
              f"{time.perf_counter() - start:.1f} s wall in all", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--run", nargs="+", default=["solver", "physdistill"],
                    choices=("solver", "physdistill", "deepxde"))
    ap.add_argument("--adam", type=int, default=1000)
    ap.add_argument("--lbfgs", type=int, default=1000)
    ap.add_argument("--resample-every", type=int, default=250)
    ap.add_argument("--pool", type=int, default=4, help="RAR-D pool, multiple of --points")
    ap.add_argument("--points", type=int, default=2540)
    ap.add_argument("--width", type=int, default=20)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--dde-adam", type=int, default=15000)
    ap.add_argument("--dde-lbfgs", type=int, default=15000)
    args = ap.parse_args(argv)
    if not args.reference.is_file():
        print(f"skipped: reference {args.reference} not found (DeepXDE's Burgers.npz)")
        return 0
    torch.set_num_threads(1)
    with np.load(args.reference, allow_pickle=False) as z:
        x, t, usol = z["x"].ravel(), z["t"].ravel(), z["usol"]
    X, T = np.meshgrid(x, t, indexing="ij")
    if "solver" in args.run:
        problem, _ = example("burgers-deepxde")
        start = time.perf_counter()
        solver = problem.reference(X, T)
        print(f"built-in solver vs reference: rel. L2 {relative_l2(solver, usol):.3e} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    if "physdistill" in args.run:
        run_physdistill(args, X, T, usol)
    if "deepxde" in args.run:
        run_deepxde(args, X, T, usol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
