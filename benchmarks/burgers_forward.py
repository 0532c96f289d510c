"""Forward Burgers PINN (DeepXDE's example) against DeepXDE's reference solution, and DeepXDE.

Problem (reference.md section 6): u_t = -u u_x + (0.01/pi) u_xx on [-1, 1] x [0, 0.99],
u(x, 0) = -sin(pi x), u(+-1, t) = 0. The reference is DeepXDE's ``examples/dataset/Burgers.npz``,
read from ``../shared/data/burgers_deepxde.npz`` (never copied into the repository); the script
says so and exits when it is absent. Runs (``--run``), each reported as rel. L2 against the file
and wall time:

* ``solver``: the built-in method-of-lines solver;
* ``physdistill``: the PDE PINN with the Burgers recipe (2-[20]x3-1, float32, hard IC/BC,
  Adam from lr 1e-2 for 2000 steps with RAR-D every 250, then at most 3000 L-BFGS iterations,
  the held-out guard on 4096 points with one restart);
* ``deepxde``: DeepXDE's own Burgers example (PyTorch backend; ``DDE_BACKEND`` is set to
  ``pytorch`` when unset): the same network, 2540 + 80 + 160 points, Adam 1e-3 for
  ``--dde-adam`` steps (15000 in the example), then L-BFGS (``--dde-lbfgs`` iterations at most);
* ``derivatives``: milliseconds per Adam step of the Burgers residual loss, forward-mode jet
  against nested autograd, float32 and float64.

``physdistill`` and ``deepxde`` run at the same time, each in its own process with one torch
thread, so that both see the same machine load; ``--repeat N`` repeats the pair with seeds
``0..N-1`` and adds the medians. Run::

    python benchmarks/burgers_forward.py --run solver physdistill deepxde
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from physdistill.pde.examples import example
from physdistill.pde.model import NetConfig, derivatives
from physdistill.pde.problem import relative_l2
from physdistill.pde.train import TrainConfig, predict, train

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "burgers_deepxde.npz"
Reference = tuple[np.ndarray, np.ndarray, np.ndarray]


def load_reference(path: Path) -> Reference:
    """``(X, T, usol)`` on the file's ``256 x 100`` grid."""
    with np.load(path, allow_pickle=False) as z:
        x, t, usol = z["x"].ravel(), z["t"].ravel(), z["usol"]
    X, T = np.meshgrid(x, t, indexing="ij")
    return X, T, usol


def run_physdistill(args: argparse.Namespace, ref: Reference, seed: int) -> dict:
    X, T, usol = ref
    problem, _ = example("burgers-deepxde")
    cfg = TrainConfig(adam_steps=args.adam, adam_lr=args.adam_lr, lbfgs_steps=args.lbfgs,
                      dtype=args.dtype, n_domain=args.points, resample_every=args.resample_every,
                      holdout=args.holdout, restarts=args.restarts if args.holdout else 0,
                      seed=seed, device="cpu", progress=False)
    start = time.perf_counter()
    r = train(problem, NetConfig(width=args.width, depth=args.depth), cfg)
    wall = time.perf_counter() - start
    return {"run": "physdistill", "seed": seed, "rel_l2": relative_l2(predict(r.model, X, T), usol),
            "wall": wall, "detail": f"{r.seconds}, {r.history['step'][-1]} steps, "
                                    f"{_guard_summary(r.guard)}"}


def _guard_summary(g: dict) -> str:
    if not g:
        return "no guard"
    tries = g.get("attempts", [g])
    return "; ".join(f"seed {a['seed']}: held-out best {a['best']:.2e}"
                     f"{', L-BFGS stopped' if a['stopped'] else ''}" for a in tries)


def run_deepxde(args: argparse.Namespace, ref: Reference, seed: int) -> dict:
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    if dde.backend.backend_name != "pytorch":
        raise SystemExit(f"DeepXDE uses the {dde.backend.backend_name} backend; run with "
                         "DDE_BACKEND=pytorch")
    X, T, usol = ref
    dde.config.set_random_seed(seed)
    nu = 0.01 / math.pi
    xt = np.stack([X.ravel(), T.ravel()], 1)

    def pde(x, y):
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        return dy_t + y * dy_x - nu * dde.grad.hessian(y, x, i=0, j=0)

    start = time.perf_counter()
    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1),
                                          dde.geometry.TimeDomain(0, 0.99))
    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]),
                     lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80,
                            num_initial=160)
    model = dde.Model(data, dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal"))
    model.compile("adam", lr=1e-3)
    model.train(iterations=args.dde_adam, display_every=1000, verbose=0)
    adam = time.perf_counter() - start
    e_adam = relative_l2(model.predict(xt)[:, 0].reshape(usol.shape), usol)
    start2 = time.perf_counter()
    if args.dde_lbfgs:
        dde.optimizers.set_LBFGS_options(maxiter=args.dde_lbfgs)
        model.compile("L-BFGS")
        model.train(display_every=1000, verbose=0)
    wall = adam + time.perf_counter() - start2
    return {"run": "deepxde", "seed": seed,
            "rel_l2": relative_l2(model.predict(xt)[:, 0].reshape(usol.shape), usol),
            "wall": wall, "detail": f"after {args.dde_adam} Adam: {e_adam:.3e} at {adam:.1f} s"}


def _job(name: str, args: argparse.Namespace, seed: int) -> dict:
    torch.set_num_threads(1)
    ref = load_reference(args.reference)
    import scipy.stats  # noqa: F401  one-time imports (scipy.stats, torch's optimizer
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # machinery) off both clocks
    return (run_physdistill if name == "physdistill" else run_deepxde)(args, ref, seed)


def time_derivatives(points: int, repeats: int = 200) -> None:
    """Milliseconds per Adam step (loss + backward) of the residual loss, jet vs autograd."""
    problem, _ = example("burgers-deepxde")
    from physdistill.pde.model import PINN

    for dtype in (torch.float32, torch.float64):
        model = PINN(problem, NetConfig()).to(dtype)
        xt = torch.rand(points, 2, dtype=dtype) * torch.tensor([2, 0.99], dtype=dtype)
        xt[:, 0] -= 1
        ms = {}
        for method in ("autograd", "jet", "autograd", "jet"):  # twice, interleaved
            for i in range(repeats + 20):
                if i == 20:
                    start = time.perf_counter()
                d = derivatives(model, xt, 2, method=method)
                r = d["u_t"] - problem.equation.rhs(d, model.coefficients, xt[:, 0], xt[:, 1])
                model.zero_grad()
                (r * r).mean().backward()
            ms.setdefault(method, []).append((time.perf_counter() - start) / repeats * 1e3)
        print(f"Adam step, {points} points, {str(dtype)[6:]}: autograd "
              f"{min(ms['autograd']):.2f} ms, jet {min(ms['jet']):.2f} ms "
              f"({min(ms['autograd']) / min(ms['jet']):.2f}x)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--run", nargs="+", default=["solver", "physdistill", "deepxde"],
                    choices=("solver", "physdistill", "deepxde", "derivatives"))
    ap.add_argument("--repeat", type=int, default=1, help="pairs of runs, seeds 0..N-1")
    ap.add_argument("--adam", type=int, default=2000)
    ap.add_argument("--adam-lr", type=float, default=1e-2)
    ap.add_argument("--lbfgs", type=int, default=3000)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--resample-every", type=int, default=250)
    ap.add_argument("--holdout", type=int, default=4096,
                    help="held-out residual points of the L-BFGS guard (0: off)")
    ap.add_argument("--restarts", type=int, default=1,
                    help="new attempts after the guard stops L-BFGS (needs --holdout)")
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
    if "derivatives" in args.run:
        time_derivatives(args.points)
    if "solver" in args.run:
        X, T, usol = load_reference(args.reference)
        problem, _ = example("burgers-deepxde")
        start = time.perf_counter()
        solver = problem.reference(X, T)
        print(f"built-in solver vs reference: rel. L2 {relative_l2(solver, usol):.3e} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    runs = [r for r in ("physdistill", "deepxde") if r in args.run]
    if not runs:
        return 0
    results: dict[str, list[dict]] = {r: [] for r in runs}
    ctx = multiprocessing.get_context("spawn")
    for seed in range(args.repeat):
        with ProcessPoolExecutor(max_workers=len(runs), mp_context=ctx) as pool:
            futures = [pool.submit(_job, r, args, seed) for r in runs]
            for f in futures:
                res = f.result()
                results[res["run"]].append(res)
                print(f"{res['run']:<12} seed {seed}: rel. L2 {res['rel_l2']:.3e}, "
                      f"{res['wall']:.1f} s wall ({res['detail']})", flush=True)
    med = {r: (statistics.median(x["rel_l2"] for x in v), statistics.median(x["wall"] for x in v))
           for r, v in results.items()}
    label = "median of " + str(args.repeat) if args.repeat > 1 else "one run each"
    print(f"\n| run ({label}, side by side) | rel. L2 | wall s |\n|---|---|---|")
    for r, (e, w) in med.items():
        print(f"| {r} | {e:.2e} | {w:.0f} |")
    if len(med) == 2:
        (e1, w1), (e2, w2) = med["physdistill"], med["deepxde"]
        print(f"physdistill / DeepXDE: rel. L2 x{e1 / e2:.2f}, time x{w1 / w2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
