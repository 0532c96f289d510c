"""Symbolic-regression recovery of the force laws from ideal messages: how often, how fast.

    python benchmarks/sr_recovery.py       # 7 laws + Yukawa x 2 targets x 3 noises x 5 seeds
    python benchmarks/sr_recovery.py --laws spring --noise 0 --seeds 1 --sr-seconds 5
    python benchmarks/sr_recovery.py --structure none    # one search per component, as before

What the n-body pipeline's distillation stage would do if the network had learned the law
exactly. The "messages" of an edge are the exact pair force ``[F_x, F_y]`` (from the law's
sympy :meth:`~physdistill.nbody.laws.ForceLaw.pair_force`, via
:func:`~physdistill.nbody.forcefit.pair_forces`) or the pair acceleration ``F / m1`` (the
pipeline's other target), on all ordered pairs of random systems drawn from the dataset's
distribution (:func:`~physdistill.nbody.simulate.initial_conditions`: positions and velocities
N(0, 1), masses exp(N(0, 1)), charges +-1 for the charge law), plus Gaussian noise. Two noise
models (``--noise-kind``):

- ``std``: ``level x std`` of each component over all edges. The pair forces are heavy-tailed
  (close encounters), so this is a large noise on the typical edge: for r2, 1 % of the std is
  1.7 times the median ``|F_x|`` (for the spring 2 %).
- ``relative`` (default): ``level x |F_e|`` on each edge's own components, a fixed relative
  precision, which is how a trained network's messages err on the edges it has seen often.

They are distilled and judged exactly as ``physdistill nbody`` does it: the pipeline's
:class:`~physdistill.symbolic.SymbolicModel` around the edge function (its input columns,
``dx, dy, r`` transforms, features, :class:`~physdistill.symbolic.SRConfig` with the law's
operators, the quick preset's SR time and sample budgets, selection rule, seeds), one search
per component (``--structure none``) or the pipeline's default central-force structure step
(:func:`~physdistill.nbody.structure.distill_structured`: one scalar search), then
:func:`~physdistill.nbody.judge.judge_force` against ``a0 F_x + a1 F_y + b`` (or the same
over ``m1``) with the pipeline's tolerances. A run is *recovered* when every component is
recovered in the law's **softened** form (the simulator's force), the strict reading;
``recovered_any`` also counts the unsoftened limit.
Its time is the wall time of the searches and the comparisons (recording excluded).

Printed per law x target x noise: recovered k / seeds and the median time; ``--json`` keeps
every run's equations and verdicts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from physdistill._io import atomic_write_json
from physdistill.nbody.forcefit import edge_variables, pair_forces
from physdistill.nbody.laws import ForceLaw, get_law
from physdistill.nbody.pipeline import NBodyConfig, force_symbolic_model, judge_force
from physdistill.nbody.simulate import SimConfig, initial_conditions
from physdistill.nbody.structure import distill_structured

#: the built-in laws and a user potential the project was not developed on (Yukawa)
LAWS = ("spring", "r1", "r2", "charge", "damped", "discontinuous", "superposition", "yukawa")
POTENTIALS = {"yukawa": "m1*m2*exp(-r)/r"}
TARGETS = ("force", "acceleration")
NOISE = (0.0, 0.01, 0.1)
DIM = 2


class IdealMessages(nn.Module):
    """Stands in for the edge MLP: ``[x_i, x_j] -> `` the exact pair force (or ``F / m1``) plus
    seeded Gaussian noise of ``noise_std`` per component (a ``[dim]`` vector), or of ``noise_rel``
    times each edge's own force magnitude.

    Shapes: ``[E, 2 (2 dim + 2)]`` (node features ``[pos, vel, q, m]``) -> ``[E, dim]``.
    """

    def __init__(self, law: ForceLaw, target: str, noise_std: np.ndarray, seed: int,
                 dim: int = DIM, noise_rel: float = 0.0) -> None:
        super().__init__()
        self.law, self.target, self.dim = law, target, dim
        self.noise_std = np.asarray(noise_std, np.float64)
        self.noise_rel = float(noise_rel)
        self.rng = np.random.default_rng(seed)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = 2 * self.dim + 2
        a = z.detach().cpu().double().numpy()
        out = exact_messages(self.law, a[:, :w], a[:, w:], self.target, self.dim)
        size = np.linalg.norm(out, axis=1, keepdims=True)
        out = out + self.rng.normal(size=out.shape) * (self.noise_std + self.noise_rel * size)
        return torch.from_numpy(out).to(z)


def exact_messages(law: ForceLaw, x_i: np.ndarray, x_j: np.ndarray, target: str,
                   dim: int = DIM) -> np.ndarray:
    """The pair force ``[E, dim]`` on the receivers, or the pair acceleration ``F / m1``."""
    v = edge_variables(x_i, x_j, dim)
    f = pair_forces(law, v, dim)
    return f / v["m1"][:, None] if target == "acceleration" else f


def edge_inputs(law: ForceLaw, systems: int, seed: int, n: int = 4,
                dim: int = DIM) -> np.ndarray:
    """``[x_i, x_j]`` rows ``[systems n (n - 1), 2 (2 dim + 2)]`` of every ordered pair of
    ``systems`` random systems in the dataset's initial distribution."""
    ic = initial_conditions(law, SimConfig(n=n, dim=dim, sims=systems, seed=seed))
    nodes = torch.cat([ic["pos"], ic["vel"], ic["charge"][..., None], ic["mass"][..., None]],
                      -1).numpy()  # [S, n, 2 dim + 2]
    recv, send = np.nonzero(~np.eye(n, dtype=bool))
    return np.concatenate([nodes[:, recv], nodes[:, send]], -1).reshape(-1, 2 * nodes.shape[-1])


def law_of(name: str) -> ForceLaw:
    """A built-in law, or one of :data:`POTENTIALS`."""
    return get_law(potential=POTENTIALS[name]) if name in POTENTIALS else get_law(name)


def recover(law_name: str, target: str, noise: float, seed: int, *,
            sr_seconds: float | None = None, systems: int = 1000,
            structure: str = "central", noise_kind: str = "relative") -> dict[str, Any]:
    """One distillation + comparison of ideal messages (see the module docstring).

    ``sr_seconds=None`` takes the pipeline's quick preset. Returns the verdict, the time (s),
    and per component the equation and the comparison's numbers.
    """
    law = law_of(law_name)
    cfg = NBodyConfig(law=None if law_name in POTENTIALS else law_name,
                      potential=POTENTIALS.get(law_name), dim=DIM, seed=seed,
                      sr_seconds=sr_seconds, device="cpu").resolved()
    z = edge_inputs(law, systems, seed, cfg.n, DIM)
    w = z.shape[1] // 2
    clean = exact_messages(law, z[:, :w], z[:, w:], target)
    if noise_kind == "std":
        module = IdealMessages(law, target, noise * clean.std(0), seed)
    else:
        module = IdealMessages(law, target, np.zeros(DIM), seed, noise_rel=noise)
    # the pipeline's SymbolicModel around the edge function (the same SR config and features)
    sm = force_symbolic_model(module, cfg, law)
    with sm.capture(), torch.no_grad():
        module(torch.from_numpy(z))
    module.rng = np.random.default_rng(seed)  # the same noisy messages for the structure step
    with torch.no_grad():
        messages = module(torch.from_numpy(z)).numpy()
    v = edge_variables(z[:, :w], z[:, w:], DIM)
    start = time.perf_counter()
    info = distill_structured(sm, messages, v, list(range(DIM)), DIM, structure=structure)
    sm.switch_to_symbolic()
    inputs = {k: v[k] for k in sm.features}
    components = []
    for ch in range(DIM):
        eq = sm.equations_[ch]
        cmp, form = judge_force(eq, law, inputs, DIM, target, cfg.seed)
        components.append({"expression": eq.text(), "recovered": form == "softened",
                           "law_form": form, "symbolic_match": cmp.symbolic_match,
                           "id_rel_error": cmp.in_distribution.max_rel_error,
                           "ood_rel_error": cmp.out_of_distribution.max_rel_error})
    return {"law": law_name, "target": target, "noise": noise, "noise_kind": noise_kind,
            "seed": seed,
            "sr_seconds": cfg.sr_seconds, "sr_samples": cfg.sr_samples, "edges": len(z),
            "seconds": time.perf_counter() - start, "path": info["path"],
            "centrality": info["centrality"],
            "recovered": all(c["recovered"] for c in components),
            "recovered_any": all(c["law_form"] in ("softened", "unsoftened")
                                 for c in components), "components": components}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Recovered count, runs, median time of all runs and of the recovered ones."""
    ok = [r["seconds"] for r in runs if r["recovered"]]
    return {"recovered": len(ok), "n_runs": len(runs),
            "median_s": statistics.median(r["seconds"] for r in runs),
            "median_s_recovered": statistics.median(ok) if ok else None}


def sweep(laws: list[str], targets: list[str], noises: list[float], seeds: int, *,
          sr_seconds: float | None = None, systems: int = 1000, structure: str = "central",
          first_seed: int = 0, progress: bool = True, noise_kind: str = "relative"
          ) -> list[dict[str, Any]]:
    """:func:`recover` for every law x target x noise x seed; one summary per combination,
    with its runs under ``"runs"``."""
    out = []
    for law in laws:
        for target in targets:
            for noise in noises:
                runs = []
                for seed in range(first_seed, first_seed + seeds):
                    runs.append(recover(law, target, noise, seed, sr_seconds=sr_seconds,
                                        systems=systems, structure=structure,
                                        noise_kind=noise_kind))
                    if progress:
                        r = runs[-1]
                        print(f"  sr {law} {target} noise {noise:g} ({noise_kind}) seed {seed}: "
                              f"{'recovered' if r['recovered'] else 'not recovered'} in "
                              f"{r['seconds']:.1f} s ({r['path']}); "
                              + "; ".join(c["expression"] for c in r["components"]),
                              flush=True)
                out.append({"law": law, "target": target, "noise": noise,
                            "noise_kind": noise_kind, **summarise(runs),
                            "runs": runs})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--laws", nargs="+", default=list(LAWS), choices=LAWS)
    ap.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    ap.add_argument("--noise", type=float, nargs="+", default=list(NOISE),
                    help="noise levels (default 0 0.01 0.1), see --noise-kind")
    ap.add_argument("--noise-kind", choices=("relative", "std"), default="relative",
                    help="relative: level x each edge's |F| (default); std: level x the std of "
                         "each component over all edges")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    ap.add_argument("--sr-seconds", type=float,
                    help="time limit of each search (default: the pipeline's quick preset, "
                         f"{NBodyConfig().resolved().sr_seconds:g} s)")
    ap.add_argument("--systems", type=int, default=1000,
                    help="random systems whose ordered pairs are the edges (default 1000)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--structure", choices=("central", "none"), default="central",
                    help="the pipeline's central-force step (default) or one search per "
                         "component")
    ap.add_argument("--json", help="write every run here")
    args = ap.parse_args(argv)
    results = sweep(args.laws, args.targets, args.noise, args.seeds,
                    sr_seconds=args.sr_seconds, systems=args.systems,
                    structure=args.structure, first_seed=args.first_seed,
                    noise_kind=args.noise_kind)
    print(f"noise: {args.noise_kind}")
    print(f"{'law':<14}{'target':<14}{'noise':>6}{'softened':>10}{'any form':>10}"
          f"{'median s':>10}{'median s (recovered)':>22}")
    for s in results:
        rec = s["median_s_recovered"]
        anyf = sum(r["recovered_any"] for r in s["runs"])
        print(f"{s['law']:<14}{s['target']:<14}{s['noise']:>6g}"
              f"{s['recovered']:>6}/{s['n_runs']:<3}{anyf:>6}/{s['n_runs']:<3}"
              f"{s['median_s']:>10.1f}{'-' if rec is None else f'{rec:.1f}':>22}")
    if args.json:
        atomic_write_json(args.json, results)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
