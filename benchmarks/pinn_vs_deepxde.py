"""Heat-equation PINN: physdistill against DeepXDE, on the same machine in the same run.

The DeepXDE example (``examples/pinn_forward/heat.py``; reference.md section 4): u_t = 0.4 u_xx
on [0, 1] x [0, 1], u = 0 at x = 0 and 1, u(x, 0) = sin(pi x); 2540 collocation + 80 boundary +
160 initial points; MLP 2-[20]x3-1 tanh, Glorot normal; Adam lr 1e-3 x 20000, then L-BFGS.

Both trainers are timed without evaluation: every ``--every`` steps a callback measures the
relative L2 error against the exact solution on a 256 x 201 grid, and the time spent there is
subtracted. Printed: the time and step at which each run first reaches rel. L2 <= 1e-3 and
<= 1e-4, and the final error. DeepXDE calls back once per L-BFGS step of 1000 iterations, so
its L-BFGS times are upper bounds at that granularity.

Run (needs the ``bench`` extra, DeepXDE with its PyTorch backend)::

    pip install -e '.[bench]'
    DDE_BACKEND=pytorch python benchmarks/pinn_vs_deepxde.py            # full DeepXDE setup
    python benchmarks/pinn_vs_deepxde.py --dde-adam 2000 --dde-lbfgs 0  # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("DDE_BACKEND", "pytorch")

import torch

from physdistill.heat.pinn import ModelConfig
from physdistill.heat.problem import HeatProblem, relative_l2
from physdistill.heat.train import TrainConfig, predict, train

TARGETS = (1e-3, 1e-4)


class Timeline:
    """Training time excluding evaluations, and the first time each target is reached."""

    def __init__(self, error: Callable[[], float]) -> None:
        self.error = error
        self.start = time.perf_counter()
        self.paused = 0.0
        self.hits: dict[float, tuple[float, int]] = {}
        self.points: list[tuple[float, int, float]] = []
        self.phases: dict[str, tuple[float, int, float]] = {}

    def check(self, step: int, phase: str | None = None) -> None:
        """Evaluate now; ``phase`` names the point as the end of a phase."""
        now = time.perf_counter()
        elapsed = now - self.start - self.paused
        err = self.error()
        self.points.append((elapsed, step, err))
        if phase:
            self.phases[phase] = self.points[-1]
        for target in TARGETS:
            if err <= target and target not in self.hits:
                self.hits[target] = (elapsed, step)
        self.paused += time.perf_counter() - now

    def summary(self, name: str) -> str:
        elapsed, step, err = self.points[-1]
        parts = [f"{name:<12} final rel. L2 {err:.3e} after {step} steps, {elapsed:.1f} s"]
        parts += [f"after {k}: {e:.3e} at step {s}, {t:.1f} s"
                  for k, (t, s, e) in self.phases.items()]
        for target in TARGETS:
            if target in self.hits:
                t, s = self.hits[target]
                parts.append(f"reached {target:.0e} at step {s} after {t:.1f} s")
            else:
                parts.append(f"never reached {target:.0e}")
        return "; ".join(parts)


def grid_error(problem: HeatProblem) -> tuple[np.ndarray, np.ndarray]:
    X, T = problem.grid(256, 201)
    return np.stack([X.ravel(), T.ravel()], 1), problem.exact(X, T).ravel()


def run_ours(problem: HeatProblem, args: argparse.Namespace) -> Timeline:
    xt, exact = grid_error(problem)
    model_ref: dict[str, torch.nn.Module] = {}
    timeline = Timeline(lambda: relative_l2(predict(model_ref["m"], xt[:, 0], xt[:, 1]), exact))

    def callback(step: int, phase: str, model: torch.nn.Module) -> None:
        model_ref["m"] = model
        timeline.check(step, "Adam" if phase == "adam" and step == args.adam else None)

    timeline.start = time.perf_counter()
    result = train(problem, ModelConfig(),
                   TrainConfig(adam_steps=args.adam, lbfgs_steps=args.lbfgs, dtype=args.dtype,
                               device="cpu", progress=False),
                   callback=callback, callback_every=args.every)
    timeline.phases["L-BFGS"] = timeline.points[-1]
    print(f"physdistill: {result.history['step'][-1] - args.adam} L-BFGS iterations")
    return timeline


def run_deepxde(problem: HeatProblem, args: argparse.Namespace) -> Timeline:
    import deepxde as dde

    if args.dde_float64:
        dde.config.set_default_float("float64")
    if dde.backend.backend_name != "pytorch":
        sys.exit(f"DeepXDE uses the {dde.backend.backend_name} backend; run with "
                 "DDE_BACKEND=pytorch")
    a = problem.alpha
    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(0, 1),
                                          dde.geometry.TimeDomain(0, 1))

    def pde(x, y):
        return dde.grad.jacobian(y, x, i=0, j=1) - a * dde.grad.hessian(y, x, i=0, j=0)

    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: np.sin(np.pi * x[:, 0:1]),
                     lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80,
                            num_initial=160, num_test=2540)
    net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    xt, exact = grid_error(problem)
    timeline = Timeline(lambda: relative_l2(model.predict(xt)[:, 0], exact))

    class Check(dde.callbacks.Callback):
        def __init__(self, every: int) -> None:
            super().__init__()
            self.every = every

        def on_epoch_end(self) -> None:
            step = self.model.train_state.step
            if step % self.every == 0 or self.model.opt_name == "L-BFGS":
                timeline.check(step)

    model.compile("adam", lr=1e-3)
    timeline.start = time.perf_counter()
    model.train(iterations=args.dde_adam, callbacks=[Check(args.every)], display_every=1000,
                verbose=0)
    timeline.phases["Adam"] = timeline.points[-1]
    if args.dde_lbfgs:
        dde.optimizers.set_LBFGS_options(maxiter=args.dde_lbfgs)
        model.compile("L-BFGS")
        try:
            model.train(callbacks=[Check(args.every)], display_every=1000, verbose=0)
        except Exception as exc:  # noqa: BLE001  (report, and keep the Adam-phase figures)
            print(f"DeepXDE L-BFGS failed on torch {torch.__version__}: "
                  f"{type(exc).__name__}: {exc}")
        timeline.phases["L-BFGS"] = timeline.points[-1]
        print(f"DeepXDE: {timeline.points[-1][1] - args.dde_adam} L-BFGS iterations")
    return timeline


def build_parser() -> argparse.ArgumentParser:
    """The command line; its defaults are the documented comparison (``benchmarks/suite.py``
    parses its settings with it too)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adam", type=int, default=1000, help="our Adam steps (default 1000)")
    p.add_argument("--lbfgs", type=int, default=1000, help="our L-BFGS iterations (1000)")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--dde-adam", type=int, default=20_000, help="DeepXDE Adam steps (20000)")
    p.add_argument("--dde-lbfgs", type=int, default=15_000,
                   help="DeepXDE L-BFGS iterations, at most (default 15000, its default)")
    p.add_argument("--dde-float64", action="store_true",
                   help="run DeepXDE in float64 (its default is float32)")
    p.add_argument("--skip-ours", action="store_true", help="only run DeepXDE")
    p.add_argument("--every", type=int, default=50, help="evaluate every N steps (50)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    problem = HeatProblem()  # alpha 0.4, sin(pi x), [0, 1] x [0, 1]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.threads} thread(s); python {platform.python_version()}")
    ours = None if args.skip_ours else run_ours(problem, args)
    if ours:
        print(ours.summary("physdistill"), flush=True)
    import deepxde

    print(f"deepxde {deepxde.__version__}, "
          f"{'float64' if args.dde_float64 else 'float32'}", flush=True)
    theirs = run_deepxde(problem, args)
    if ours:
        print(ours.summary("physdistill"))
    print(theirs.summary("DeepXDE"))
    for target in TARGETS:
        if ours and target in ours.hits and target in theirs.hits:
            print(f"time to {target:.0e}: physdistill {ours.hits[target][0]:.1f} s, DeepXDE "
                  f"{theirs.hits[target][0]:.1f} s ({theirs.hits[target][0] / ours.hits[target][0]:.1f}x)")


if __name__ == "__main__":
    main()
