"""Simulator speed: time to generate the default dataset (10,000 systems x 500 steps), per law.

    python benchmarks/simulator.py                    # r2, CPU, default dataset, 3 repeats
    python benchmarks/simulator.py --laws spring r1 r2 charge --repeats 1 --device cuda

Prints, per law: the median wall time of ``make_dataset`` (simulation, accuracy check,
accelerations and the atomic write), systems x steps per second, refined/dropped systems, and
for reference scipy ``solve_ivp`` (DOP853, rtol = atol = 1e-10, the solve_ivp test's settings)
timed on a few systems of the same law and scaled to the dataset size, measured in the same run.
The issue's target: <= 60 s for any built-in law on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from physdistill.nbody.dataset import make_dataset
from physdistill.nbody.laws import LAWS, get_law
from physdistill.nbody.simulate import SimConfig, accelerations, initial_conditions


def scipy_seconds_per_system(law, cfg: SimConfig, systems: int = 3) -> float:
    """Mean wall time of scipy ``solve_ivp`` (DOP853, rtol = atol = 1e-10) per system over
    ``cfg.steps`` steps' horizon, on ``systems`` systems (also used by ``suite.py``)."""
    from scipy.integrate import solve_ivp

    ic = initial_conditions(law, SimConfig(sims=systems, seed=cfg.seed))
    n, d = cfg.n, cfg.dim
    horizon = cfg.steps * (cfg.dt or law.dt)
    start = time.perf_counter()
    for s in range(systems):
        m, q = ic["mass"][s:s + 1], ic["charge"][s:s + 1]

        def rhs(t, y, m=m, q=q):  # bound now: the closure is called within this iteration
            p = torch.from_numpy(y[:n * d].reshape(1, n, d))
            v = torch.from_numpy(y[n * d:].reshape(1, n, d))
            return np.concatenate([y[n * d:], accelerations(law, p, v, m, q).numpy().ravel()])

        y0 = np.concatenate([ic["pos"][s].numpy().ravel(), ic["vel"][s].numpy().ravel()])
        solve_ivp(rhs, (0, horizon), y0, method="DOP853", rtol=1e-10, atol=1e-10)
    return (time.perf_counter() - start) / systems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--laws", nargs="+", default=["r2"], choices=LAWS)
    ap.add_argument("--sims", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    print(f"{'law':<14}{'median s':>10}{'min s':>8}{'Msys-steps/s':>14}{'refined':>9}"
          f"{'dropped':>9}{'scipy s (est.)':>16}{'speed-up':>10}")
    for name in args.laws:
        law = get_law(name)
        cfg = SimConfig(sims=args.sims, device=args.device)
        times, meta = [], None
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                make_dataset(law, cfg, Path(tmp) / "ds", progress=False)
                times.append(time.perf_counter() - start)
                import json

                meta = json.loads((Path(tmp) / "ds" / "meta.json").read_text())
        med = statistics.median(times)
        scipy_total = scipy_seconds_per_system(law, cfg) * args.sims
        st = meta["simulator"]
        print(f"{name:<14}{med:>10.1f}{min(times):>8.1f}{args.sims * cfg.steps / med / 1e6:>14.2f}"
              f"{st['refined']:>9}{st['dropped']:>9}{scipy_total:>16.0f}{scipy_total / med:>9.0f}x")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
