"""Many n-body runs at once: shared datasets, stacked training, distillation over a pool.

:func:`run_grid` takes the settings of many ``physdistill nbody`` runs (cells, e.g. laws x
regularisers x seeds) and runs them as the lone runs would, in less time:

1. **data**: one dataset per (law, seed, system settings), in ``OUT/data-LAW-sSEED``, shared by
   the cells that need it (simulated where the runs train);
2. **train**: the cells of one training recipe and regulariser train as one stack
   (:class:`~physdistill.nbody.stack.StackTrainer`), each into its own run folder's ``model/``
   as its lone run would (a model that diverges is reported and stopped; the others go on);
3. **distill, rollout, report**: each trained cell finishes in a worker of a process pool while
   the next stack trains. Workers get disjoint sets of cores (``cores // threads`` workers of
   ``threads`` cores, one core left to the training loop), so the searches, which use every
   core their process may use, neither leave cores idle nor oversubscribe them. When the stacks
   train on a GPU, the training process is held to the cores no worker owns: its loop is bound
   by the host, and its threads would otherwise spin on the workers' cores. Workers analyse
   on the CPU.

Each cell's run folder is a complete ``physdistill nbody`` run: ``physdistill report`` reads it,
and an interrupted grid resumes at cell granularity (finished stages are skipped, training
continues from each model's last checkpoint).
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.nbody.pipeline import NBodyConfig, _law, _stage_data, run_nbody, simulation_device
from physdistill.runs import RunFolder

#: the fields a stack's members share (everything that shapes the recipe and the model)
STACK_KEY = ("reg", "preset", "n", "dim", "epochs", "hidden", "batch", "lr", "steps_per_epoch",
             "device", "tf32")

#: at most this many datasets are simulated at once on a GPU
SIM_PROCESSES = 6


def cell_name(cfg: NBodyConfig) -> str:
    """``LAW-REG-sSEED``: a cell's folder name in the grid."""
    return f"{_law(cfg).name}-{cfg.reg}-s{cfg.seed}"


def run_grid(cells: list[NBodyConfig], out: str | Path, *, threads: int = 2,
             workers: int | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Run every cell into ``OUT/cell_name(cell)`` and return one row per cell: ``name``,
    ``config``, ``metrics`` (``metrics.json``'s content, or ``{"error": ...}``) and the stack
    it trained in.

    Args:
        cells: the runs' settings (``data`` may name a dataset; otherwise one is simulated).
        threads: cores per distillation worker (a 2-D run searches its two channels at once).
        workers: distillation workers; ``None``: ``(cores - 1) // threads``, at least 1.
    """
    from physdistill.symbolic.config import available_cores

    if not cells:
        raise PhysDistillError("the grid has no cells")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cells = [c.resolved() for c in cells]
    names = [cell_name(c) for c in cells]
    if len(set(names)) != len(names):
        raise PhysDistillError(f"the grid repeats cells: {sorted(n for n in names if names.count(n) > 1)}")
    t0 = time.perf_counter()
    cells = _with_data(cells, out, progress)
    data_seconds = time.perf_counter() - t0
    if progress:
        print(f"datasets ready after {data_seconds:.0f} s", flush=True)
    cells = _level_steps(cells)
    cores = available_cores()
    if workers is None:
        workers = max(1, (cores - 1) // threads)
    rows: dict[str, dict[str, Any]] = {}
    futures: dict[str, Future] = {}
    stacks: dict[str, float] = {}
    with _pool(workers, threads, cores) as pool, _trainer_cores(cells[0], workers * threads):
        for key, group in _groups(cells).items():
            todo = [c for c in group if not _trained(out / cell_name(c), c)]
            if todo:
                stacks[key] = _train_stack(todo, out, progress)
                if progress:
                    print(f"stack of {len(todo)} trained in {stacks[key]:.0f} s "
                          f"({time.perf_counter() - t0:.0f} s since the start)", flush=True)
            for c in group:
                name = cell_name(c)
                rows[name] = {"name": name, "config": c.to_dict(), "stack": key}
                futures[name] = pool.submit(_finish, c.to_dict(), str(out / name))
        for name, fut in futures.items():
            try:
                rows[name]["metrics"] = fut.result()
            except PhysDistillError as exc:
                rows[name]["metrics"] = {"error": str(exc)}
    if progress:
        print(f"grid of {len(cells)} cells done after {time.perf_counter() - t0:.0f} s",
              flush=True)
    for name, row in rows.items():  # the stack's time, also for cells trained earlier
        train = RunFolder.open(out / name).meta["stages"].get("train", {})
        row["stack_seconds"] = stacks.get(row["stack"], train.get("stack_seconds"))
    result = [rows[cell_name(c)] for c in cells]
    for r in result:
        r["data_seconds"] = round(data_seconds, 1)
    return result


def _data_path(cfg: NBodyConfig, out: Path) -> Path:
    return out / f"data-{_law(cfg).name}-n{cfg.n}-d{cfg.dim}-{cfg.sims}x{cfg.steps}-s{cfg.seed}"


def _with_data(cells: list[NBodyConfig], out: Path, progress: bool) -> list[NBodyConfig]:
    """The cells with ``data`` set: their shared datasets, simulated on first need.

    On a GPU the datasets are simulated by several processes at once (up to
    :data:`SIM_PROCESSES`): one simulation is bound by kernel launches, not by the GPU, so
    several overlap almost fully. Each is the dataset a lone run simulates (same seed, same
    device, same code), only sooner. On the CPU they are simulated one after another, each
    using every core.
    """
    todo: dict[Path, NBodyConfig] = {}
    for c in cells:
        path = _data_path(c, out)
        if c.data is None and not (path / "meta.json").is_file():
            todo.setdefault(path, c)
    if todo:
        jobs = [(c.to_dict(), str(p)) for p, c in todo.items()]
        if progress:
            print(f"simulating {len(jobs)} datasets: "
                  f"{', '.join(p.name for p in todo)}", flush=True)
        procs = _sim_processes(cells[0], len(jobs))
        if procs > 1:
            import multiprocessing as mp

            with ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn")) as pool:
                for fut in [pool.submit(_simulate, *j, False) for j in jobs]:
                    fut.result()
        else:
            for j in jobs:
                _simulate(*j, progress)
    return [c if c.data is not None else replace(c, data=str(_data_path(c, out)))
            for c in cells]


def _sim_processes(cfg: NBodyConfig, jobs: int) -> int:
    """Processes that simulate ``jobs`` datasets: several on a GPU, one on the CPU."""
    return min(SIM_PROCESSES, jobs) if simulation_device(cfg.device) == "cuda" else 1


def _simulate(cfg: dict[str, Any], path: str, progress: bool) -> None:
    """Simulate one cell's dataset into ``path`` (a top-level function, so that a spawned
    process can run it)."""
    from physdistill.nbody.dataset import make_dataset
    from physdistill.nbody.simulate import SimConfig

    c = NBodyConfig.from_dict(cfg)
    make_dataset(_law(c), SimConfig(n=c.n, dim=c.dim, sims=c.sims, steps=c.steps, seed=c.seed,
                                    device=simulation_device(c.device)),
                 path, force=True, progress=progress)


def _level_steps(cells: list[NBodyConfig]) -> list[NBodyConfig]:
    """Give the cells of each stack one number of steps per epoch (the least any member's data
    allows, within the preset's cap), written into each cell's settings: a stack takes one
    step for all its models, and the run folder records the steps the model took."""
    from safetensors import safe_open

    from physdistill._io import read_json

    def train_graphs(path: str) -> int:
        meta = read_json(Path(path) / "meta.json", "dataset metadata")
        with safe_open(str(Path(path) / "data.safetensors"), framework="pt") as fh:
            T = fh.get_slice("pos").get_shape()[1]
        return int(meta["split"]["counts"]["train"]) * int(T)

    leveled = []
    for group in _groups(cells).values():
        cap = group[0].steps_per_epoch  # the preset's cap (or None), shared by the group
        steps = min(train_graphs(c.data) // c.batch for c in group)
        steps = steps if cap is None else min(steps, cap)
        leveled += [replace(c, steps_per_epoch=steps) for c in group]
    order = {cell_name(c): i for i, c in enumerate(cells)}
    return sorted(leveled, key=lambda c: order[cell_name(c)])


def _key(cfg: NBodyConfig) -> str:
    return " ".join(f"{k}={getattr(cfg, k)}" for k in STACK_KEY)


def _groups(cells: list[NBodyConfig]) -> dict[str, list[NBodyConfig]]:
    groups: dict[str, list[NBodyConfig]] = {}
    for c in cells:
        groups.setdefault(_key(c), []).append(c)
    return groups


def _open(path: Path, cfg: NBodyConfig) -> RunFolder:
    resume = (path / "run.json").is_file()
    return RunFolder(path, "nbody", force=not resume, resume=resume, config=cfg.to_dict())


def _trained(path: Path, cfg: NBodyConfig) -> bool:
    if not (path / "run.json").is_file():
        return False
    with _open(path, cfg) as run:
        return run.done("train")


def _train_stack(cells: list[NBodyConfig], out: Path, progress: bool) -> float:
    """Train the cells as one stack into their run folders; returns the stack's seconds."""
    import torch

    from physdistill.nbody.dataset import load_dataset
    from physdistill.nbody.model import OGN, OGNConfig
    from physdistill.nbody.stack import Member, StackTrainer
    from physdistill.nbody.train import TrainConfig

    c0 = cells[0]
    tcfg = TrainConfig(epochs=c0.epochs, batch=c0.batch, lr=c0.lr,
                       steps_per_epoch=c0.steps_per_epoch, device=c0.device,
                       tf32=c0.tf32)
    with contextlib.ExitStack() as folders:
        runs, members = [], []
        for c in cells:
            run = folders.enter_context(_open(out / cell_name(c), c))
            _stage_data(run, c, _law(c), False)  # records the law and dataset stages use
            ds = load_dataset(c.data)
            with torch.random.fork_rng(devices=[]):  # initial weights follow the run's seed only
                torch.manual_seed(c.seed)
                model = OGN(OGNConfig(dim=c.dim, variant=c.reg, hidden=c.hidden))
            val = ds.graphs("val")
            members.append(Member(cell_name(c), model, ds.graphs("train"),
                                  val if val[0].shape[0] else None, c.seed, run.file("model")))
            runs.append(run)
        if progress:
            print(f"training {len(cells)} {c0.reg} OGNs as one stack: "
                  f"{', '.join(m.name for m in members)}", flush=True)
        start = time.perf_counter()
        trainer = StackTrainer(tcfg, resume=True, progress=progress).fit(members)
        seconds = round(time.perf_counter() - start, 1)
        for run, m in zip(runs, members):
            if m.diverged is not None:
                run.write_json("diverged.json", {"epoch": m.diverged, "history": m.history})
                continue
            run.write_json("history.json", m.history)
            with run.stage("train") as info:
                info.update(device=str(trainer.device_),
                            graphs_per_s=m.history["graphs_per_s"][-1],
                            stack=[g.name for g in members], stack_seconds=seconds,
                            stack_graphs_per_s=(trainer.stack_graphs_per_s_ or [None])[-1])
    return seconds


def _finish(cfg: dict[str, Any], path: str) -> dict[str, Any]:
    """A worker's job: the cell's remaining stages (distill, rollout, report), on the CPU."""
    p = Path(path)
    if (p / "diverged.json").is_file():
        raise PhysDistillError(f"{p.name}: the model diverged in training (see diverged.json)")
    return run_nbody(NBodyConfig.from_dict(cfg), p, resume=True, progress=False,
                     analysis_device="cpu")


@contextlib.contextmanager
def _trainer_cores(cfg: NBodyConfig, taken: int):
    """Hold this process (the GPU training loop) to the cores the workers do not own, at least
    one, with as many torch threads; restored on exit. A no-op for CPU training, which needs
    every core, and where affinity is not supported."""
    if resolve_device(cfg.device).type != "cuda" or not hasattr(os, "sched_setaffinity"):
        yield
        return
    import torch

    allowed = sorted(os.sched_getaffinity(0))
    keep = allowed[:max(1, len(allowed) - taken)]
    threads = torch.get_num_threads()
    os.sched_setaffinity(0, keep)
    torch.set_num_threads(len(keep))
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)
        torch.set_num_threads(threads)


class _pool:
    """A process pool whose workers each own ``threads`` cores (spawned, so no CUDA state is
    inherited; each worker sees no GPU)."""

    def __init__(self, workers: int, threads: int, cores: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        for w in range(workers):
            q.put(allowed[-(w + 1) * threads:len(allowed) - w * threads] if
                  len(allowed) >= (w + 1) * threads else [])
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                        initializer=_init_worker, initargs=(q, threads))

    def __enter__(self) -> ProcessPoolExecutor:
        return self.pool

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=exc[0] is not None)


def _init_worker(q: Any, threads: int) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    cores = q.get()
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    import torch

    torch.set_num_threads(max(1, len(cores) or threads))
