"""Settings of the graph-network trainer (:class:`~physdistill.nbody.train.Trainer`), validated
in one place (:meth:`TrainConfig.validate`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from physdistill.configs import JSONConfig
from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError

AMP_MODES = ("none", "bf16")


@dataclass(frozen=True)
class TrainConfig(JSONConfig):
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

    config_name: ClassVar[str] = "training config"

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

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        """The settings stored by :meth:`to_dict` (keys checked), validated."""
        return super().from_dict(data).validate()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_int(name: str, v: Any, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise PhysDistillError(f"TrainConfig.{name} must be an integer >= {low}, got {v!r}")
