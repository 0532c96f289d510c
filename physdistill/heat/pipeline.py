"""One ``physdistill heat`` run: train, distil, discover, plot, report -- in a run folder.

Modes:

* ``forward``: a PINN with the true alpha; then solution distillation and PDE discovery from
  the network (sparse regression and symbolic regression).
* ``inverse``: the same, but alpha is a trainable parameter fitted to sparse observations of
  the reference solution (``n_observations``, ``noise``).
* ``discover``: the PDE is unknown; the sparsity-regularised PINN
  (:mod:`physdistill.heat.discover`) finds it from noisy observations.

Each stage is recorded in ``run.json`` when it finishes and writes its results to a file
(``checkpoint.*``, ``solution.json``, ``pde.json``, ``discovery.json``), so ``resume`` skips
finished stages and rebuilds the report from the files.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physdistill.errors import PhysDistillError
from physdistill.heat.discover import DiscoveryConfig
from physdistill.heat.pde import PDEConfig
from physdistill.heat.pinn import ModelConfig
from physdistill.heat.problem import HeatProblem, relative_l2
from physdistill.heat.report import report_markdown, write_heat_html
from physdistill.heat.solution import SolutionConfig
from physdistill.heat.train import TrainConfig, recipe_config

MODES = ("forward", "inverse", "discover")


@dataclass(frozen=True)
class HeatRunConfig:
    """Everything one run needs.

    Args:
        problem: the heat problem (its alpha is the truth).
        mode: ``"forward"``, ``"inverse"`` or ``"discover"`` (see the module docstring).
        model, train: the PINN and its optimisation (forward and inverse; default the heat
            recipe, :func:`~physdistill.heat.train.recipe_config`).
        n_observations: observations for the inverse problem (default 200).
        noise: their noise level, relative to ``std(u)`` (default 0).
        solution, pde: solution distillation and PDE discovery (forward and inverse).
        discovery: the discovery PINN (mode ``discover``; its ``noise`` is used there).
        threads: CPU threads for torch during the run (default 1; ``None`` leaves torch's
            setting). These networks are small: one thread was faster than two on an idle
            2-core machine (19 vs 16 ms per Adam step is within noise), and on a busy one two
            threads made training 50x slower (1.2 s per step, OpenMP threads waiting on each
            other; measured in ``docs/heat.md``).
    """

    problem: HeatProblem = field(default_factory=HeatProblem)
    mode: str = "forward"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=recipe_config)
    n_observations: int = 200
    noise: float = 0.0
    solution: SolutionConfig = field(default_factory=SolutionConfig)
    pde: PDEConfig = field(default_factory=PDEConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PhysDistillError(f"mode must be one of {MODES}, got {self.mode!r}")
        if isinstance(self.n_observations, bool) or not isinstance(self.n_observations, int) \
                or self.n_observations < 1:
            raise PhysDistillError(f"n_observations must be a positive integer, got "
                                   f"{self.n_observations!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(
                self.threads, int) or self.threads < 1):
            raise PhysDistillError(f"threads must be a positive integer or None, got "
                                   f"{self.threads!r}")
        if not 0 <= self.noise < 1:
            raise PhysDistillError(f"noise must be in [0, 1) (0.01 = 1 %), got {self.noise!r}")
        if self.mode == "inverse" and not self.model.learn_alpha:
            object.__setattr__(self, "model", dataclasses.replace(self.model, learn_alpha=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored in ``run.json`` (a resumed run must match it)."""
        out = {"problem": self.problem.describe(), "mode": self.mode}
        if self.mode == "discover":
            out["discovery"] = dataclasses.asdict(self.discovery)
        else:
            out.update(model=dataclasses.asdict(self.model), train=dataclasses.asdict(self.train),
                       solution=dataclasses.asdict(self.solution),
                       pde=dataclasses.asdict(self.pde))
            if self.mode == "inverse":
                out.update(n_observations=self.n_observations, noise=self.noise)
        for section in ("train", "discovery"):  # progress bars do not change results
            if section in out:
                out[section].pop("progress", None)
        return json.loads(json.dumps(out))  # tuples -> lists, as read back from run.json


def run_heat(config: HeatRunConfig, out: str | Path, *, force: bool = False,
             resume: bool = False) -> dict[str, Any]:
    """Run ``config`` into the folder ``out``; return the metrics (also in ``metrics.json``).

    Raises:
        PhysDistillError: bad settings, or ``out`` exists without ``force``/``resume``.
    """
    import torch

    from physdistill.runs import RunFolder

    start = time.perf_counter()
    with RunFolder(out, "heat", force=force, resume=resume, config=config.to_dict()) as run:
        run.check_stages()  # a resumed run: every finished stage made with these settings
        threads = torch.get_num_threads()
        try:
            if config.threads is not None:
                torch.set_num_threads(config.threads)
            metrics = _discover(config, run) if config.mode == "discover" else _pinn(config, run)
        finally:
            torch.set_num_threads(threads)
        metrics["timings"] = {**run.timings, "total": round(time.perf_counter() - start, 3)}
        run.write_json("metrics.json", metrics)
        run.write_text("report.md", report_markdown(metrics))
        write_heat_html(run.path, metrics)
    return metrics


# ---------------------------------------------------------------------------------------------
# forward and inverse


def _pinn(config: HeatRunConfig, run: Any) -> dict[str, Any]:
    from physdistill.heat.pde import (
        IdentifiabilityWarning,
        discover_pde,
        discover_pde_sr,
        network_fields,
    )
    from physdistill.heat.solution import distill_solution
    from physdistill.heat.train import load_checkpoint, rel_l2_on_grid, save_checkpoint, train

    problem = config.problem
    observations = None
    if config.mode == "inverse":
        observations = problem.observations(config.n_observations, config.noise,
                                            config.train.seed)
    if not run.done("train"):
        with run.stage("train") as info:
            result = train(problem, config.model, config.train, observations)
            save_checkpoint(run.path, result, config.train)
            info.update(result.seconds)
    model, meta = load_checkpoint(run.path)
    history = meta["history"]
    metrics: dict[str, Any] = {"mode": config.mode, "problem": problem.describe(),
                               "alpha_true": problem.alpha,
                               "rel_l2_network": rel_l2_on_grid(model, problem),
                               "network": {**model.describe(), "dtype": meta["dtype"],
                                           "final_loss": history["loss"][-1]}}
    if config.mode == "inverse":
        a = model.alpha_value()
        metrics.update(alpha_learned=a, alpha_learned_rel_error=abs(a / problem.alpha - 1),
                       observations={"n": config.n_observations, "noise": config.noise})
    if not run.done("solution"):
        with run.stage("solution"):
            sol = distill_solution(model, problem, config.solution)
            run.write_json("solution.json", {**sol.to_dict(), "front": sol.front.to_dict()})
    solution = run.read_json("solution.json")
    if not run.done("pde"):
        with run.stage("pde"):
            fields = network_fields(model, problem, config.pde.n_points, config.pde.seed, 3)
            with warnings.catch_warnings():  # the results carry the messages for the report
                warnings.simplefilter("ignore", IdentifiabilityWarning)
                sparse = discover_pde(model, problem, config=config.pde, fields=fields)
                sr = discover_pde_sr(model, problem, config=config.pde, fields=fields)
            run.write_json("pde.json", {**sparse.to_dict(), "symbolic_regression": {
                **sr.to_dict(), "front": sr.extra["front"].to_dict()}})
    pde = run.read_json("pde.json")
    alpha_ref = model.alpha_value()
    if alpha_ref != problem.alpha:  # inverse: compare the discovered PDE with both alphas
        for d in (pde, pde["symbolic_regression"]):
            if d.get("alpha") is not None:
                d["rel_error_vs_learned_alpha"] = abs(d["alpha"] / alpha_ref - 1)
    metrics["solution"] = {k: v for k, v in solution.items() if k != "front"}
    metrics["pde"] = {**{k: v for k, v in pde.items() if k != "symbolic_regression"},
                      "symbolic_regression": {k: v for k, v in
                                              pde["symbolic_regression"].items()
                                              if k != "front"}}
    if not run.done("plots"):
        with run.stage("plots") as info:
            info["files"] = _pinn_plots(run, model, problem, solution, history, config.train)
    metrics["plots"] = run.meta["stages"]["plots"]["files"]
    return metrics


def _pinn_plots(run: Any, model: Any, problem: HeatProblem, solution: dict[str, Any],
                history: dict[str, list[float]], train: TrainConfig) -> dict[str, str]:
    from physdistill import plots
    from physdistill.heat.train import predict
    from physdistill.symbolic import Expression, ParetoFront

    X, T = problem.grid()
    x, t = X[0], T[:, 0]
    net = predict(model, X, T)
    ref = problem.reference(X, T)
    expr = Expression(solution["expression"], ["x", "t"])
    eq = expr.evaluate(np.stack([X.ravel(), T.ravel()], 1)).reshape(X.shape)
    ref_name = "exact" if problem.reference_kind == "exact" else "reference (FD)"
    out = {}
    out["solution"] = plots.heat_maps(x, t, {"network": net, "equation": eq, ref_name: ref},
                                      run.file("solution.png"), f"u(x, t): {expr.text(4)}")
    horizon, te = None, t  # an exact reference holds beyond T: extrapolate to 1.5 T (OOD)
    if problem.reference_kind == "exact":
        horizon, te = problem.T, np.linspace(0.0, 1.5 * problem.T, int(1.5 * t.size))
    Xe, Te = np.meshgrid(x, te)
    nete, refe = predict(model, Xe, Te), problem.reference(Xe, Te)
    eqe = expr.evaluate(np.stack([Xe.ravel(), Te.ravel()], 1)).reshape(Xe.shape)
    out["errors"] = plots.field_residuals(
        x, te, {"network - equation": nete - eqe, f"network - {ref_name}": nete - refe,
                f"equation - {ref_name}": eqe - refe},
        run.file("errors.png"), f"u(x, t) residuals; rel. L2 on the {x.size} x {t.size} "
                                f"training-range grid: network {relative_l2(net, ref):.2e}, "
                                f"equation {relative_l2(eq, ref):.2e}", horizon=horizon)
    pde = run.read_json("pde.json")
    found = {"trained": {"u_xx": model.alpha_value()}, "sparse regression": pde["terms"],
             "symbolic regression": pde["symbolic_regression"]["terms"]}
    out["pde_residual"] = _pde_residual_plot(run, model, problem, X, T, found)
    marks = {"L-BFGS": train.adam_steps} if train.adam_steps and train.lbfgs_steps else None
    terms = {k: v for k, v in history.items() if k not in ("step", "alpha", "loss")}
    if len(terms) > 1:
        terms["total (weighted)"] = history["loss"]
    out["loss"] = plots.curves_vs_step(history["step"], terms, run.file("loss.png"),
                                       "PINN training: mean squared residuals", marks=marks)
    if model.heat_config.learn_alpha:
        out["alpha"] = plots.curves_vs_step(history["step"], {"alpha": history["alpha"]},
                                            run.file("alpha.png"), "learned alpha", "alpha",
                                            logy=False, truth=problem.alpha)
    front = ParetoFront.from_dict(run.read_json("solution.json")["front"])
    out["pareto"] = plots.pareto_front(front.complexities, [c.loss for c in front],
                                       run.file("pareto.png"), front.chosen_index,
                                       "solution distillation: Pareto front")
    return {k: Path(v).name for k, v in out.items()}


def _pde_residual_plot(run: Any, model: Any, problem: HeatProblem, X: np.ndarray,
                       T: np.ndarray, found: dict[str, dict[str, float]]) -> Path:
    """``pde_residual.png``: ``u_t - F(u, u_x, ...)`` of the network under the true PDE and
    under each of ``found`` (``label -> {term: coefficient}``; empty ones are skipped, equal
    ones share a panel)."""
    import math
    import textwrap

    import torch

    from physdistill import plots
    from physdistill.heat.pde import _term_column, format_pde
    from physdistill.pde.model import derivatives as autograd_derivatives

    p = next(model.parameters())
    xt = torch.as_tensor(np.stack([X.ravel(), T.ravel()], 1), dtype=p.dtype, device=p.device)
    parts = [{k: v.detach().double().cpu().numpy() for k, v in
              autograd_derivatives(model, chunk, 3, create_graph=False).items()}
             for chunk in torch.split(xt, 16384)]
    d = {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}
    pdes: list[tuple[list[str], dict[str, float]]] = [(["true"], {"u_xx": problem.alpha})]
    for label, terms in found.items():
        same = [p for p in pdes if p[1].keys() == terms.keys() and all(
            math.isclose(p[1][k], terms[k], rel_tol=1e-6) for k in terms)]
        if same:
            same[0][0].append(label)
        elif terms:
            pdes.append(([label], terms))
    fields = {}
    for labels, terms in pdes:
        lines = textwrap.wrap(f"{', '.join(labels)}: {format_pde(terms)}", 48)
        label = "\n".join(lines[:2]) + (" ..." if len(lines) > 2 else "")
        rhs = sum(c * _term_column(n, d) for n, c in terms.items())
        fields[label] = (d["u_t"] - rhs).reshape(X.shape)
    return plots.field_residuals(X[0], T[:, 0], fields, run.file("pde_residual.png"),
                                 "PDE residual u_t - F(u, u_x, ...) of the network under the "
                                 "true PDE, the one it was trained on, and those found")


# ---------------------------------------------------------------------------------------------
# discovery


def _discover(config: HeatRunConfig, run: Any) -> dict[str, Any]:
    from physdistill.heat.discover import discover

    problem = config.problem
    if not run.done("discover"):
        with run.stage("discover") as info:
            result = discover(problem, config.discovery)
            _save_discovery(run, result)
            info.update(result.seconds)
    saved = run.read_json("discovery.json")
    model = _load_discovery_model(run, problem, config.discovery)
    metrics = {"mode": "discover", "problem": problem.describe(), "alpha_true": problem.alpha,
               "rel_l2_network": saved["rel_l2_network"],
               "discovery": {k: v for k, v in saved.items() if k != "history"}}
    if not run.done("plots"):
        with run.stage("plots") as info:
            info["files"] = _discovery_plots(run, model, problem, saved)
    metrics["plots"] = run.meta["stages"]["plots"]["files"]
    return metrics


def _discovery_plots(run: Any, model: Any, problem: HeatProblem,
                     saved: dict[str, Any]) -> dict[str, str]:
    from physdistill import plots
    from physdistill.heat.train import predict

    X, T = problem.grid()
    net, ref = predict(model, X, T), problem.reference(X, T)
    h = saved["history"]
    coefs = {k[2:-1]: v for k, v in h.items() if k.startswith("c[")}
    out = {
        "solution": plots.heat_maps(X[0], T[:, 0], {"network": net, "reference": ref},
                                    run.file("solution.png"), "u(x, t)"),
        "errors": plots.field_residuals(X[0], T[:, 0], {"network - reference": net - ref},
                                        run.file("errors.png"), "u(x, t) residual"),
        "pde_residual": _pde_residual_plot(run, model, problem, X, T,
                                           {"discovered": saved["terms"]}),
        "loss": plots.curves_vs_step(h["step"], {k: h[k] for k in ("data", "pde")},
                                     run.file("loss.png"), "discovery PINN",
                                     marks=saved["phase_starts"]),
        "coefficients": plots.curves_vs_step(
            h["step"], coefs, run.file("coefficients.png"),
            "normalised coefficients (0 = removed)", "coefficient", logy=False,
            marks=saved["phase_starts"]),
    }
    return {k: Path(v).name for k, v in out.items()}


def _save_discovery(run: Any, result: Any) -> None:
    from physdistill._io import save_state

    save_state(run.file("checkpoint.safetensors"),
               {k: v.detach().cpu() for k, v in result.model.state_dict().items()})
    run.write_json("discovery.json", {**result.to_dict(), "history": result.history})


def _load_discovery_model(run: Any, problem: HeatProblem, config: DiscoveryConfig) -> Any:
    import torch

    from physdistill._io import load_state
    from physdistill.heat.pinn import HeatPINN

    model = HeatPINN(problem, ModelConfig(width=config.width, depth=config.depth, hard="off"))
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    try:
        model.to(dtype=dtype).load_state_dict(load_state(run.file("checkpoint.safetensors")))
    except RuntimeError as exc:
        raise PhysDistillError(f"{run.file('checkpoint.safetensors')} does not match the "
                               f"discovery settings ({str(exc).splitlines()[0]})") from None
    return model.eval()
