"""``physdistill pde`` runs: forward, inverse and discovery, written to a run folder.

Stages (recorded in ``run.json``; ``--resume`` skips finished ones and the PINN trainer resumes
from its checkpoint):

* forward / inverse: ``train`` (the PINN, checkpoint in the folder), ``evaluate`` (rel. L2
  against the reference, learned coefficients), ``plots``, ``report``;
* discover: ``discover`` (data from ``--data FILE`` or simulated from the problem, plus the
  PDE-FIND anchor on gridded data), ``plots``, ``report``.

Files: ``metrics.json``, ``equation.json`` (the PDE solved or found), ``report.md``, PNGs
(:mod:`physdistill.pde.report`), ``checkpoint.*`` for PINN runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physdistill.errors import PhysDistillError
from physdistill.pde.discover import DiscoveryConfig
from physdistill.pde.model import NetConfig
from physdistill.pde.problem import PDEProblem
from physdistill.pde.train import TrainConfig

MODES = ("forward", "inverse", "discover")


@dataclass(frozen=True)
class PDERunConfig:
    """One run.

    Args:
        mode: ``"forward"``, ``"inverse"`` or ``"discover"``.
        problem: the problem (``None`` only for discovery from a data file).
        data: a data file for discovery (``.npz``, ``.csv``, ``.mat``).
        grid: ``(nx, nt)`` of simulated discovery data (default 256 x 101).
        noise: noise on observations / simulated data, relative to std(u).
        n_observations: inverse-run observations (default 200).
        net, train, discovery: stage settings; threads: torch CPU threads.
    """

    mode: str = "forward"
    problem: PDEProblem | None = None
    data: str | None = None
    grid: tuple[int, int] = (256, 101)
    noise: float = 0.0
    n_observations: int = 200
    net: NetConfig = field(default_factory=NetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    threads: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PhysDistillError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.problem is None and not (self.mode == "discover" and self.data):
            raise PhysDistillError("a forward or inverse run needs a problem (--pde and --ic, "
                                   "or --example); discovery needs a problem or --data FILE")
        if self.mode == "inverse" and self.problem is not None and not self.problem.learn:
            raise PhysDistillError("an inverse run learns coefficients: name them with --learn "
                                   "(e.g. --learn nu)")
        if not (isinstance(self.noise, (int, float)) and 0 <= self.noise < 10):
            raise PhysDistillError(f"noise must be in [0, 10) (relative to std(u)), got "
                                   f"{self.noise!r}")
        for name in ("n_observations", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"{name} must be a positive integer, got {v!r}")
        nx, nt = self.grid
        if min(nx, nt) < 5:
            raise PhysDistillError(f"grid must be at least 5 x 5, got {self.grid!r}")

    def describe(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "problem"}
        d["problem"] = self.problem.describe() if self.problem is not None else None
        d["grid"] = list(self.grid)
        d.pop("threads")
        for k in ("train", "discovery"):
            d[k].pop("progress", None)
        return json.loads(json.dumps(d))  # tuples as lists, as run.json stores them


def truth_terms(problem: PDEProblem | None) -> dict[str, float] | None:
    """The true PDE as library terms, when the problem is a formula with known coefficients."""
    from physdistill.pde.library import canonical_terms

    if problem is None or problem.equation.text is None:
        return None
    if any(c not in problem.values for c in problem.equation.coefficients):
        return None
    return canonical_terms(problem.equation.substitute(problem.values))


def run_pde(config: PDERunConfig, out: str | Path, force: bool = False,
            resume: bool = False) -> dict[str, Any]:
    """Run all stages and return ``metrics.json``'s content."""
    import torch

    from physdistill.pde import report
    from physdistill.runs import RunFolder

    run = RunFolder(out, "pde", force=force, resume=resume, config=config.describe())
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        metrics: dict[str, Any] = {"mode": config.mode}
        if config.problem is not None:
            p = config.problem
            metrics.update(problem=p.describe(), pde=str(p.equation))
        if config.mode == "discover":
            metrics.update(_discover(config, run))
        else:
            metrics.update(_pinn(config, run, resume))
        metrics["timings"] = run.timings
        run.write_json("metrics.json", metrics)
        if not run.done("report"):
            with run.stage("report"):
                report.write_report(run, metrics)
        metrics["timings"] = run.timings
        run.write_json("metrics.json", metrics)
        return metrics
    finally:
        torch.set_num_threads(threads)


def _pinn(config: PDERunConfig, run: Any, resume: bool) -> dict[str, Any]:
    from physdistill.pde import report
    from physdistill.pde.problem import relative_l2
    from physdistill.pde.train import predict, train

    problem = config.problem
    assert problem is not None  # checked by PDERunConfig
    obs = None
    if config.mode == "inverse":
        obs = problem.observations(config.n_observations, config.noise, config.train.seed)
    with run.stage("train") as info:  # on resume the trainer continues from its checkpoint
        result = train(problem, config.net, config.train, obs, out=run.path, resume=resume)
        run.write_json("history.json", {"loss": result.history,
                                        "coefficients": result.coefficients,
                                        "seconds": result.seconds})
        info["phases"] = result.seconds
    model = result.model
    m: dict[str, Any] = {"network": model.describe(), "train_seconds": result.seconds,
                         "final_loss": result.history["loss"][-1] if result.history["loss"]
                         else None}
    if result.guard:  # the held-out guard: best loss and step, stop, restore, attempts
        m["guard"] = {k: v for k, v in result.guard.items() if k not in ("step", "holdout")}
    if problem.learn:
        learned = model.coefficient_values()
        m["coefficients"] = {c: {"learned": learned[c], "true": problem.values.get(c),
                                 "rel_error": (abs(learned[c] - problem.values[c])
                                               / abs(problem.values[c])
                                               if problem.values.get(c) else None)}
                             for c in problem.learn}
    try:
        X, T = problem.grid(256, 101)
        ref = problem.reference(X, T)
        pred = predict(model, X, T)
        m["rel_l2"] = relative_l2(pred, ref)
    except PhysDistillError as exc:  # a callable PDE has no reference
        X, T, ref, pred = *problem.grid(256, 101), None, None
        m["rel_l2"] = None
        m["reference_note"] = str(exc)
    run.write_json("equation.json", {"pde": str(problem.equation),
                                     "coefficients": model.coefficient_values()})
    with run.stage("plots"):
        m["plots"] = report.pinn_plots(run, model, problem, result, X, T, ref)
    return m


def _discover(config: PDERunConfig, run: Any) -> dict[str, Any]:
    from physdistill.pde import report
    from physdistill.pde.data import load_data
    from physdistill.pde.discover import discover, pdefind
    from physdistill.pde.examples import simulate

    problem = config.problem
    with run.stage("data"):
        if config.data:
            data = load_data(config.data)
        else:
            assert problem is not None
            data = simulate(problem, *config.grid)
        clean = data
        data = data.with_noise(config.noise, config.discovery.seed)
    truth = truth_terms(problem)
    with run.stage("discover"):
        res = discover(data, config.discovery, truth=truth)
    m: dict[str, Any] = {"data": {"source": data.source, "samples": len(data),
                                  "gridded": data.grid is not None, "noise": config.noise},
                         "discovery": res.to_dict(), "truth_terms": truth}
    pred = None
    if data.grid is not None:
        from physdistill.pde.problem import relative_l2
        from physdistill.pde.train import predict

        x, t, _ = data.grid
        X, T = np.meshgrid(x, t, indexing="ij")
        pred = predict(res.model, X, T)
        m["network_rel_l2_vs_clean"] = relative_l2(pred, clean.grid[2])
        with run.stage("pdefind"):
            periodic = problem is not None and problem.bc == "periodic"
            pf = pdefind(data, threshold=config.discovery.threshold,
                         ensemble=config.discovery.ensemble,
                         inclusion=config.discovery.inclusion, seed=config.discovery.seed,
                         periodic=periodic, truth=truth)
        m["pdefind"] = {"expression": pf["expression"], "terms": pf["fit"].terms,
                        "std": pf["fit"].std, "truth": pf["truth"], "seconds": pf["seconds"]}
    run.write_json("equation.json", {"discovered": res.expression,
                                     "candidate": res.to_dict()["candidate"],
                                     "terms": res.fit.terms, "std": res.fit.std,
                                     "truth": truth})
    with run.stage("plots"):
        m["plots"] = report.discovery_plots(run, res, data, clean, pred, truth)
    return m
