"""Device names from the command line and configs, checked once for every domain."""

from __future__ import annotations

import torch

from physdistill.errors import PhysDistillError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; checks that a CUDA device exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise PhysDistillError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise PhysDistillError(f"device {name!r} is not supported; use auto, cpu or cuda[:N]")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise PhysDistillError(f"device {name!r} asked for but CUDA is not available here; use "
                               "--device cpu (or auto)")
    return dev
