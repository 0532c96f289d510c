"""n-body datasets on disk, and the path from a dataset to GNN batches.

A dataset is a folder:

- ``data.safetensors``: ``pos, vel, acc [S, T, n, dim]`` (float32), ``mass, charge [S, n]``,
  ``split [S]`` (0 train, 1 val, 2 test), ``times [T]``, ``drift [S]``;
- ``meta.json``: law, potential, eps, n, dim, dt, steps, seed, split fractions, simulator stats
  (refined and dropped systems, energy drift), package and format versions.

It is written into a temporary folder and renamed into place, so a crash never leaves a folder
that loads. :func:`load_dataset` checks files, format version, the law entry, shapes, dtypes, finiteness and
positive masses, so a foreign or damaged dataset is refused with one clear error.

Graphs: each stored state is one fully connected directed graph with node features
``[pos, vel, q, m]`` (``2 dim + 2``) and targets ``acc``. :class:`GraphBatches` serves them as
dense batches: node features flattened to ``[B n, F]`` with a cached ``edge_index`` in PyG's
``source_to_target`` layout, which any ``MessagePassing`` layer accepts; :meth:`NBodyDataset.to_pyg`
builds ``torch_geometric.data.Data`` objects for code that wants them.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from physdistill import __version__
from physdistill._io import atomic_dir, atomic_write_json, read_json, recover_interrupted
from physdistill.errors import PhysDistillError
from physdistill.graphs import repeat_edges
from physdistill.nbody.laws import ForceLaw
from physdistill.nbody.simulate import SimConfig, simulate

FORMAT_VERSION = 1
SPLITS = {"train": 0, "val": 1, "test": 2}
_ARRAYS = ("pos", "vel", "acc", "mass", "charge", "split", "times", "drift")
#: the dtype of each array (``None``: any integer type)
_DTYPES = {**{k: torch.float32 for k in _ARRAYS if k != "split"}, "split": None}
_LAW_KEYS = {"name": str, "potential": str, "dt": (int, float), "eps": (int, float),
             "charged": bool}


def make_dataset(law: ForceLaw, cfg: SimConfig, out: str | Path, *, split=(0.8, 0.1, 0.1),
                 force: bool = False, progress: bool = True) -> Path:
    """Simulate and write a dataset folder atomically. Returns its path."""
    from safetensors.torch import save_file

    if len(split) != 3 or any(f < 0 for f in split) or abs(sum(split) - 1) > 1e-9:
        raise PhysDistillError(f"split must be three fractions that sum to 1, got {split!r}")
    out = Path(out)
    recover_interrupted(out)  # a killed earlier --force: its .partial/.old folders
    if out.exists() and not force:  # fail before the (long) simulation
        raise PhysDistillError(f"{out} already exists; choose another --out or pass --force")
    start = time.perf_counter()
    res = simulate(law, cfg, progress=progress)
    seconds = time.perf_counter() - start
    S = res.pos.shape[0]
    # split by system: a seeded permutation, so no trajectory is in two splits
    perm = torch.randperm(S, generator=torch.Generator().manual_seed(cfg.seed + 1))
    n_train, n_val = int(round(split[0] * S)), int(round(split[1] * S))
    labels = torch.full((S,), 2, dtype=torch.int8)
    labels[perm[:n_train]] = 0
    labels[perm[n_train:n_train + n_val]] = 1
    arrays = {
        "pos": res.pos.float().cpu(), "vel": res.vel.float().cpu(), "acc": res.acc.float().cpu(),
        "mass": res.mass.float().cpu(), "charge": res.charge.float().cpu(), "split": labels,
        "times": res.times.float().cpu(), "drift": res.drift.float().cpu(),
    }
    arrays = {k: v.contiguous() for k, v in arrays.items()}
    meta = {
        "format": "physdistill-nbody", "format_version": FORMAT_VERSION,
        "version": __version__, "law": law.to_dict(), "n": cfg.n, "dim": cfg.dim,
        "dt": res.stats["dt"], "steps": cfg.steps, "keep_every": cfg.keep_every,
        "seed": cfg.seed, "sims": cfg.sims, "split": {"fractions": list(split),
                                                      "counts": {k: int((labels == v).sum())
                                                                 for k, v in SPLITS.items()}},
        "simulator": {k: v for k, v in res.stats.items() if k != "config"},
        "config": res.stats["config"], "seconds": round(seconds, 2),
    }
    with atomic_dir(out, overwrite=force) as tmp:
        try:
            save_file(arrays, str(tmp / "data.safetensors"))
        except Exception as exc:  # safetensors' own error type; a full disk is os error 28
            if "os error 28" in str(exc):
                raise OSError(errno.ENOSPC, "No space left on device",
                              str(out / "data.safetensors")) from exc
            raise
        atomic_write_json(tmp / "meta.json", meta)
    return out


@dataclass
class NBodyDataset:
    """A loaded dataset. Arrays are CPU tensors; see the module docstring for shapes."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, torch.Tensor]

    @property
    def n(self) -> int:
        return int(self.meta["n"])

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def law(self) -> ForceLaw:
        from physdistill.nbody.laws import get_law

        info = self.meta["law"]
        if info["name"] == "custom":
            return get_law(potential=info["potential"], dt=info["dt"], eps=info["eps"],
                           charged=info["charged"])
        return get_law(info["name"], dt=info["dt"], eps=info["eps"])

    def graphs(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """All states of one split as graphs: ``x [G, n, 2 dim + 2]``, ``y [G, n, dim]``.

        Node features are ``[pos, vel, q, m]`` as in the reference; ``G = systems x T``.
        """
        if split not in SPLITS:
            raise PhysDistillError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        a = self.arrays
        sel = a["split"] == SPLITS[split]
        pos, vel, acc = a["pos"][sel], a["vel"][sel], a["acc"][sel]
        S, T = pos.shape[:2]
        q = a["charge"][sel][:, None, :, None].expand(S, T, self.n, 1)
        m = a["mass"][sel][:, None, :, None].expand(S, T, self.n, 1)
        # explicit feature count: an empty split (a tiny dataset's val) gives [0, n, F]
        x = torch.cat([pos, vel, q, m], dim=-1).reshape(S * T, self.n, 2 * self.dim + 2)
        return x, acc.reshape(S * T, self.n, self.dim)

    def to_pyg(self, split: str = "train", limit: int | None = None) -> list[Any]:
        """The split as a list of ``torch_geometric.data.Data`` (fully connected, directed)."""
        from torch_geometric.data import Data

        x, y = self.graphs(split)
        if limit is not None:
            x, y = x[:limit], y[:limit]
        ei = fully_connected(self.n)
        return [Data(x=xi, y=yi, edge_index=ei) for xi, yi in zip(x, y, strict=True)]


def load_dataset(path: str | Path) -> NBodyDataset:
    """Load and check a dataset folder written by :func:`make_dataset`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_dir():
        raise PhysDistillError(f"dataset folder not found: {path}; make one with "
                               "'physdistill simulate LAW --out PATH'")
    meta = read_json(path / "meta.json", "dataset metadata")
    if not isinstance(meta, dict) or meta.get("format") != "physdistill-nbody":
        raise PhysDistillError(f"{path} is not a physdistill n-body dataset (meta.json has no "
                               "'format': 'physdistill-nbody')")
    if meta.get("format_version") != FORMAT_VERSION:
        raise PhysDistillError(f"{path} has dataset format version {meta.get('format_version')!r}"
                               f"; this physdistill reads version {FORMAT_VERSION}. Regenerate it "
                               "with 'physdistill simulate'")
    data_file = path / "data.safetensors"
    if not data_file.is_file():
        raise PhysDistillError(f"dataset {path} is missing data.safetensors")
    try:
        with safe_open(str(data_file), framework="pt") as fh:
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:
        raise PhysDistillError(f"{data_file} is not a readable safetensors file ({exc})") from None
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise PhysDistillError(f"dataset {path} is missing arrays {missing}")
    try:
        n, dim = int(meta["n"]), int(meta["dim"])
    except (KeyError, TypeError, ValueError):
        raise PhysDistillError(f"{path}/meta.json lacks valid 'n' and 'dim'") from None
    _check_law_meta(path, meta.get("law"))
    for k, want in _DTYPES.items():
        got = arrays[k].dtype
        ok = got == want if want is not None else not (
            got.is_floating_point or got.is_complex or got == torch.bool)
        if not ok:
            expected = "an integer type" if want is None else _dtype_name(want)
            raise PhysDistillError(f"dataset {path}: array {k!r} is {_dtype_name(got)}, "
                                   f"expected {expected}; regenerate it with 'physdistill "
                                   "simulate' (or convert the array)")
    S, T = arrays["pos"].shape[:2] if arrays["pos"].dim() == 4 else (-1, -1)
    expected = {"pos": (S, T, n, dim), "vel": (S, T, n, dim), "acc": (S, T, n, dim),
                "mass": (S, n), "charge": (S, n), "split": (S,), "times": (T,), "drift": (S,)}
    for k, shape in expected.items():
        if S < 0 or tuple(arrays[k].shape) != shape:
            raise PhysDistillError(f"dataset {path}: array {k!r} has shape "
                                   f"{tuple(arrays[k].shape)}, expected {shape} for n={n}, "
                                   f"dim={dim}")
    for k in ("pos", "vel", "acc", "mass", "charge", "times", "drift"):
        if not torch.isfinite(arrays[k]).all():
            raise PhysDistillError(f"dataset {path}: array {k!r} contains NaN or inf; expected "
                                   "finite values: regenerate it with 'physdistill simulate'")
    if not (arrays["mass"] > 0).all():
        raise PhysDistillError(f"dataset {path}: array 'mass' has values <= 0 (smallest "
                               f"{float(arrays['mass'].min()):g}); masses must be positive")
    if not ((arrays["split"] >= 0) & (arrays["split"] <= 2)).all():
        raise PhysDistillError(f"dataset {path}: split labels must be 0, 1 or 2")
    return NBodyDataset(path=path, meta=meta, arrays=arrays)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _check_law_meta(path: Path, law: Any) -> None:
    """``meta.json``'s ``law`` entry must name a readable law (see :meth:`NBodyDataset.law`)."""
    if not isinstance(law, dict):
        raise PhysDistillError(f"{path}/meta.json has no 'law' entry (an object with "
                               f"{sorted(_LAW_KEYS)}); regenerate it with 'physdistill simulate'")
    for key, typ in _LAW_KEYS.items():
        v = law.get(key)
        if isinstance(v, bool) and typ is not bool or not isinstance(v, typ):
            raise PhysDistillError(f"{path}/meta.json: law entry {key!r} is {repr(v)[:40]}; "
                                   f"expected a {getattr(typ, '__name__', 'number')}: "
                                   "regenerate it with 'physdistill simulate'")


def fully_connected(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``edge_index [2, n(n-1)]`` of the complete directed graph, row 0 source, row 1 target."""
    idx = torch.arange(n, device=device)
    src, dst = torch.meshgrid(idx, idx, indexing="xy")
    mask = src != dst
    return torch.stack([src[mask], dst[mask]])


def batched_edge_index(batch: int, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``edge_index`` of ``batch`` disjoint complete graphs of ``n`` nodes (flattened nodes)."""
    return repeat_edges(fully_connected(n, device), batch, n)


class GraphBatches:
    """Iterate over dense batches of equal-size complete graphs, fast.

    Yields ``(x [B n, F], edge_index [2, B n (n-1)], y [B n, dim])``. The data can live on the
    GPU; shuffling uses a seeded generator, and the edge index of each batch size is built once.

    Args:
        x: node features ``[G, n, F]``; y: targets ``[G, n, dim]``.
        batch_size: graphs per batch; drop_last: skip a final short batch.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if x.dim() != 3 or y.dim() != 3 or x.shape[:2] != y.shape[:2]:
            raise PhysDistillError(f"expected x [G, n, F] and y [G, n, dim] with the same G and n,"
                                   f" got {tuple(x.shape)} and {tuple(y.shape)}")
        if batch_size < 1:
            raise PhysDistillError(f"batch_size must be >= 1, got {batch_size}")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self._edges: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        G = self.x.shape[0]
        return G // self.batch_size if self.drop_last else -(-G // self.batch_size)

    def edge_index(self, batch: int) -> torch.Tensor:
        if batch not in self._edges:
            self._edges[batch] = batched_edge_index(batch, self.x.shape[1], self.x.device)
        return self._edges[batch]

    def __iter__(self):
        G, n = self.x.shape[:2]
        order = (torch.randperm(G, generator=self.generator) if self.shuffle
                 else torch.arange(G)).to(self.x.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            B = idx.numel()
            yield (self.x[idx].reshape(B * n, -1), self.edge_index(B),
                   self.y[idx].reshape(B * n, -1))
