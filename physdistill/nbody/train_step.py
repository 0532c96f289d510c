r"""One training step of the graph-network trainer (:class:`~physdistill.nbody.train.Trainer`),
and the process group it runs in under ``torchrun``.

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
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from physdistill.nbody.train_config import TrainConfig

LossFn = Callable[[nn.Module, Tensor, Tensor, Tensor, int], tuple[Tensor, Tensor]]


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


def _all_mean(value: float, device: torch.device) -> float:
    """The mean of ``value`` over the processes of the group (one all-reduce)."""
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()


def _autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``amp`` (``"bf16"``) on ``device``, or a no-op (``"none"``)."""
    # no weight cache: it would be stale inside a replayed CUDA graph
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


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
