r"""Measured :math:`u(x, t)` from a file: ``.npz``, ``.csv`` or MATLAB ``.mat`` (scipy.io).

Two layouts:

* **grid**: ``x (nx,)``, ``t (nt,)`` and ``u (nx, nt)`` (``usol`` is accepted for ``u``, as in
  PDE-FIND's and DeepXDE's files; column vectors ``(n, 1)`` are flattened);
* **scattered** (an incomplete grid, or any point cloud): ``x``, ``t``, ``u`` all ``(n,)``; a
  CSV file is always this, with a header naming the columns ``x, t, u``.

Files are read without pickle (``np.load(allow_pickle=False)``, ``scipy.io.loadmat``,
``np.genfromtxt``). Every problem gets one error naming it: NaN / inf values (count and first
position), ragged or mismatched axes, a missing variable (listing the ones the file has).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physdistill.errors import PhysDistillError

ALIASES = {"x": ("x",), "t": ("t",), "u": ("u", "usol")}


@dataclass(frozen=True)
class MeasuredData:
    """Samples of :math:`u` at points.

    Attributes:
        xt: ``(n, 2)`` points ``(x, t)``; u: ``(n,)`` values.
        grid: ``(x (nx,), t (nt,), u (nx, nt))`` when the data are a full grid, else ``None``.
        source: where they came from (for reports).
    """

    xt: np.ndarray
    u: np.ndarray
    grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    source: str = ""

    @property
    def domain(self) -> tuple[float, float]:
        return float(self.xt[:, 0].min()), float(self.xt[:, 0].max())

    @property
    def time_span(self) -> tuple[float, float]:
        return float(self.xt[:, 1].min()), float(self.xt[:, 1].max())

    def __len__(self) -> int:
        return len(self.u)

    @classmethod
    def from_grid(cls, x: Any, t: Any, u: Any, source: str = "") -> MeasuredData:
        """Validate a grid ``x (nx,)``, ``t (nt,)``, ``u (nx, nt)``."""
        x, t, u = (np.asarray(a, dtype=float) for a in (x, t, u))
        x, t = _vector(x, "x", source), _vector(t, "t", source)
        if u.shape != (len(x), len(t)):
            hint = (" (it looks transposed: store u as (len(x), len(t)))"
                    if u.shape == (len(t), len(x)) else "")
            raise PhysDistillError(f"{source or 'data'}: u has shape {u.shape}, expected "
                                   f"(len(x), len(t)) = ({len(x)}, {len(t)}){hint}")
        for name, a in (("x", x), ("t", t)):
            if len(a) < 2 or not np.all(np.diff(a) > 0):
                raise PhysDistillError(f"{source or 'data'}: the {name} axis must be strictly "
                                       f"increasing with at least 2 values, got {len(a)} values")
        _finite(u, "u", source)
        X, T = np.meshgrid(x, t, indexing="ij")
        return cls(np.stack([X.ravel(), T.ravel()], 1), u.ravel(), (x, t, u), source)

    @classmethod
    def from_points(cls, x: Any, t: Any, u: Any, source: str = "") -> MeasuredData:
        """Validate scattered samples ``x, t, u``, each ``(n,)``."""
        x, t, u = (_vector(np.asarray(a, dtype=float), n, source)
                   for a, n in ((x, "x"), (t, "t"), (u, "u")))
        if not len(x) == len(t) == len(u):
            raise PhysDistillError(f"{source or 'data'}: scattered x, t, u must have the same "
                                   f"length, got {len(x)}, {len(t)}, {len(u)}")
        if len(u) < 10:
            raise PhysDistillError(f"{source or 'data'}: {len(u)} samples are too few (at least "
                                   "10)")
        for a, n in ((x, "x"), (t, "t"), (u, "u")):
            _finite(a, n, source)
        return cls(np.stack([x, t], 1), u, None, source)

    def with_noise(self, level: float, seed: int = 0) -> MeasuredData:
        """Add Gaussian noise of standard deviation ``level * std(u)``."""
        if not level:
            return self
        rng = np.random.default_rng(seed)
        u = self.u + level * float(np.std(self.u)) * rng.standard_normal(self.u.shape)
        grid = None if self.grid is None else (self.grid[0], self.grid[1],
                                               u.reshape(self.grid[2].shape))
        return MeasuredData(self.xt, u, grid, f"{self.source} + {level:g} noise")


def _vector(a: np.ndarray, name: str, source: str) -> np.ndarray:
    if a.ndim == 2 and 1 in a.shape:
        a = a.ravel()
    if a.ndim != 1:
        raise PhysDistillError(f"{source or 'data'}: {name} must be a vector, got shape "
                               f"{a.shape}")
    return a


def _finite(a: np.ndarray, name: str, source: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise PhysDistillError(f"{source or 'data'}: {name} holds {int(bad.sum())} NaN or "
                               f"infinite values (first at index {first}); remove those samples "
                               "(scattered x, t, u columns may leave points out)")


def _pick(store: dict[str, Any], source: str) -> dict[str, np.ndarray]:
    out = {}
    for key, names in ALIASES.items():
        hit = next((n for n in names if n in store), None)
        if hit is None:
            have = sorted(k for k in store if not k.startswith("__"))
            raise PhysDistillError(f"{source}: no variable {' or '.join(names)!s}; expected x, "
                                   f"t and u (or usol); the file has {have}")
        try:
            out[key] = np.asarray(store[hit], dtype=float)
        except (TypeError, ValueError):
            raise PhysDistillError(f"{source}: variable {hit!r} is not numeric") from None
    return out


def load_data(path: str | Path) -> MeasuredData:
    """Read ``path`` (``.npz``, ``.csv`` or ``.mat``; see the module docstring).

    Raises:
        PhysDistillError: unreadable file, unknown suffix, missing variables, NaN, or axes that
            do not match.
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise PhysDistillError(f"data file {src} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                store = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise PhysDistillError(f"{src} is not a readable .npz file ({exc})") from None
    elif suffix == ".mat":
        import scipy.io

        try:
            store = scipy.io.loadmat(path)
        except (OSError, ValueError, NotImplementedError, TypeError) as exc:
            raise PhysDistillError(f"{src} is not a readable .mat file ({exc}); MATLAB v7.3 "
                                   "files need saving with -v7") from None
    elif suffix == ".csv":
        return _load_csv(path)
    else:
        raise PhysDistillError(f"data file {src}: unknown type {suffix!r}; expected .npz, .csv "
                               "or .mat")
    d = _pick(store, src)
    x, t, u = d["x"], d["t"], d["u"]
    if u.ndim == 2 and min(u.shape) > 1:
        return MeasuredData.from_grid(x, t, u, src)
    return MeasuredData.from_points(x, t, u, src)


def _load_csv(path: Path) -> MeasuredData:
    src = str(path)
    text = path.read_text(errors="replace").splitlines()
    if not text:
        raise PhysDistillError(f"{src} is empty; expected a header 'x,t,u' and rows")
    header = [h.strip().lower() for h in text[0].split(",")]
    rows = [line for line in text[1:] if line.strip()]
    widths = {len(line.split(",")) for line in rows}
    if len(widths) > 1 or (widths and widths != {len(header)}):
        bad = next(i for i, line in enumerate(rows, 2) if len(line.split(",")) != len(header))
        raise PhysDistillError(f"{src}: ragged rows (line {bad} has "
                               f"{len(rows[bad - 2].split(','))} fields, the header "
                               f"{len(header)}); every row needs the columns {header}")
    try:
        arr = np.array([[float(v) for v in line.split(",")] for line in rows], dtype=float)
    except ValueError as exc:
        raise PhysDistillError(f"{src}: a value is not a number ({exc})") from None
    store = {h: arr[:, i] for i, h in enumerate(header)} if len(rows) else {h: [] for h in header}
    d = _pick(store, src)
    return MeasuredData.from_points(d["x"], d["t"], d["u"], src)
