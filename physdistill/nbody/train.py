r"""The training loop for graph networks on batches of equal-size graphs (the n-body domain's).

Recipe (reference defaults, Cranmer et al. 2020): Adam (lr 1e-3, weight decay 1e-8) with a
OneCycle schedule (max lr = ``lr``, ``final_div_factor`` 1e5, momentum cycled), the loss of
:func:`~physdistill.nbody.model.ogn_loss` (per-graph sum of absolute errors, averaged over
graphs, plus the regulariser's penalty) and random translations of the positions,
:math:`\mathbf x_{pos} \leftarrow \mathbf x_{pos} + \boldsymbol\delta`,
:math:`\boldsymbol\delta \sim N(0, 3^2 I)`, drawn per graph (the reference draws one per batch).

What the trainer needs is generic: a model called as ``loss_fn(model, x, edge_index, y, B)``,
graphs as dense tensors ``x [G, n, F]``, ``y [G, n, k]`` of equal size (one ``edge_index`` for
all, by default the complete directed graph), and the number of leading feature columns to
translate.

Reproducibility and resume
--------------------------
Each epoch's shuffle, augmentation noise and global RNG (KL sampling) are seeded from
``(seed, epoch, rank)``, and the checkpoint written after every epoch holds model (with its
buffers, e.g. the pruning mask), optimizer, scheduler and history. A resumed run therefore
continues exactly where the last finished epoch left off and, on the CPU, ends with the same
weights, bit for bit, as an uninterrupted run with the same thread count. (On CUDA the sum of
messages uses atomic adds, so two runs agree only to rounding.)

The settings are :class:`~physdistill.nbody.train_config.TrainConfig`; one optimisation step
(eager or CUDA-graph, and the gradient averaging of several processes) is
:mod:`~physdistill.nbody.train_step`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from physdistill._io import load_state, read_json
from physdistill.checkpoints import CHECKPOINT, CHECKPOINT_META, save_checkpoint
from physdistill.checkpoints import load_checkpoint as load_saved_checkpoint
from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.graphs import repeat_edges
from physdistill.nbody.dataset import fully_connected
from physdistill.nbody.model import ogn_loss
from physdistill.nbody.train_config import TrainConfig
from physdistill.nbody.train_step import (
    DistInfo,
    LossFn,
    _all_mean,
    _autocast,
    _EagerStep,
    _GraphStep,
    init_distributed,
)

HISTORY = "history.json"

def _mix(*parts: int) -> int:
    """A 63-bit seed from integers (deterministic across runs and platforms)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) + 0x632BE59BD9B4E019 + (h << 6) + (h >> 2))) & 0x7FFFFFFFFFFFFFFF
    return h


# ---------------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """Train a graph network on dense batches of equal-size graphs.

    Follows the scikit-learn contract: ``__init__`` stores settings; :meth:`fit` validates,
    trains and returns ``self``; learned state ends in ``_``.

    Args:
        config: a :class:`TrainConfig` (default: the reference recipe).
        out: folder for ``checkpoint.safetensors`` + ``checkpoint.json`` + ``history.json``
            (written after every epoch, by rank 0); ``None`` writes nothing.
        resume: continue from the checkpoint in ``out`` if there is one (its settings must
            match); without one, training starts from scratch.
        loss_fn: ``loss_fn(model, x [B n, F], edge_index, y [B n, k], B) -> (total, logged)``;
            default :func:`~physdistill.nbody.model.ogn_loss`.
        progress: show a progress bar and one line per epoch (rank 0).

    Learned attributes:
        model_: the trained model (unwrapped). history_: per-epoch ``epoch``, ``train`` (mean
        logged loss), ``val``, ``lr`` (of the epoch's last step), ``seconds``,
        ``graphs_per_s``. epochs_done_: finished epochs. steps_per_epoch_: optimizer steps per
        epoch. device_: the device used. dist_: :class:`DistInfo`.

    Example:
        >>> model = OGN(OGNConfig(variant="bottleneck"))
        >>> trainer = Trainer(TrainConfig(epochs=5), out="runs/spring").fit(
        ...     model, ds.graphs("train"), ds.graphs("val"))
        >>> trainer.history_["val"]
    """

    def __init__(self, config: TrainConfig | None = None, *, out: str | Path | None = None,
                 resume: bool = False, loss_fn: LossFn | None = None,
                 progress: bool = True) -> None:
        self.config = config
        self.out = out
        self.resume = resume
        self.loss_fn = loss_fn
        self.progress = progress

    def fit(self, model: nn.Module, train: tuple[Tensor, Tensor],
            val: tuple[Tensor, Tensor] | None = None, *,
            edge_index: Tensor | None = None, model_config: dict | None = None) -> Trainer:
        """Train ``model`` on ``train = (x [G, n, F], y [G, n, k])``.

        Args:
            val: validation graphs, evaluated after each epoch (logged loss, no penalty).
            edge_index: one graph's ``[2, e]`` edges (default: complete directed graph).
            model_config: JSON-able description of the model stored with the checkpoint
                (default: ``model.config.to_dict()`` when it exists).
        """
        cfg = self.config if self.config is not None else TrainConfig()
        if not isinstance(cfg, TrainConfig):
            raise PhysDistillError(f"config must be a TrainConfig, got {type(cfg).__name__}")
        cfg.validate()
        x, y = _check_graphs(train, "train")
        if val is not None:
            xv, yv = _check_graphs(val, "val")
            if xv.shape[1:] != x.shape[1:] or yv.shape[1:] != y.shape[1:]:
                raise PhysDistillError(f"val graphs {tuple(xv.shape)}/{tuple(yv.shape)} differ in "
                                       f"shape from train graphs {tuple(x.shape)}/"
                                       f"{tuple(y.shape)}")
        G, n, F = x.shape
        k = cfg.augment_cols if cfg.augment_cols is not None else y.shape[-1]
        if k > F:
            raise PhysDistillError(f"augment_cols={k} exceeds the {F} node features")
        one = edge_index if edge_index is not None else fully_connected(n)
        if not (isinstance(one, Tensor) and one.dim() == 2 and one.shape[0] == 2
                and not one.is_floating_point()
                and (one.numel() == 0 or (int(one.min()) >= 0 and int(one.max()) < n))):
            raise PhysDistillError(f"edge_index must be an integer tensor [2, e] with node ids in "
                                   f"[0, {n}), got {getattr(one, 'shape', type(one).__name__)}")
        if self.resume and self.out is None:
            raise PhysDistillError("resume=True needs out= (the folder holding the checkpoint)")
        loss_fn = self.loss_fn or ogn_loss
        if model_config is None and hasattr(getattr(model, "config", None), "to_dict"):
            model_config = model.config.to_dict()

        device = resolve_device(cfg.device)
        dist_info, device, created_group = init_distributed(device)
        steps = (G // dist_info.world) // cfg.batch  # the same on every rank
        if cfg.steps_per_epoch is not None:
            steps = min(steps, cfg.steps_per_epoch)
        if steps < 1:
            raise PhysDistillError(f"{G} training graphs over {dist_info.world} process(es) give "
                                   f"no full batch of {cfg.batch}; lower --batch or add data")
        total = steps * cfg.epochs
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
            torch.backends.cudnn.allow_tf32 = cfg.tf32
        model = model.to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total,
                                                    final_div_factor=cfg.final_div_factor)
        history: dict[str, list] = {"epoch": [], "train": [], "val": [], "lr": [],
                                    "seconds": [], "graphs_per_s": []}
        start_epoch = 0
        out = Path(self.out) if self.out is not None else None
        meta = {"train": cfg.to_dict(), "model": model_config, "world": dist_info.world,
                "graphs": {"train": G, "val": 0 if val is None else int(val[0].shape[0])},
                "steps_per_epoch": steps}
        if self.resume and (out / CHECKPOINT).is_file():
            state = _load_checkpoint(out, meta)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            history = state["history"]
            start_epoch = int(state["epoch"])

        if dist_info.world > 1:  # the step averages the gradients itself (see _EagerStep)
            import torch.distributed as dist

            for t in [*model.parameters(), *model.buffers()]:
                dist.broadcast(t.data, 0)
        use_graph = device.type == "cuda" and cfg.cuda_graphs
        step = (_GraphStep if use_graph else _EagerStep)(
            model, loss_fn, opt, cfg, repeat_edges(one.to(device), cfg.batch, n), n, k,
            dist_info.world)
        x_dev, y_dev = x.to(device), y.to(device)
        val_sel = None if val is None else _val_subset(int(val[0].shape[0]), cfg.val_graphs,
                                                       cfg.seed)
        show = self.progress and dist_info.main
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            torch.manual_seed(_mix(cfg.seed, epoch, dist_info.rank, 7))
            t0 = time.perf_counter()
            perm = torch.randperm(G, generator=torch.Generator().manual_seed(_mix(cfg.seed,
                                                                                  epoch)))
            order = perm[dist_info.rank::dist_info.world][: steps * cfg.batch]
            order = order.view(steps, cfg.batch).to(device)
            noise_gen = torch.Generator(device=device).manual_seed(
                _mix(cfg.seed, epoch, dist_info.rank, 1))
            step.begin_epoch()
            bar = _bar(steps, f"epoch {epoch + 1}/{cfg.epochs}", show)
            for s in range(steps):
                _progress_hook(model, (epoch * steps + s) / total)
                step(x_dev, y_dev, order[s], noise_gen)
                last_lr = opt.param_groups[0]["lr"]
                sched.step()
                if bar is not None:
                    bar.update(1)
                    if (s + 1) % cfg.log_every == 0:
                        bar.set_postfix(loss=f"{step.mean():.4g}")
            train_loss = step.mean()  # syncs the device
            seconds = time.perf_counter() - t0
            if bar is not None:
                bar.close()
            if dist_info.world > 1:
                train_loss = _all_mean(train_loss, device)
            val_loss = None
            if val is not None:
                val_loss = evaluate(model, val[0][val_sel], val[1][val_sel], edge_index=one,
                                    batch=cfg.eval_batch, loss_fn=loss_fn, amp=cfg.amp,
                                    device=device, dist_info=dist_info)
            history["epoch"].append(epoch + 1)
            history["train"].append(float(train_loss))
            history["val"].append(val_loss)
            history["lr"].append(float(last_lr))
            history["seconds"].append(round(seconds, 3))
            history["graphs_per_s"].append(round(steps * cfg.batch * dist_info.world / seconds,
                                                 1))
            if show:
                v = "" if val_loss is None else f"  val {val_loss:.4g}"
                _print(f"epoch {epoch + 1}/{cfg.epochs}  train {train_loss:.4g}{v}  "
                       f"({seconds:.1f} s, {history['graphs_per_s'][-1]:.0f} graphs/s)")
            if out is not None and dist_info.main:
                _save_checkpoint(out, meta, {
                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "epoch": epoch + 1, "history": history})
        if dist_info.world > 1:
            import torch.distributed as dist

            # a CUDA graph holding a captured NCCL all-reduce pins the communicator:
            # ncclCommDestroy waits until every such graph is destroyed, so free it first
            step.release()
            dist.barrier()
            if created_group:
                dist.destroy_process_group()
        self.model_ = model
        self.history_ = history
        self.epochs_done_ = len(history["epoch"])
        self.steps_per_epoch_ = steps
        self.device_ = device
        self.dist_ = dist_info
        return self


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, *, edge_index: Tensor | None = None,
             batch: int = 4096, loss_fn: LossFn | None = None, amp: str = "none",
             device: torch.device | str | None = None,
             dist_info: DistInfo | None = None) -> float:
    """Mean per-graph loss (the logged part of ``loss_fn``: MAE, no penalty) in eval mode.

    Shapes: x ``[G, n, F]``, y ``[G, n, k]``. Under torchrun each rank evaluates its share and
    the result is the mean over all graphs.
    """
    loss_fn = loss_fn or ogn_loss
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dist_info = dist_info or DistInfo()
    G, n = x.shape[:2]
    one = edge_index if edge_index is not None else fully_connected(n)
    idx = torch.arange(dist_info.rank, G, dist_info.world)
    total = torch.zeros((), dtype=torch.float64, device=device)
    edges: dict[int, Tensor] = {}
    was = model.training
    model.eval()
    try:
        for a in range(0, idx.numel(), batch):
            sel = idx[a:a + batch]
            B = sel.numel()
            if B not in edges:
                edges[B] = repeat_edges(one, B, n).to(device)
            with _autocast(device, amp):
                _, logged = loss_fn(model, x[sel].to(device).reshape(B * n, -1), edges[B],
                                    y[sel].to(device).reshape(B * n, -1), B)
            total += logged.double() * B
    finally:
        model.train(was)
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.all_reduce(total)
    return float(total) / max(G, 1)


# ---------------------------------------------------------------------------------------------
# checkpoints


def _save_checkpoint(out: Path, meta: dict, state: dict) -> None:
    """Weights + optimizer state (safetensors), settings and history (JSON), each atomic."""
    save_checkpoint(out, {**meta, "epoch": state["epoch"]}, state,
                    side_files={HISTORY: state["history"]})


def _load_checkpoint(out: Path, meta: dict) -> dict:
    return load_saved_checkpoint(out, meta, required=("model", "optimizer", "scheduler",
                                                      "epoch", "history"))


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the :class:`~physdistill.nbody.model.OGN` saved by a trainer in folder ``path``
    (or from the ``checkpoint.safetensors`` file itself), in eval mode.

    Returns ``(model, meta)`` with ``meta`` the checkpoint's settings (``train``, ``model``,
    ``epoch``, ...).
    """
    from physdistill.nbody.model import OGN, OGNConfig

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    meta = read_json(folder / CHECKPOINT_META, "checkpoint settings")
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise PhysDistillError(f"{folder / CHECKPOINT_META} holds no model config; was it "
                               "written by physdistill's trainer?")
    model = OGN(OGNConfig.from_dict(meta["model"]))
    state = load_state(folder / CHECKPOINT, device=map_location)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as exc:
        raise PhysDistillError(f"checkpoint {folder / CHECKPOINT} does not fit its model config "
                               f"({str(exc).splitlines()[0]})") from None
    return model.eval(), meta


# ---------------------------------------------------------------------------------------------
# helpers


def _check_graphs(data: Any, what: str) -> tuple[Tensor, Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise PhysDistillError(f"{what} must be a pair (x [G, n, F], y [G, n, k]), got "
                               f"{type(data).__name__}")
    x, y = data
    if not (isinstance(x, Tensor) and isinstance(y, Tensor) and x.dim() == 3 and y.dim() == 3
            and x.shape[:2] == y.shape[:2]):
        shapes = [tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__ for t in data]
        raise PhysDistillError(f"{what} graphs must be tensors x [G, n, F] and y [G, n, k] with "
                               f"the same G and n, got {shapes}")
    if x.shape[0] == 0:
        raise PhysDistillError(f"{what} has no graphs")
    if not (x.is_floating_point() and y.is_floating_point()):
        raise PhysDistillError(f"{what} graphs must be floating point, got {x.dtype}/{y.dtype}")
    return x, y


def _val_subset(G: int, cap: int | None, seed: int) -> Tensor:
    """A fixed (seeded) subset of ``cap`` validation graphs, or all of them."""
    if cap is None or cap >= G:
        return torch.arange(G)
    perm = torch.randperm(G, generator=torch.Generator().manual_seed(_mix(seed, 99)))
    return perm[:cap].sort().values


def _progress_hook(model: nn.Module, progress: float) -> None:
    hook = getattr(model, "train_progress", None)
    if hook is not None:
        hook(progress)


def _bar(total: int, desc: str, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


def _print(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line)
