"""Checkpoints for every trainer: tensors in safetensors, settings and history in JSON.

A checkpoint folder holds

* ``checkpoint.safetensors``: a nested state (model, optimizer, scheduler, step counters, ...),
  written by :func:`physdistill._io.save_state` (no pickle);
* ``checkpoint.json``: the run's settings (``meta``), used to refuse a resume with other
  settings, plus any scalar fields the caller adds;
* optional side files (e.g. ``history.json``), each JSON.

Every file is written atomically, the settings last, so an interrupted save leaves the previous
checkpoint's settings pointing at a complete weights file or at the new one. Domain-free: the
GNN trainer (:mod:`physdistill.nbody.train`) and the PINN trainer (:mod:`physdistill.pde.train`)
both call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from physdistill._io import atomic_write_json, load_state, read_json, save_state
from physdistill.errors import PhysDistillError

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"


def save_checkpoint(out: str | Path, meta: Mapping[str, Any], state: Mapping[str, Any],
                    side_files: Mapping[str, Any] | None = None) -> Path:
    """Write ``state`` (safetensors), ``meta`` (JSON) and ``side_files`` into folder ``out``.

    Args:
        out: the folder (created if needed).
        meta: JSON-serialisable settings; compared by :func:`load_checkpoint` on resume.
        state: nested dict of tensors / numbers / lists (see :func:`~physdistill._io.save_state`).
        side_files: ``{file name: JSON object}`` written next to the checkpoint.

    Returns:
        The path of ``checkpoint.safetensors``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_state(out / CHECKPOINT, state)
    atomic_write_json(out / CHECKPOINT_META, dict(meta))
    for name, obj in (side_files or {}).items():
        atomic_write_json(out / name, obj)
    return out / CHECKPOINT


def read_checkpoint_meta(out: str | Path) -> dict[str, Any]:
    """The settings of the checkpoint in ``out`` (``checkpoint.json``).

    Raises:
        PhysDistillError: the file is missing, corrupt or not a JSON object.
    """
    path = Path(out) / CHECKPOINT_META
    saved = read_json(path, "checkpoint settings")
    if not isinstance(saved, dict):
        raise PhysDistillError(f"{path} is not a checkpoint description (expected a JSON "
                               f"object, got {type(saved).__name__})")
    return saved


def load_checkpoint(out: str | Path, meta: Mapping[str, Any] | None = None,
                    required: Iterable[str] = (), device: str = "cpu") -> dict[str, Any]:
    """Load the state saved by :func:`save_checkpoint` in folder ``out``.

    Args:
        out: the folder.
        meta: if given, every key must equal the saved setting (a resume with other
            settings is refused, naming each difference).
        required: keys the state must hold.
        device: where the tensors go.

    Raises:
        PhysDistillError: missing or corrupt files, differing settings, or missing keys.
    """
    out = Path(out)
    saved = read_checkpoint_meta(out)
    if meta is not None:
        diff = sorted(key for key in meta if saved.get(key) != meta[key])
        if diff:
            details = "; ".join(f"{key}: checkpoint {saved.get(key)!r}, now {meta[key]!r}"
                                for key in diff)
            raise PhysDistillError(f"cannot resume from {out}: settings differ ({details}); "
                                   "rerun with the original settings, or start over without "
                                   "--resume")
    state = load_state(out / CHECKPOINT, device=device)
    missing = [k for k in required if k not in state]
    if missing:
        raise PhysDistillError(f"checkpoint {out / CHECKPOINT} lacks {missing}; it was not "
                               "written by this trainer")
    return state
