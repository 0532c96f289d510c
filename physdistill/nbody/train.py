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

Multi-process training
----------------------
Started by ``torchrun`` (``WORLD_SIZE > 1``), the trainer joins the process group (gloo on the
CPU, NCCL on GPUs), broadcasts rank 0's weights, gives each rank every ``world``-th graph of
the epoch's shared permutation (all ranks take the same number of steps), averages the
gradients with one all-reduce of a flat gradient buffer per step (the same code with and
without CUDA graphs, so the 2-process gloo test checks the GPU path's averaging too; with CUDA
graphs the all-reduce is captured in the step's graph), and lets rank 0 alone write files.
``batch`` is the per-process batch.

Speed
-----
On the CPU the step is eager PyTorch on large matrix products (``[B n (n-1), 300]`` edge
activations) with fused Adam and no host syncs. On CUDA the forward and backward pass of one
step are captured once in a CUDA graph and replayed (no host syncs inside an epoch except the
progress bar's every ``log_every`` steps); ``amp="bf16"`` and ``tf32=True`` are available.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
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

HISTORY = "history.json"
AMP_MODES = ("none", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :class:`Trainer`.

    Args:
        epochs: passes over the training graphs (reference: 30 to 200).
        batch: graphs per step (per process; reference 64).
        lr: peak learning rate of the OneCycle schedule (reference 1e-3).
        weight_decay: Adam weight decay (reference 1e-8).
        final_div_factor: OneCycle's final division of the learning rate (reference 1e5).
        steps_per_epoch: cap on steps per epoch (``None``: all full batches).
        seed: seed of shuffling, augmentation and KL sampling.
        device: ``auto`` (cuda if present, else cpu), ``cpu``, ``cuda``, ``cuda:1``...
        amp: ``none`` or ``bf16`` (autocast; meant for GPUs).
        tf32: allow TF32 matrix products on CUDA.
        cuda_graphs: capture each step's forward and backward in a CUDA graph (CUDA only).
        augment_std: std of the random translation of the positions (0 disables it).
        augment_cols: leading feature columns translated; ``None`` = the target width (the
            positions of ``[pos, vel, q, m]`` nodes).
        val_graphs: validation graphs used per epoch (a fixed random subset; ``None``: all).
        eval_batch: graphs per batch when evaluating.
        log_every: steps between progress-bar loss updates (each one syncs the device).
    """

    epochs: int = 30
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-8
    final_div_factor: float = 1e5
    steps_per_epoch: int | None = None
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    tf32: bool = False
    cuda_graphs: bool = True
    augment_std: float = 3.0
    augment_cols: int | None = None
    val_graphs: int | None = 10_000
    eval_batch: int = 4096
    log_every: int = 50

    def validate(self) -> TrainConfig:
        """Check every field; raises :class:`PhysDistillError` naming the first bad one."""
        for name in ("epochs", "batch", "eval_batch", "log_every"):
            _check_int(name, getattr(self, name), 1)
        for name, low in (("steps_per_epoch", 1), ("val_graphs", 1), ("augment_cols", 0)):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), low)
        _check_int("seed", self.seed, 0)
        for name in ("lr", "final_div_factor"):
            v = getattr(self, name)
            if not (_is_number(v) and v > 0):
                raise PhysDistillError(f"TrainConfig.{name} must be a positive number, got {v!r}")
        for name in ("weight_decay", "augment_std"):
            v = getattr(self, name)
            if not (_is_number(v) and v >= 0):
                raise PhysDistillError(f"TrainConfig.{name} must be a number >= 0, got {v!r}")
        if self.amp not in AMP_MODES:
            raise PhysDistillError(f"TrainConfig.amp must be one of {AMP_MODES}, got "
                                   f"{self.amp!r}")
        resolve_device(self.device)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise PhysDistillError(f"training config must be a JSON object, got "
                                   f"{type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise PhysDistillError(f"unknown training config keys {unknown}; known: "
                                   f"{sorted(f.name for f in fields(cls))}")
        return cls(**data).validate()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_int(name: str, v: Any, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise PhysDistillError(f"TrainConfig.{name} must be an integer >= {low}, got {v!r}")


# ---------------------------------------------------------------------------------------------
# distributed


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a ``torchrun`` job (``world == 1``: not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> tuple[DistInfo, torch.device, bool]:
    """Join the process group when started by torchrun and pick this rank's device.

    Returns ``(info, device, created)``; ``created`` tells whether this call started the
    process group (and so the trainer should end it).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo(), device, False
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size()), device, created


def _mix(*parts: int) -> int:
    """A 63-bit seed from integers (deterministic across runs and platforms)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) + 0x632BE59BD9B4E019 + (h << 6) + (h >> 2))) & 0x7FFFFFFFFFFFFFFF
    return h


# ---------------------------------------------------------------------------------------------
# the trainer

LossFn = Callable[[nn.Module, Tensor, Tensor, Tensor, int], tuple[Tensor, Tensor]]


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
# one training step


class _EagerStep:
    """Gather a batch, translate it, then forward + backward + Adam step, eagerly.

    The mean logged loss of the epoch accumulates on the device (read by :meth:`mean`).
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, opt: torch.optim.Optimizer,
                 cfg: TrainConfig, edge_index: Tensor, n: int, k: int, world: int = 1) -> None:
        self.model, self.loss_fn, self.opt = model, loss_fn, opt
        self.world = world
        self.flat: Tensor | None = None
        self.cfg, self.ei, self.n, self.k = cfg, edge_index, n, k
        self.B = cfg.batch
        self.device = edge_index.device
        self.acc = torch.zeros((), device=self.device, dtype=torch.float64)
        self.count = 0

    def begin_epoch(self) -> None:
        self.acc.zero_()
        self.count = 0

    def _zero_grads(self) -> None:
        """Single process: drop the gradients. Several: zero the flat buffer whose views the
        gradients are (made on first use), so the backward fills it in place."""
        if self.world == 1:
            self.opt.zero_grad(set_to_none=True)
            return
        if self.flat is None:
            params = [p for p in self.model.parameters() if p.requires_grad]
            self.flat = torch.zeros(sum(p.numel() for p in params), device=self.device,
                                    dtype=params[0].dtype)
            offset = 0
            for p in params:
                p.grad = self.flat[offset:offset + p.numel()].view_as(p)
                offset += p.numel()
        self.flat.zero_()

    def _average_grads(self) -> None:
        """Several processes: one all-reduce of the flat gradient buffer, then divide (gloo has
        no average), in place of DDP's per-bucket hooks; every process then takes the same
        optimizer step."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(self.flat)
            self.flat.div_(self.world)

    def mean(self) -> float:
        return float(self.acc) / max(self.count, 1)

    def release(self) -> None:
        """Free what the step holds on the device beyond the model (nothing when eager)."""

    def _inputs(self, x_all: Tensor, y_all: Tensor, idx: Tensor, noise_gen: torch.Generator,
                xb: Tensor | None = None, yb: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The batch ``idx`` (into ``xb``/``yb`` when given), positions translated per graph."""
        xb = torch.index_select(x_all, 0, idx, out=xb) if xb is not None else x_all[idx]
        yb = torch.index_select(y_all, 0, idx, out=yb) if yb is not None else y_all[idx]
        if self.cfg.augment_std > 0 and self.k > 0:
            noise = torch.randn((self.B, 1, self.k), generator=noise_gen, device=self.device,
                                dtype=xb.dtype)
            xb[..., : self.k].add_(noise, alpha=self.cfg.augment_std)
        return xb, yb

    def _loss(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        B, n = self.B, self.n
        with _autocast(self.device, self.cfg.amp):
            return self.loss_fn(self.model, xb.reshape(B * n, -1), self.ei,
                                yb.reshape(B * n, -1), B)

    def __call__(self, x_all: Tensor, y_all: Tensor, idx: Tensor,
                 noise_gen: torch.Generator) -> None:
        xb, yb = self._inputs(x_all, y_all, idx, noise_gen)
        total, logged = self._loss(xb, yb)
        self._zero_grads()
        total.backward()
        self._average_grads()
        self.opt.step()
        self.acc += logged.detach().double()
        self.count += 1


class _GraphStep(_EagerStep):
    """CUDA: capture forward + backward once in a CUDA graph and replay it every step.

    The batch is gathered into static buffers and translated outside the graph; the fused Adam
    step runs after each replay (OneCycle changes lr and beta1 on the host). Model buffers and
    RNG states are restored after warm-up and capture, so capturing does not change the
    training trajectory.

    Under torchrun (``world > 1``) the graph zeroes the flat gradient buffer, the backward
    fills it and the NCCL all-reduce of :meth:`_average_grads` averages it, all captured: one
    replay per step, no host-side collective launch. NCCL keeps a reference on its communicator
    for every graph that captured one of its collectives, and destroying the process group
    waits until those graphs are gone, so the trainer calls :meth:`release` before it ends the
    group (else the run hangs at its end).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.graph: torch.cuda.CUDAGraph | None = None

    def _capture(self, x_all: Tensor, y_all: Tensor, idx: Tensor,
                 noise_gen: torch.Generator) -> None:
        B, n = self.B, self.n
        self.xb = x_all.new_zeros((B, n, x_all.shape[-1]))
        self.yb = y_all.new_zeros((B, n, y_all.shape[-1]))
        buffers = {k: v.detach().clone() for k, v in self.model.named_buffers()}
        rng, gen_state = torch.cuda.get_rng_state(self.device), noise_gen.get_state()
        self._inputs(x_all, y_all, idx, noise_gen, self.xb, self.yb)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.opt.zero_grad(set_to_none=True)
                self._loss(self.xb, self.yb)[0].backward()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.opt.zero_grad(set_to_none=True)
        if self.world > 1:
            self._zero_grads()  # makes the flat gradient buffer outside the graph
            self._average_grads()  # every rank: one eager all-reduce of that size (connects)
            torch.cuda.synchronize(self.device)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            if self.world > 1:
                self._zero_grads()  # the flat buffer exists: _capture made it first
            total, logged = self._loss(self.xb, self.yb)
            total.backward()
            self._average_grads()  # several processes: the all-reduce is captured too
            self.acc += logged.detach().double()
        with torch.no_grad():
            for k, v in self.model.named_buffers():
                v.copy_(buffers[k])
        torch.cuda.set_rng_state(rng, self.device)
        noise_gen.set_state(gen_state)
        self.acc.zero_()

    def __call__(self, x_all: Tensor, y_all: Tensor, idx: Tensor,
                 noise_gen: torch.Generator) -> None:
        if self.graph is None:
            self._capture(x_all, y_all, idx, noise_gen)
        self._inputs(x_all, y_all, idx, noise_gen, self.xb, self.yb)
        self.graph.replay()
        self.opt.step()
        self.count += 1

    def release(self) -> None:
        """Destroy the captured graph (after the device has finished its replays)."""
        if self.graph is not None:
            torch.cuda.synchronize(self.device)
            self.graph.reset()
            self.graph = None


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


def _autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    # no weight cache: it would be stale inside a replayed CUDA graph
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def _all_mean(value: float, device: torch.device) -> float:
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()


def _bar(total: int, desc: str, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


def _print(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line)
