r"""``physdistill nbody``: force-law recovery end to end, into one run folder.

Stages (each recorded in ``run.json`` when it finishes, so ``--resume`` skips it):

1. ``data``: simulate the law (or reuse a dataset folder given with ``data=``);
2. ``train``: train the OGN variant (checkpoint in ``model/``, resumable mid-training);
3. ``distill``: record messages on test graphs, fit the kept channels to the true force, distil
   each into an equation of ``dx, dy, [dz], r, m1, m2, q1, q2`` and judge it against the law's
   pair force (:mod:`~physdistill.nbody.distill`, :mod:`~physdistill.nbody.judge`);
4. ``rollout``: switch the edge model to the equations and roll out trajectories from held-out
   and out-of-distribution initial states (:mod:`~physdistill.nbody.rollout`);
5. ``report``: ``metrics.json``, ``equations.json``, plots and ``report.md``
   (:mod:`~physdistill.nbody.report`; ``physdistill report RUN`` redraws them).

The settings and presets are in :mod:`~physdistill.nbody.config`; this module runs the stages
in order, and its ``__all__`` re-exports the public names of the modules it composes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from physdistill._io import load_state, save_state
from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.nbody.config import PRESETS, NBodyConfig, _law, _log
from physdistill.nbody.distill import (
    BASE_FORCE_OPERATORS,
    SELECTION_FACTOR,
    SR_EVALUATIONS,
    SR_TRIM,
    _stage_distill,
    edge_transforms,
    force_operators,
    force_symbolic_model,
    input_names,
)
from physdistill.nbody.judge import (
    MATCH_TOL,
    REL_FLOOR,
    REL_TOL,
    compare_force,
    force_reference,
    judge_force,
    judge_targets,
    receiver_gauge,
    without_piecewise,
)
from physdistill.nbody.provenance import check_model_law, law_record
from physdistill.runs import RunFolder, check_not_inside, fingerprint

#: the run's public names, with those defined in the stage modules it composes
__all__ = [
    "BASE_FORCE_OPERATORS", "MATCH_TOL", "PRESETS", "REL_FLOOR", "REL_TOL", "SELECTION_FACTOR",
    "SR_EVALUATIONS", "SR_TRIM", "STAGES", "NBodyConfig", "compare_force", "edge_transforms",
    "force_operators", "force_reference", "force_symbolic_model", "input_names", "judge_force",
    "judge_targets", "law_record", "receiver_gauge", "run_nbody", "simulation_device",
    "without_piecewise",
]

STAGES = ("data", "train", "distill", "rollout", "report")


def simulation_device(device: str) -> str:
    """Where a run's dataset is simulated: on the GPU when the run trains there, else the CPU."""
    return "cuda" if resolve_device(device).type == "cuda" else "cpu"


def _stage_data(run: RunFolder, cfg: NBodyConfig, law, progress: bool) -> Path:
    """Simulate (or check ``cfg.data``); record the law and the dataset's fingerprint, which
    every later stage is made from (``run.inputs``)."""
    from physdistill.nbody.dataset import load_dataset, make_dataset
    from physdistill.nbody.simulate import SimConfig

    if cfg.data is not None:
        path = Path(cfg.data)
        ds = load_dataset(path)
        if ds.law.potential != law.potential or ds.n != cfg.n or ds.dim != cfg.dim:
            raise PhysDistillError(f"dataset {cfg.data} is {ds.law.name} n={ds.n} "
                                   f"dim={ds.dim}; this run needs {law.name} n={cfg.n} "
                                   f"dim={cfg.dim}")
    else:
        path = run.file("data")
    if not run.done("data"):
        if cfg.data is None:
            _log(progress, f"[1/5] simulating {cfg.sims} {law.name} systems x {cfg.steps} "
                           "steps")
        with run.stage("data", {"law": law_record(law)}) as info:
            if cfg.data is None:
                make_dataset(law, SimConfig(n=cfg.n, dim=cfg.dim, sims=cfg.sims,
                                            steps=cfg.steps, seed=cfg.seed,
                                            device=simulation_device(cfg.device)),
                             path, force=True, progress=progress)
            info["path"] = str(path)
            run.inputs["dataset"] = fingerprint(path)
    if "dataset" not in run.inputs:  # a finished data stage: the dataset as it is now
        run.inputs["dataset"] = fingerprint(path)
    run.inputs["law"] = law_record(law)
    return path


def _stage_train(run: RunFolder, cfg: NBodyConfig, data: Path, progress: bool, resume: bool):
    from physdistill.nbody.dataset import load_dataset
    from physdistill.nbody.model import OGN, OGNConfig
    from physdistill.nbody.train import TrainConfig, Trainer, load_checkpoint

    folder = run.file("model")
    if run.done("train"):
        return load_checkpoint(folder)[0]
    if cfg.model is not None:  # trained elsewhere (e.g. with torchrun): analyse that model
        with run.stage("train", {"model": fingerprint(Path(cfg.model) / "checkpoint.safetensors")
                                 }) as info:
            model, meta = load_checkpoint(cfg.model)
            if meta["model"]["variant"] != cfg.reg or meta["model"]["dim"] != cfg.dim:
                raise PhysDistillError(f"model {cfg.model} is a {meta['model']['variant']} OGN "
                                       f"in {meta['model']['dim']}-D; this run needs {cfg.reg} "
                                       f"in {cfg.dim}-D")
            from physdistill._io import read_json

            run.write_json("history.json", read_json(Path(cfg.model) / "history.json",
                                                     "training history"))
            folder.mkdir(parents=True, exist_ok=True)
            save_state(folder / "checkpoint.safetensors", load_state(
                Path(cfg.model) / "checkpoint.safetensors"))
            run.write_json("model/checkpoint.json", meta)
            info["from"] = str(cfg.model)
        return model
    ds = load_dataset(data)
    _log(progress, f"[2/5] training the {cfg.reg} OGN ({cfg.epochs} epochs, "
                   f"hidden {cfg.hidden}, batch {cfg.batch})")
    with run.stage("train") as info:
        with torch.random.fork_rng(devices=[]):  # the initial weights follow the run's seed only
            torch.manual_seed(cfg.seed)
            model = OGN(OGNConfig(dim=cfg.dim, variant=cfg.reg, hidden=cfg.hidden))
        tcfg = TrainConfig(epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr,
                           steps_per_epoch=cfg.steps_per_epoch, seed=cfg.seed,
                           device=cfg.device, tf32=cfg.tf32)
        val = ds.graphs("val")  # a small dataset may have no validation systems
        trainer = Trainer(tcfg, out=folder, resume=resume, progress=progress).fit(
            model, ds.graphs("train"), val if val[0].shape[0] else None)
        run.write_json("history.json", trainer.history_)
        info["device"] = str(trainer.device_)
        info["graphs_per_s"] = trainer.history_["graphs_per_s"][-1]
    return trainer.model_

def _stage_rollout(run: RunFolder, cfg: NBodyConfig, law, model, progress: bool
                   ) -> dict[str, Any]:
    import copy

    from physdistill.nbody.dataset import fully_connected
    from physdistill.nbody.rollout import initial_states, rollout_errors
    from physdistill.symbolic import SymbolicModel

    if run.done("rollout"):
        return run.read_json("rollout.json")
    _log(progress, f"[4/5] rolling out {cfg.rollout_systems} held-out and "
                   f"{cfg.rollout_systems} out-of-distribution systems")
    with run.stage("rollout") as info:
        neural = copy.deepcopy(model).eval()
        symbolic = copy.deepcopy(model).eval()
        edge = neural.edge_mlp.module if isinstance(neural.edge_mlp, SymbolicModel) else \
            neural.edge_mlp
        neural.edge_mlp = edge
        symbolic.edge_mlp = SymbolicModel.load(run.file("symbolic_edge_model.safetensors"),
                                               copy.deepcopy(edge)).to(
            next(model.parameters()).device)
        symbolic.edge_mlp.mode_ = "symbolic"
        one = fully_connected(cfg.n)
        steps = min(cfg.steps, 500)
        out = {}
        for split, ood in (("held_out", False), ("ood", True)):
            ic = initial_states(law, cfg.n, cfg.dim, cfg.rollout_systems,
                                seed=10_000 + cfg.seed, ood=ood)
            res = rollout_errors(law, {"gnn": neural, "symbolic": symbolic}, ic, one, steps)
            out[split] = res
        info["median"] = {s: {k: r["median"] for k, r in res.items()} for s, res in out.items()}
        result = {"steps": steps, "dt": law.dt, "systems": cfg.rollout_systems, **out}
        run.write_json("rollout.json", result)
    return result


def _load_model_for_analysis(run: RunFolder):
    from physdistill.nbody.train import load_checkpoint

    return load_checkpoint(run.file("model"))[0]


def run_nbody(cfg: NBodyConfig, out: str | Path | None = None, *, force: bool = False,
              resume: bool = False, progress: bool = True,
              analysis_device: str | None = None) -> dict[str, Any]:
    """Run every stage (see the module docstring) and return ``metrics.json``'s content.

    ``analysis_device`` overrides where a trained model is distilled and rolled out (default:
    the run's device); the grid's distillation workers analyse on the CPU."""
    from physdistill.nbody.report import write_report

    cfg = cfg.resolved()
    law = _law(cfg)
    if cfg.model is not None:  # before the run folder exists
        check_model_law(cfg.model, law_record(law))
    out = Path(out) if out is not None else Path("runs") / f"nbody-{law.name}-{cfg.reg}"
    for given, what in ((cfg.data, "dataset"), (cfg.model, "model")) if force else ():
        if given is not None:
            check_not_inside(out, given, what)
    with RunFolder(out, "nbody", force=force, resume=resume, config=cfg.to_dict()) as run:
        data = _stage_data(run, cfg, law, progress)
        run.check_stages()  # a resumed run: every finished stage made from these inputs
        model = _stage_train(run, cfg, data, progress, resume)
        where = resolve_device(analysis_device or cfg.device)
        if run.done("train"):
            model = _load_model_for_analysis(run).to(where)
        _stage_distill(run, cfg, law, data, model, progress)
        _stage_rollout(run, cfg, law, _load_model_for_analysis(run).to(where), progress)
        _log(progress, "[5/5] writing the report")
        with run.stage("report"):
            metrics = write_report(run)
    return metrics
