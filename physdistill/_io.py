"""Atomic file writing and pickle-free state storage (safetensors + JSON).

Every file the package writes goes through these helpers, so a crash mid-write never leaves a
half-written file that later loads: data goes to a temporary file in the same folder, is flushed
and fsynced, then renamed over the target (``os.replace`` is atomic on POSIX and Windows).
Folders (datasets, runs) are built under a temporary name and renamed into place the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from physdistill.errors import PhysDistillError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # name the file (disk full)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    # numpy / torch scalars and arrays, Paths
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in JSON")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically. NaN/inf are written as null-free strings."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON file, turning a missing or corrupt file into one clear error."""
    path = Path(path)
    if not path.is_file():
        raise PhysDistillError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PhysDistillError(f"{what} {path} is not valid JSON ({exc}); the file is corrupt "
                               "or not one of ours") from None
    except RecursionError:
        raise PhysDistillError(f"{what} {path} is nested too deeply to read; the file is "
                               "corrupt or not one of ours") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PARTIAL = re.compile(r"^(?:(\d+)\.)?[a-z0-9_]{8}\.partial$")
_OLD = re.compile(r"^old\.(\d+)$")


def recover_interrupted(path: str | os.PathLike) -> list[str]:
    """Clean up after an :func:`atomic_dir` write to ``path`` that was killed; say what was done.

    A killed write leaves ``.NAME.PID.XXXXXXXX.partial`` (an unfinished new folder: removed) or,
    when it died between its two renames, ``.NAME.old.PID`` (the previous folder: put back if
    ``path`` is missing, else removed). Leftovers of a process that is still running are left
    alone. Each action is printed to stderr and returned.
    """
    path = Path(path)
    parent, prefix = path.parent, f".{path.name}."
    done: list[str] = []
    if not parent.is_dir():
        return done
    for entry in sorted(parent.iterdir()):
        if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_dir():
            continue
        rest = entry.name[len(prefix):]
        partial, old = _PARTIAL.match(rest), _OLD.match(rest)
        pid_text = partial.group(1) if partial else old.group(1) if old else None
        if not (partial or old) or pid_text is not None and int(pid_text) != os.getpid() \
                and _pid_alive(int(pid_text)):
            continue
        if partial:
            shutil.rmtree(entry, ignore_errors=True)
            done.append(f"removed {entry}, the unfinished output of an interrupted write")
        elif path.exists():
            shutil.rmtree(entry, ignore_errors=True)
            done.append(f"removed {entry}, the previous {path.name} that an interrupted "
                        "--force had already replaced")
        else:
            os.replace(entry, path)
            done.append(f"restored {path} from {entry}, which an interrupted --force left")
    for line in done:
        print(f"note: {line}", file=sys.stderr)
    return done


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name; rename it to ``path`` only if the block succeeds.

    Yields the temporary folder to write into. If ``path`` exists it is replaced only when
    ``overwrite`` is true (the old folder is removed after the new one is in place); otherwise a
    :class:`PhysDistillError` is raised before anything is written. Leftovers of an earlier,
    killed write to ``path`` are cleaned up or restored first (:func:`recover_interrupted`).
    """
    path = Path(path)
    recover_interrupted(path)
    if path.exists() and not overwrite:
        raise PhysDistillError(f"{path} already exists; choose another --out or pass --force "
                               "to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".partial",
                                dir=path.parent))
    os.chmod(tmp, 0o755)
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------
# nested state dicts (model, optimizer, scheduler) <-> safetensors + JSON, no pickle


def _flatten(obj: Any, prefix: str, tensors: dict[str, Any]) -> Any:
    """Replace every tensor in a nested structure by a reference into ``tensors``."""
    import torch

    if isinstance(obj, torch.Tensor):
        key = prefix or "_"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, Mapping):
        return {"__dict__": [[_key_to_json(k), _flatten(v, f"{prefix}.{k}" if prefix else str(k),
                                                        tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix!r} in a checkpoint")


def _key_to_json(k: Any) -> Any:
    if isinstance(k, (str, int)):
        return k
    raise TypeError(f"checkpoint dict keys must be str or int, got {type(k).__name__}")


def _unflatten(obj: Any, tensors: Mapping[str, Any]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            key = obj["__tensor__"]
            if key not in tensors:
                raise PhysDistillError(f"checkpoint is corrupt: tensor {key!r} is missing")
            return tensors[key]
        if "__dict__" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        raise PhysDistillError("checkpoint is corrupt: unknown entry in its structure")
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Save a nested state (tensors, dicts, lists, numbers, strings) as ``path`` (safetensors).

    The tensors go into the safetensors body; the structure goes into its JSON metadata, so one
    file holds everything and loading it runs no code.
    """
    from safetensors.torch import save

    tensors: dict[str, Any] = {}
    structure = _flatten(dict(state), "", tensors)
    data = save(tensors, metadata={"physdistill_structure": json.dumps(structure)})
    atomic_write_bytes(path, data)


def load_state(path: str | os.PathLike, device: str = "cpu") -> dict[str, Any]:
    """Load what :func:`save_state` wrote. Corrupt or foreign files raise PhysDistillError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise PhysDistillError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device=device) as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise PhysDistillError(f"{path} is not a readable safetensors checkpoint ({exc})") from None
    if "physdistill_structure" not in meta:
        raise PhysDistillError(f"{path} is a safetensors file but not a physdistill checkpoint")
    try:
        structure = json.loads(meta["physdistill_structure"])
    except (json.JSONDecodeError, RecursionError):
        raise PhysDistillError(f"checkpoint {path} has corrupt metadata") from None
    try:
        return _unflatten(structure, tensors)
    except RecursionError:
        raise PhysDistillError(f"checkpoint {path} has corrupt metadata (nested too deeply)"
                               ) from None
