r"""Many OGNs trained at once: one stacked model, one step, each model as if trained alone.

The OGNs of one configuration (one regulariser, width, batch and recipe), each with its own
dataset and seed, are trained as one :class:`StackedOGN`: the weights of layer :math:`l` of the
``M`` models are one tensor ``[M, out, in]``, and every layer is one batched matrix product
(``torch.baddbmm``) over the models,

.. math::
    \mathbf h^{(l+1)}_{k} = \mathrm{ReLU}\big(\mathbf h^{(l)}_{k} W^{(l)\top}_{k}
    + \mathbf b^{(l)}_{k}\big), \qquad k = 1 \dots M,

so a step of ``M`` small models is a few large kernels (on CUDA, captured in one CUDA graph).
The loss is the sum of the models' losses; no parameter is shared, so each model's gradient is
its own loss's, and Adam, which acts element by element, updates each model's slice exactly
as it would update the model alone. The models share the recipe (lr, OneCycle schedule, steps
per epoch, batch), so one optimizer and one schedule serve all of them.

Each model keeps what it would have alone (:class:`~physdistill.nbody.train.Trainer`):

- its data stream: the epoch's shuffle and the translation noise come from its own seed, drawn
  with the same calls as the lone trainer's (the KL variant's message sampling comes from the
  stack's RNG, so a KL model matches its lone run in distribution, not sample for sample);
- its checkpoint: after every epoch each model's weights, its slice of the optimizer state, the
  schedule and its history are written to its own folder, in the lone trainer's format, so
  :func:`~physdistill.nbody.train.load_checkpoint` reads it and a lone ``Trainer`` can resume
  it. A stack resumes from those files; models left at different epochs by an interruption are
  brought level first (the ones behind train on their own until they catch up).

A model whose training loss becomes NaN or infinite is reported, taken out of the stack at the
end of the epoch (its folder keeps its last finite checkpoint) and the others go on unchanged.

This module holds the training loop (:class:`StackTrainer`, its members and its step); the
stacked model and the conversion of Adam state between the stacked and the lone layouts are
:mod:`~physdistill.nbody.stacked`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.nbody.model import OGN
from physdistill.nbody.stacked import StackedOGN, _member_optimizer, _stack_optimizer
from physdistill.nbody.train import (
    CHECKPOINT,
    _bar,
    _check_graphs,
    _load_checkpoint,
    _mix,
    _print,
    _save_checkpoint,
    _val_subset,
    evaluate,
)
from physdistill.nbody.train_config import TrainConfig
from physdistill.nbody.train_step import _autocast

__all__ = ["Member", "StackTrainer", "StackedOGN"]


@dataclass
class Member:
    """One model of a stack: its model, data, seed and checkpoint folder.

    Args:
        name: how progress lines and reports name it (e.g. ``"r2-bottleneck-s1"``).
        model: the OGN (its initial weights; trained in place).
        train, val: graphs ``(x [G, n, F], y [G, n, k])``; ``val`` may be ``None``.
        seed: seed of its shuffles, translations and validation subset.
        out: checkpoint folder (``None``: nothing is written).

    Filled in by :class:`StackTrainer`: ``history``, ``epoch`` (finished epochs), ``diverged``
    (the epoch whose loss was not finite, else ``None``).
    """

    name: str
    model: OGN
    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor] | None
    seed: int
    out: str | Path | None = None
    history: dict[str, list] = field(default_factory=lambda: {
        "epoch": [], "train": [], "val": [], "lr": [], "seconds": [], "graphs_per_s": []})
    epoch: int = 0
    diverged: int | None = None
    state: dict[str, Any] | None = None  # optimizer + scheduler state between stacks


class StackTrainer:
    """Train :class:`Member` s of one config as stacks (see the module docstring).

    Args:
        config: the shared recipe; its ``seed`` is ignored (each member has its own).
        resume: continue each member from the checkpoint in its folder, where there is one.
        progress: a progress bar per epoch and one line per epoch.

    After :meth:`fit`: ``stack_graphs_per_s_`` (aggregate graphs per second of each epoch of the
    full stack), ``device_``.
    """

    def __init__(self, config: TrainConfig, *, resume: bool = False,
                 progress: bool = True) -> None:
        self.config = config
        self.resume = resume
        self.progress = progress

    def fit(self, members: Sequence[Member]) -> StackTrainer:
        cfg = self.config.validate()
        if not members:
            raise PhysDistillError("StackTrainer.fit needs at least one member")
        device = resolve_device(cfg.device)
        shapes = set()
        for m in members:
            x, y = _check_graphs(m.train, f"{m.name} train")
            shapes.add((x.shape[1:], y.shape[1:]))
        if len(shapes) != 1:
            raise PhysDistillError(f"the members' graphs differ in shape: {sorted(map(str, shapes))}")
        steps = min(m.train[0].shape[0] // cfg.batch for m in members)
        if cfg.steps_per_epoch is not None:
            steps = min(steps, cfg.steps_per_epoch)
        if steps < 1:
            raise PhysDistillError(f"a member has fewer than one batch of {cfg.batch} graphs")
        self.steps_ = steps
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        for m in members:
            m.model.to(device)
            if self.resume and m.out is not None and (Path(m.out) / CHECKPOINT).is_file():
                state = _load_checkpoint(Path(m.out), self._meta(m, steps))
                m.model.load_state_dict(state["model"])
                m.state = {"optimizer": state["optimizer"], "scheduler": state["scheduler"]}
                m.history, m.epoch = state["history"], int(state["epoch"])
        self.stack_graphs_per_s_: list[float] = []
        self.device_ = device
        while True:
            active = [m for m in members if m.diverged is None and m.epoch < cfg.epochs]
            if not active:
                break
            low = min(m.epoch for m in active)
            group = [m for m in active if m.epoch == low]
            ahead = [m.epoch for m in active if m.epoch > low]
            self._train(group, low, min(ahead, default=cfg.epochs), steps, device,
                        full=len(group) == len(members))
        return self

    def _meta(self, m: Member, steps: int) -> dict[str, Any]:
        """What the member's checkpoint records: the lone trainer's settings for this member."""
        return {"train": replace(self.config, seed=m.seed).to_dict(),
                "model": m.model.config.to_dict(), "world": 1,
                "graphs": {"train": int(m.train[0].shape[0]),
                           "val": 0 if m.val is None else int(m.val[0].shape[0])},
                "steps_per_epoch": steps}

    def _train(self, group: list[Member], start: int, stop: int, steps: int,
               device: torch.device, full: bool) -> None:
        """Train ``group`` (all at epoch ``start``) as one stack up to epoch ``stop``, or until a
        member diverges."""
        cfg = self.config
        total = steps * cfg.epochs
        stack = StackedOGN([m.model for m in group]).to(device)
        opt = torch.optim.Adam(stack.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                               fused=True)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total,
                                                    final_div_factor=cfg.final_div_factor)
        if group[0].state is not None:
            opt.load_state_dict(_stack_optimizer([m.state["optimizer"] for m in group]))
            sched.load_state_dict(group[0].state["scheduler"])
        M, B = len(group), cfg.batch
        n = group[0].train[0].shape[1]
        k = cfg.augment_cols if cfg.augment_cols is not None else group[0].train[1].shape[-1]
        x_all = torch.cat([m.train[0] for m in group]).to(device)
        y_all = torch.cat([m.train[1] for m in group]).to(device)
        offsets = torch.tensor([0] + [m.train[0].shape[0] for m in group][:-1]).cumsum(0)
        step = _StackStep(stack, opt, cfg, x_all, y_all, M, B, n, k, device)
        for epoch in range(start, stop):
            stack.train()
            torch.manual_seed(_mix(*(m.seed for m in group), epoch, 0, 7))  # lone: (seed, epoch, 0, 7)
            order = torch.stack([
                torch.randperm(m.train[0].shape[0], generator=torch.Generator().manual_seed(
                    _mix(m.seed, epoch)))[: steps * B].view(steps, B) + off
                for m, off in zip(group, offsets.tolist())], 1).to(device)
            gens = [torch.Generator(device=device).manual_seed(_mix(m.seed, epoch, 0, 1))
                    for m in group]
            step.begin_epoch()
            bar = _bar(steps, f"{group[0].model.config.variant} x{M} epoch {epoch + 1}/"
                              f"{cfg.epochs}", self.progress)
            t0 = time.perf_counter()
            for s in range(steps):
                stack.train_progress((epoch * steps + s) / total)
                step(order[s], gens)
                last_lr = opt.param_groups[0]["lr"]
                sched.step()
                if bar is not None:
                    bar.update(1)
                    if (s + 1) % cfg.log_every == 0:
                        bar.set_postfix(loss=f"{float(step.acc.mean()) / (s + 1):.4g}")
            losses = (step.acc / steps).tolist()  # syncs the device
            seconds = time.perf_counter() - t0
            if bar is not None:
                bar.close()
            if full:
                self.stack_graphs_per_s_.append(round(steps * B * M / seconds, 1))
            stack.sync_to_models()
            opt_state, sched_state = opt.state_dict(), sched.state_dict()
            broke = False
            for j, m in enumerate(group):
                if not math.isfinite(losses[j]):
                    m.diverged = epoch + 1
                    broke = True
                    _print(f"{m.name}: training loss is {losses[j]} in epoch {epoch + 1}; this "
                           "model diverged and is stopped (its folder keeps its last finite "
                           "checkpoint); the others go on")
                    continue
                val = None
                if m.val is not None:
                    sel = _val_subset(int(m.val[0].shape[0]), cfg.val_graphs, m.seed)
                    val = evaluate(m.model, m.val[0][sel], m.val[1][sel], batch=cfg.eval_batch,
                                   amp=cfg.amp, device=device)
                h = m.history
                h["epoch"].append(epoch + 1)
                h["train"].append(float(losses[j]))
                h["val"].append(val)
                h["lr"].append(float(last_lr))
                h["seconds"].append(round(seconds, 3))
                h["graphs_per_s"].append(round(steps * B / seconds, 1))
                m.epoch = epoch + 1
                m.state = {"optimizer": _member_optimizer(opt_state, j),
                           "scheduler": sched_state}
                if m.out is not None:
                    _save_checkpoint(Path(m.out), {**self._meta(m, steps),
                                                   "stack": [g.name for g in group]},
                                     {"model": m.model.state_dict(), **m.state,
                                      "epoch": epoch + 1, "history": h})
            if self.progress:
                v = [f"{m.history['val'][-1]:.4g}" for m in group
                     if m.diverged is None and m.history["val"]
                     and m.history["val"][-1] is not None]
                _print(f"{group[0].model.config.variant} x{M} epoch {epoch + 1}/{cfg.epochs}  "
                       f"val {' '.join(v)}  ({seconds:.1f} s, {steps * B * M / seconds:.0f} "
                       "graphs/s)")
            if broke:
                break
        step.release()


class _StackStep:
    """Gather the models' batches, translate them, forward + backward + Adam (CUDA: the
    gather, translation, forward and backward captured once in a CUDA graph)."""

    def __init__(self, stack: StackedOGN, opt: torch.optim.Optimizer, cfg: TrainConfig,
                 x_all: Tensor, y_all: Tensor, M: int, B: int, n: int, k: int,
                 device: torch.device) -> None:
        self.stack, self.opt, self.cfg = stack, opt, cfg
        self.x_all, self.y_all, self.M, self.B, self.n, self.k = x_all, y_all, M, B, n, k
        self.device = device
        self.acc = torch.zeros(M, device=device, dtype=torch.float64)
        self.idx = torch.zeros((M, B), dtype=torch.long, device=device)
        self.noise = torch.zeros((M, B, 1, k), device=device, dtype=x_all.dtype)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.use_graph = device.type == "cuda" and cfg.cuda_graphs

    def begin_epoch(self) -> None:
        self.acc.zero_()

    def _forward_backward(self) -> None:
        xb = self.x_all[self.idx]  # [M, B, n, F]
        yb = self.y_all[self.idx]
        if self.cfg.augment_std > 0 and self.k > 0:
            xb = torch.cat([torch.add(xb[..., : self.k], self.noise,
                                      alpha=self.cfg.augment_std), xb[..., self.k:]], -1)
        with _autocast(self.device, self.cfg.amp):
            out, penalty = self.stack(xb)
        mae = (out - yb).abs().sum((1, 2, 3)) / self.B
        (mae + penalty).sum().backward()
        self.acc += mae.detach().double()

    def _capture(self) -> None:
        buffers = {k: v.detach().clone() for k, v in self.stack.regs.named_buffers()}
        rng = torch.cuda.get_rng_state(self.device)
        acc = self.acc.clone()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.opt.zero_grad(set_to_none=True)
                self._forward_backward()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.opt.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._forward_backward()
        with torch.no_grad():
            for k, v in self.stack.regs.named_buffers():
                v.copy_(buffers[k])
        torch.cuda.set_rng_state(rng, self.device)
        self.acc.copy_(acc)

    def __call__(self, idx: Tensor, gens: list[torch.Generator]) -> None:
        self.idx.copy_(idx)
        if self.cfg.augment_std > 0 and self.k > 0:
            for j, g in enumerate(gens):
                torch.randn((self.B, 1, self.k), generator=g, out=self.noise[j])
        if self.use_graph:
            if self.graph is None:
                self._capture()
            self.graph.replay()
        else:
            self.opt.zero_grad(set_to_none=True)
            self._forward_backward()
        self.opt.step()

    def release(self) -> None:
        if self.graph is not None:
            torch.cuda.synchronize(self.device)
            self.graph.reset()
            self.graph = None
