"""Settings of one ``physdistill nbody`` run (:class:`NBodyConfig`) and its presets.

Presets: ``quick`` is sized for a 2-core laptop CPU (<= 10 minutes per law); ``full`` follows the
published recipe (10,000 systems, 3 x 300 MLPs, batch 64, 30 epochs of up to 5,000 steps) and is
meant for a GPU. Any preset value can be overridden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from physdistill.configs import JSONConfig
from physdistill.errors import PhysDistillError

PRESETS: dict[str, dict[str, Any]] = {
    # sized so that each of spring, r1, r2, charge runs in <= 10 min on a 2-core CPU
    "quick": {"sims": 2000, "steps": 500, "epochs": 20, "hidden": 128, "batch": 64,
              "lr": 3e-3, "steps_per_epoch": None, "sr_seconds": 120.0, "sr_samples": 2000,
              "sr_restarts": 4},
    # Cranmer et al. 2020 (reference.md §1); for GPUs
    "full": {"sims": 10_000, "steps": 500, "epochs": 30, "hidden": 300, "batch": 64,
             "lr": 1e-3, "steps_per_epoch": 5000, "sr_seconds": 240.0, "sr_samples": 5000,
             "sr_restarts": 4},
}


@dataclass(frozen=True)
class NBodyConfig(JSONConfig):
    """Settings of one ``physdistill nbody`` run. ``None`` fields take the preset's value.

    Args:
        law: built-in law name, or ``None`` with ``potential``.
        potential: a user pair potential in ``r, m1, m2, q1, q2``.
        reg: OGN variant (``standard``, ``bottleneck``, ``l1``, ``kl``, ``pruning``).
        preset: ``quick`` (2-core CPU) or ``full`` (published recipe).
        n, dim: particles per system and spatial dimension.
        sims, steps: simulated systems and integration steps (every 5th state kept).
        epochs, hidden, batch, lr, steps_per_epoch: training (see
            :class:`~physdistill.nbody.train.TrainConfig`).
        sr_seconds: time budget of each channel's symbolic regression.
        sr_samples: recorded edges given to each regression.
        sr_restarts: independent searches per channel, pooled into one front
            (:attr:`~physdistill.symbolic.SRConfig.restarts`); each gets ``sr_seconds /
            sr_restarts`` and :data:`~physdistill.nbody.distill.SR_EVALUATIONS` evaluations,
            whichever ends first.
        rollout_systems: systems per rollout set (held-out and out-of-distribution).
        seed: seed of everything.
        device: ``auto``, ``cpu`` or ``cuda``.
        tf32: TF32 matrix products in training on CUDA (about 1.5x the graphs/s on an H200;
            ignored on the CPU). Off by default: the published recipe's losses were measured
            in float32.
        data: an existing dataset folder to use instead of simulating.
        model: a trained checkpoint folder (``physdistill train``'s output) to analyse instead
            of training.
    """

    law: str | None = "r2"
    potential: str | None = None
    reg: str = "bottleneck"
    preset: str = "quick"
    n: int = 4
    dim: int = 2
    sims: int | None = None
    steps: int | None = None
    epochs: int | None = None
    hidden: int | None = None
    batch: int | None = None
    lr: float | None = None
    steps_per_epoch: int | None = None
    sr_seconds: float | None = None
    sr_samples: int | None = None
    sr_restarts: int | None = None
    rollout_systems: int = 32
    seed: int = 0
    device: str = "auto"
    tf32: bool = False
    data: str | None = None
    model: str | None = None

    config_name: ClassVar[str] = "n-body run config"

    def resolved(self) -> NBodyConfig:
        """A copy with the preset's values filled in, checked."""
        if self.preset not in PRESETS:
            raise PhysDistillError(f"unknown preset {self.preset!r}; choose one of "
                                   f"{sorted(PRESETS)}")
        if (self.law is None) == (self.potential is None):
            raise PhysDistillError("give either a law name or a potential, not both or neither")
        from physdistill.nbody.model import VARIANTS

        if self.reg not in VARIANTS:
            raise PhysDistillError(f"unknown regulariser {self.reg!r}; choose one of "
                                   f"{', '.join(VARIANTS)}")
        fill = {k: v for k, v in PRESETS[self.preset].items() if getattr(self, k) is None}
        cfg = replace(self, **fill)
        for name in ("n", "dim", "sims", "steps", "epochs", "hidden", "batch", "sr_samples",
                     "sr_restarts", "rollout_systems"):
            v = getattr(cfg, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"{name} must be a positive integer, got {v!r}")
        if cfg.n < 2 or cfg.dim not in (2, 3):
            raise PhysDistillError(f"need n >= 2 and dim 2 or 3, got n={cfg.n}, dim={cfg.dim}")
        for name in ("lr", "sr_seconds"):
            v = getattr(cfg, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise PhysDistillError(f"{name} must be a positive number, got {v!r}")
        if cfg.data is None and cfg.sims - round(0.8 * cfg.sims) - round(0.1 * cfg.sims) < 1:
            raise PhysDistillError(f"sims={cfg.sims} leaves no test systems in the 80/10/10 "
                                   "split, and the distillation reads messages on test "
                                   "graphs; use --sims 3 or more")
        return cfg


def _law(cfg: NBodyConfig):
    """The run's :class:`~physdistill.nbody.laws.ForceLaw` (a built-in law or the potential)."""
    from physdistill.nbody.laws import get_law

    return get_law(cfg.law, potential=cfg.potential)


def _log(progress: bool, text: str) -> None:
    """Print one stage's progress line, flushed at once, when the run reports progress."""
    if progress:
        print(text, flush=True)

