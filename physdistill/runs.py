"""The one run-folder writer, shared by every domain.

A run folder holds what one command produced: ``metrics.json``, ``report.md``, PNG plots, a
checkpoint, and ``run.json`` (stage bookkeeping). Stages are recorded as they finish, with their
wall time, so ``--resume`` can skip finished stages and ``report`` can re-render from the files.

Every file goes through the atomic helpers in :mod:`physdistill._io`, so an interrupted run
leaves each file either in its old complete state or its new complete state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from physdistill import __version__
from physdistill._io import atomic_write_json, atomic_write_text, read_json
from physdistill.errors import PhysDistillError

RUN_FORMAT = 1


class RunFolder:
    """A run's output folder.

    Args:
        path: the folder.
        kind: what wrote it (``"nbody"``, ``"heat"``); a resumed or re-rendered folder must match.
        force: replace an existing folder's contents (its files are overwritten as stages run).
        resume: continue an existing folder, skipping stages already marked done.
    """

    def __init__(self, path: str | Path, kind: str, *, force: bool = False,
                 resume: bool = False, config: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        meta_path = self.path / "run.json"
        if self.path.exists() and any(self.path.iterdir()):
            if resume:
                self.meta = self._load_meta(meta_path)
                if config is not None and self.meta.get("config") != config:
                    changed = sorted(k for k in set(config) | set(self.meta.get("config", {}))
                                     if config.get(k) != self.meta.get("config", {}).get(k))
                    raise PhysDistillError(
                        f"cannot resume {self.path}: its settings differ in {changed}; "
                        "rerun with the original settings or use --force to start over")
                return
            if not force:
                raise PhysDistillError(f"run folder {self.path} already exists; pass --resume to "
                                       "continue it or --force to overwrite it")
        elif resume:
            raise PhysDistillError(f"cannot resume: {self.path} does not exist or is empty")
        self.path.mkdir(parents=True, exist_ok=True)
        self.meta = {"format": RUN_FORMAT, "kind": kind, "version": __version__,
                     "config": config or {}, "stages": {}}
        self._save_meta()

    @classmethod
    def open(cls, path: str | Path, kind: str | None = None) -> RunFolder:
        """Open an existing run read-only-ish (for ``report``)."""
        self = cls.__new__(cls)
        self.path = Path(path)
        self.meta = cls._load_meta(self.path / "run.json")
        self.kind = self.meta.get("kind", "")
        if kind is not None and self.kind != kind:
            raise PhysDistillError(f"{self.path} is a {self.kind!r} run, expected a {kind!r} run")
        return self

    @staticmethod
    def _load_meta(meta_path: Path) -> dict[str, Any]:
        meta = read_json(meta_path, "run metadata")
        if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
            raise PhysDistillError(f"{meta_path} is not a physdistill run (format "
                                   f"{meta.get('format') if isinstance(meta, dict) else '?'}, "
                                   f"expected {RUN_FORMAT})")
        return meta

    def _save_meta(self) -> None:
        atomic_write_json(self.path / "run.json", self.meta)

    # -- stages -------------------------------------------------------------------------------
    def done(self, stage: str) -> bool:
        return stage in self.meta["stages"]

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage; on success record it (with whatever the block put in the dict)."""
        info: dict[str, Any] = {}
        start = time.perf_counter()
        yield info
        info["seconds"] = round(time.perf_counter() - start, 3)
        self.meta["stages"][name] = info
        self._save_meta()

    @property
    def timings(self) -> dict[str, float]:
        return {k: v.get("seconds", 0.0) for k, v in self.meta["stages"].items()}

    # -- files --------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        atomic_write_json(self.path / name, obj)
        return self.path / name

    def read_json(self, name: str) -> Any:
        return read_json(self.path / name, f"run file {name}")

    def write_text(self, name: str, text: str) -> Path:
        atomic_write_text(self.path / name, text)
        return self.path / name
