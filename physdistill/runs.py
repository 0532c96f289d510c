"""The one run-folder writer, shared by every domain.

A run folder holds what one command produced: ``metrics.json``, ``report.md``, PNG plots, a
checkpoint, and ``run.json`` (stage bookkeeping). Stages are recorded as they finish, with their
wall time, so ``--resume`` can skip finished stages and ``report`` can re-render from the files.

A run folder owns its contents:

- **one writer at a time**: a writer holds ``run.lock`` (an ``flock`` on a file holding its
  pid and host). A second writer is refused with a message naming the holder; the kernel
  releases the lock when its holder dies, so a lock left by a killed process is taken over
  (and said so). The lock is per process: one process may open the same folder twice.
- **``--force`` empties it** (:func:`empty_folder`): every entry is removed, a symbolic link as
  a link (never what it points to). Writes never follow a link out of the folder
  (:meth:`RunFolder.file` refuses paths through one).
- **provenance**: every stage records what it was made from (``made_from``: the hash of the
  run's settings, plus what the domain adds, e.g. the law and the dataset's fingerprint).
  :meth:`RunFolder.check_made_from` refuses a stage whose record differs, naming both sides.

Every file goes through the atomic helpers in :mod:`physdistill._io`, so an interrupted run
leaves each file either in its old complete state or its new complete state.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from physdistill import __version__
from physdistill._io import atomic_write_json, atomic_write_text, read_json
from physdistill.errors import PhysDistillError

RUN_FORMAT = 1
LOCK_NAME = "run.lock"

#: locks this process holds: resolved folder -> [file descriptor, open count]
_HELD: dict[Path, list[int]] = {}


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of a settings dict (canonical JSON, SHA-256, 16 hex digits)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 (16 hex digits) of a file, or of a folder's files (names and contents, sorted;
    hidden files and symbolic links left out)."""
    path = Path(path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and not p.is_symlink()
        and not any(part.startswith(".") for part in p.relative_to(path).parts))
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def empty_folder(path: str | os.PathLike, keep: tuple[str, ...] = (LOCK_NAME,)) -> None:
    """Remove everything inside ``path`` except the names in ``keep``.

    A symbolic link is removed as a link: nothing it points to is touched.
    """
    path = Path(path)
    for entry in path.iterdir():
        if entry.name in keep:
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            shutil.rmtree(entry)


def check_not_inside(folder: str | os.PathLike, path: str | os.PathLike, what: str) -> None:
    """Refuse an input ``path`` that lies inside a run ``folder`` which ``--force`` would
    empty (e.g. ``--data R/data --force --out R``)."""
    folder, path = Path(folder).resolve(), Path(path).resolve()
    if path == folder or folder in path.parents:
        raise PhysDistillError(f"the {what} {path} is inside the run folder {folder}, which "
                               "--force empties first; move it out or choose another --out")


def _acquire_lock(folder: Path) -> None:
    """Take ``folder/run.lock`` for this process (see the module docstring)."""
    import fcntl

    key = folder.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        return
    lock = folder / LOCK_NAME
    if lock.is_symlink():
        raise PhysDistillError(f"{lock} is a symbolic link; a run folder's lock must be a plain "
                               "file: remove the link")
    for _ in range(5):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            raise PhysDistillError(
                f"run folder {folder} is in use by {holder} (lock {lock}); wait for it to "
                "finish or stop it, or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed the file while we opened it: retry
            os.close(fd)
            continue
        old = os.read(fd, 4096).decode("utf-8", "replace").strip()
        if old:
            print(f"note: took over {lock}, left by {old}, which no longer holds it",
                  file=sys.stderr)
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        os.fsync(fd)
        _HELD[key] = [fd, 1]
        return
    raise PhysDistillError(f"could not take the lock {lock}: it keeps changing; another "
                           "process is starting in the same folder")


def _release_lock(folder: Path) -> None:
    key = folder.resolve()
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] > 0:
        return
    del _HELD[key]
    with contextlib.suppress(FileNotFoundError):
        (folder / LOCK_NAME).unlink()
    os.close(held[0])


@atexit.register
def _release_all() -> None:
    for key in list(_HELD):
        _HELD[key][1] = 1
        _release_lock(key)


def _is_empty(path: Path) -> bool:
    return not any(e.name != LOCK_NAME for e in path.iterdir())


class RunFolder:
    """A run's output folder, locked for this process while it is open.

    Args:
        path: the folder.
        kind: what wrote it (``"nbody"``, ``"heat"``); a resumed or re-rendered folder must match.
        force: empty an existing folder first (:func:`empty_folder`).
        resume: continue an existing folder, skipping stages already marked done.
        config: the run's settings; a resumed run must have the same, and every stage records
            their hash.

    Attributes:
        inputs: what every stage of the run is made from beyond the settings (the domain sets
            it, e.g. the n-body law and dataset fingerprint); recorded by :meth:`stage` and
            compared by :meth:`check_made_from`.

    Call :meth:`close` (or use the folder as a context manager) when the command ends: it
    releases the lock and, when the command was refused on bad input before any stage
    finished, removes what it wrote, so the corrected command needs no ``--force``.
    """

    def __init__(self, path: str | os.PathLike, kind: str, *, force: bool = False,
                 resume: bool = False, config: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        meta_path = self.path / "run.json"
        existed = self.path.exists()
        if existed and not self.path.is_dir():
            raise PhysDistillError(f"run folder {self.path} is a file; choose another --out")
        if existed and not _is_empty(self.path):
            if not resume and not force:
                raise PhysDistillError(f"run folder {self.path} already exists; pass --resume to "
                                       "continue it or --force to overwrite it")
        elif resume:
            raise PhysDistillError(f"cannot resume: {self.path} does not exist or is empty")
        self.path.mkdir(parents=True, exist_ok=True)
        _acquire_lock(self.path)
        self._open = True
        self._fresh = False
        self.inputs: dict[str, Any] = {}
        try:
            if resume:
                self.meta = self._load_meta(meta_path)
                if self.meta.get("kind") != kind:
                    raise PhysDistillError(f"cannot resume {self.path}: it is a "
                                           f"{self.meta.get('kind')!r} run, not a {kind!r} run")
                old = self.meta.get("config", {})
                if config is not None and old != config:
                    changed = sorted(k for k in set(config) | set(old)
                                     if config.get(k) != old.get(k))
                    raise PhysDistillError(
                        f"cannot resume {self.path}: its settings differ in {changed}; "
                        "rerun with the original settings or use --force to start over")
                return
            if force:
                empty_folder(self.path)
            self._fresh = True
            self._created = not existed
            self.meta = {"format": RUN_FORMAT, "kind": kind, "version": __version__,
                         "config": config or {}, "stages": {}}
            self._save_meta()
        except BaseException as exc:
            self.close(exc)
            raise

    @classmethod
    def open(cls, path: str | os.PathLike, kind: str | None = None, *,
             lock: bool = False) -> RunFolder:
        """Open an existing run (for ``report``); ``lock=True`` takes its lock (to write)."""
        self = cls.__new__(cls)
        self.path = Path(path)
        self._open, self._fresh = False, False
        self.inputs = {}
        self.meta = cls._load_meta(self.path / "run.json")
        self.kind = self.meta.get("kind", "")
        if kind is not None and self.kind != kind:
            raise PhysDistillError(f"{self.path} is a {self.kind!r} run, expected a {kind!r} run")
        if lock:
            _acquire_lock(self.path)
            self._open = True
        return self

    def close(self, error: BaseException | None = None) -> None:
        """Release the lock. A fresh run refused on bad input (``error`` is a
        :class:`PhysDistillError`) before any stage finished is removed (its folder too, if
        this object created it), so the corrected command needs no ``--force``. Interrupted or
        crashed runs keep their files for ``--resume``."""
        if not getattr(self, "_open", False):
            return
        discard = (self._fresh and isinstance(error, PhysDistillError)
                   and not getattr(self, "meta", {}).get("stages"))
        if discard and self.path.is_dir():
            empty_folder(self.path)
        _release_lock(self.path)
        self._open = False
        if discard and getattr(self, "_created", False):
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(exc)

    @staticmethod
    def _load_meta(meta_path: Path) -> dict[str, Any]:
        meta = read_json(meta_path, "run metadata")
        if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT \
                or not isinstance(meta.get("stages"), dict):
            raise PhysDistillError(f"{meta_path} is not a physdistill run (format "
                                   f"{meta.get('format') if isinstance(meta, dict) else '?'}, "
                                   f"expected {RUN_FORMAT})")
        return meta

    def _save_meta(self) -> None:
        atomic_write_json(self.path / "run.json", self.meta)

    # -- stages -------------------------------------------------------------------------------
    @property
    def config_hash(self) -> str:
        return config_hash(self.meta.get("config", {}))

    def done(self, stage: str) -> bool:
        return stage in self.meta["stages"]

    @contextlib.contextmanager
    def stage(self, name: str, made_from: Mapping[str, Any] | None = None
              ) -> Iterator[dict[str, Any]]:
        """Time a stage; on success record it with what it was made from (the settings' hash,
        :attr:`inputs` as they are when the block ends, and ``made_from``) and whatever the
        block put in the dict."""
        info: dict[str, Any] = {}
        started = self.meta.setdefault("started", {})
        started[name] = {"config": self.config_hash, **self.inputs, **(made_from or {})}
        self._save_meta()  # an interrupted stage's inputs are checked on --resume too
        start = time.perf_counter()
        yield info
        info["seconds"] = round(time.perf_counter() - start, 3)
        info["made_from"] = {"config": self.config_hash, **self.inputs, **(made_from or {})}
        self.meta["stages"][name] = info
        started.pop(name, None)
        self._save_meta()

    def made_from(self, stage: str) -> dict[str, Any] | None:
        """What a finished (or started and interrupted) stage was made from (``None``: not
        started, or recorded before provenance existed)."""
        rec = self.meta["stages"].get(stage)
        if rec is None:
            return self.meta.get("started", {}).get(stage)
        return rec.get("made_from") if isinstance(rec, dict) else None

    def check_made_from(self, stage: str, expected: Mapping[str, Any] | None = None) -> None:
        """Refuse a finished stage whose record differs from ``expected`` (default
        :attr:`inputs`; the settings' hash is always compared) in any key both name; the
        message names both sides."""
        rec = self.made_from(stage)
        if rec is None:
            return
        want = {"config": self.config_hash, **(self.inputs if expected is None else expected)}
        diff = sorted(k for k in want if k in rec and rec[k] != want[k])
        if diff:
            sides = "; ".join(f"{k}: recorded {rec[k]!r}, this run {want[k]!r}" for k in diff)
            raise PhysDistillError(
                f"{self.path}: stage {stage!r} was made from other inputs ({sides}); the folder "
                "holds results of another run: start over with --force or choose another --out")

    def check_stages(self, stages: tuple[str, ...] | None = None) -> None:
        """:meth:`check_made_from` for every finished or interrupted stage (or those of
        ``stages``)."""
        names = [*self.meta["stages"], *self.meta.get("started", {})]
        for name in (names if stages is None else stages):
            self.check_made_from(name)

    def require(self, *stages: str, fix: str = "") -> None:
        """Refuse unless every one of ``stages`` has finished (e.g. before a report)."""
        missing = [s for s in stages if not self.done(s)]
        if missing:
            done = ", ".join(self.meta["stages"]) or "none"
            raise PhysDistillError(f"{self.path} has not finished the stages {missing} "
                                   f"(finished: {done}); {fix or 'resume the run with --resume'}")

    @property
    def timings(self) -> dict[str, float]:
        return {k: v.get("seconds", 0.0) for k, v in self.meta["stages"].items()}

    # -- files --------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """``path / name``, refusing a name that leaves the folder or passes through a link."""
        p = self.path / name
        cur = self.path
        for part in Path(name).parts:
            if part in ("..", "/") or Path(part).is_absolute():
                raise PhysDistillError(f"run file name {name!r} leaves the run folder")
            cur = cur / part
            if cur.is_symlink():
                raise PhysDistillError(
                    f"{cur} is a symbolic link (to {os.readlink(cur)}); a run writes only inside "
                    "its folder: remove the link, or start over with --force")
        return p

    def write_json(self, name: str, obj: Any) -> Path:
        atomic_write_json(self.file(name), obj)
        return self.path / name

    def read_json(self, name: str) -> Any:
        return read_json(self.path / name, f"run file {name}")

    def write_text(self, name: str, text: str) -> Path:
        atomic_write_text(self.file(name), text)
        return self.path / name
