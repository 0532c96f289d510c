"""A straightforward numpy n-body integrator: the yardstick a first version would be.

    python benchmarks/numpy_nbody.py                         # r2, 3 systems x 500 steps
    python benchmarks/numpy_nbody.py --laws spring r2 --systems 5 --steps 100

One system at a time, classical RK4 at the law's own ``dt`` (no substeps, no accuracy check, no
refinement), and in every RK4 stage a Python loop over the ordered particle pairs that evaluates
the law's :math:`\\partial U / \\partial r'` (sympy ``lambdify`` to numpy, on scalars) and adds
:math:`-\\partial U/\\partial r' \\, (x_i - x_j) / r \\,/\\, m_i` to particle ``i``'s acceleration
(plus the drag :math:`-\\gamma v_i / m_i` for the damped law). This is the same physics as
:func:`physdistill.nbody.simulate.accelerations`, written the way most plain numpy code is.
It does *less* work than our simulator, which also checks the energy drift of every snapshot
interval and redoes failing intervals with smaller steps, so the speed-up it shows is a lower
bound. Initial states come from :func:`~physdistill.nbody.simulate.initial_conditions`, the
dataset's distribution. :func:`seconds_per_system` is what ``benchmarks/suite.py`` uses.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import sympy as sp

from physdistill.nbody.laws import LAWS, POTENTIAL_VARS, ForceLaw, get_law
from physdistill.nbody.simulate import SimConfig, initial_conditions


def numpy_dUdr(law: ForceLaw) -> Callable[..., float]:
    """:math:`\\partial U / \\partial r'` as a numpy function of ``(r', m1, m2, q1, q2)``."""
    # the law's expression comes from its table or the whitelisted potential parser
    return sp.lambdify(sp.symbols(POTENTIAL_VARS), law.dUdr, modules="numpy")


def accelerations(law: ForceLaw, dUdr: Callable[..., float], pos: np.ndarray, vel: np.ndarray,
                  mass: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """Accelerations ``[n, dim]`` of one system, pair by pair."""
    n = pos.shape[0]
    acc = np.zeros_like(pos)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            d = pos[i] - pos[j]
            r = float(np.sqrt(d @ d))
            acc[i] -= dUdr(r + law.eps, mass[i], mass[j], charge[i], charge[j]) / r * d / mass[i]
    if law.damping:
        acc -= law.damping * vel / mass[:, None]
    return acc


def rk4(law: ForceLaw, pos: np.ndarray, vel: np.ndarray, mass: np.ndarray, charge: np.ndarray,
        dt: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` classical RK4 steps of one system; returns the final positions and velocities."""
    dUdr = numpy_dUdr(law)

    def acc(p: np.ndarray, v: np.ndarray) -> np.ndarray:
        return accelerations(law, dUdr, p, v, mass, charge)

    for _ in range(steps):
        k1x, k1v = vel, acc(pos, vel)
        k2x = vel + 0.5 * dt * k1v
        k2v = acc(pos + 0.5 * dt * k1x, k2x)
        k3x = vel + 0.5 * dt * k2v
        k3v = acc(pos + 0.5 * dt * k2x, k3x)
        k4x = vel + dt * k3v
        k4v = acc(pos + dt * k3x, k4x)
        pos = pos + (dt / 6) * (k1x + 2 * k2x + 2 * k3x + k4x)
        vel = vel + (dt / 6) * (k1v + 2 * k2v + 2 * k3v + k4v)
    return pos, vel


def seconds_per_system(law: ForceLaw, cfg: SimConfig, systems: int = 3) -> float:
    """Mean wall time of :func:`rk4` over ``systems`` systems of ``cfg`` (``cfg.steps`` steps
    of ``cfg.dt`` or the law's ``dt``; ``cfg.n``, ``cfg.dim``, ``cfg.seed``)."""
    ic = {k: v.numpy() for k, v in initial_conditions(
        law, SimConfig(n=cfg.n, dim=cfg.dim, sims=systems, seed=cfg.seed)).items()}
    dt = cfg.dt or law.dt
    start = time.perf_counter()
    for s in range(systems):
        rk4(law, ic["pos"][s], ic["vel"][s], ic["mass"][s], ic["charge"][s], dt, cfg.steps)
    return (time.perf_counter() - start) / systems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--laws", nargs="+", default=["r2"], choices=LAWS)
    ap.add_argument("--systems", type=int, default=3, help="systems timed (default 3)")
    ap.add_argument("--steps", type=int, default=500, help="RK4 steps per system (default 500)")
    args = ap.parse_args(argv)
    print(f"{'law':<14}{'s/system':>10}{'sys-steps/s':>13}")
    for name in args.laws:
        sec = seconds_per_system(get_law(name), SimConfig(steps=args.steps), args.systems)
        print(f"{name:<14}{sec:>10.3f}{args.steps / sec:>13.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
