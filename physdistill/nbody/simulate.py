r"""Batched n-body simulator: settings, initial states, and the checked integration of datasets.

Integrates ``sims`` independent systems at once as tensors on any device, with classical RK4 at
``dt / substeps`` (the force kernel and the RK4 step are :mod:`~physdistill.nbody.kernel`). Each
system starts like Cranmer et al. (2020): positions and velocities ~ N(0, 1), masses
exp(N(0, 1)), charges sign(N(0, 1)) for charged laws (else N(0, 1) noise).

Accuracy is checked, not assumed. For conservative laws the relative energy drift

.. math::
    \delta = \max_t \frac{|E(t) - E(0)|}{\sum_i \tfrac12 m_i v_i(0)^2 + \sum_{pairs}|U_{ij}(0)|}

is tracked per system (for the damped law, E minus the work done by the drag, which the exact
dynamics also conserve). The check is local: a snapshot interval whose energy error exceeds
``drift_tol / 10`` (close encounters in r2 or charge, mostly) is redone with 8x, then 64x more
substeps. Systems move through the intervals at their own pace, so the redone intervals of many
systems share one batch. Systems still over the limit, or stuck at the finest step (tight
binaries), are dropped. Forces that jump at some r' (the discontinuous law) are integrated
exactly onto each crossing. The counts and the drift are returned in :class:`SimResult` and
stored in the dataset metadata.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.nbody.kernel import _Consts, _kernel, accelerations, energy
from physdistill.nbody.laws import ForceLaw

#: with the kernel's exact physics (accelerations, energy), importable from here as well
__all__ = ["SimConfig", "SimResult", "accelerations", "energy", "initial_conditions",
           "simulate"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class SimConfig:
    """Simulation settings. Defaults reproduce the published setup (n=4, 2-D, 10,000 systems,
    500 steps, every 5th kept, the law's own dt).

    Args:
        n: particles per system.
        dim: spatial dimension (2 or 3).
        sims: number of systems.
        steps: integration steps of size ``dt`` (the stored horizon is ``steps * dt``).
        keep_every: keep every k-th step as a snapshot (``steps // keep_every`` snapshots).
        dt: time step; ``None`` takes the law's default.
        substeps: RK4 steps per ``dt``.
        seed: seed of the initial conditions; the same seed gives bit-identical arrays.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        dtype: integration dtype, ``"float64"`` (default) or ``"float32"``.
        drift_tol: largest relative energy drift accepted over the whole horizon.
        max_refine: refinement rounds before a system is dropped.
        refine_factor: each round multiplies the substeps of a failing interval by this.
        refine_batch: a refinement level's queue runs once it holds this fraction of the systems
            (or when nothing below it is left); larger batches, fewer serial fine-step runs.
        max_fine_intervals: a system that needs the finest level in more intervals than this is
            dropped. These are tight binaries, which need it in every interval; each such interval
            is a serial run of ``refine_factor**max_refine`` times the substeps, so one of them
            would make the whole batch wait.
        chunk: systems integrated at once (bounds memory on large runs).
    """

    n: int = 4
    dim: int = 2
    sims: int = 10_000
    steps: int = 500
    keep_every: int = 5
    dt: float | None = None
    substeps: int = 1
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    drift_tol: float = 1e-3
    max_refine: int = 2
    refine_factor: int = 8
    refine_batch: float = 0.02
    max_fine_intervals: int = 10
    chunk: int = 20_000

    def validate(self) -> None:
        for name in ("n", "sims", "steps", "keep_every", "substeps", "chunk",
                     "max_fine_intervals"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PhysDistillError(f"{name} must be a positive integer, got {value!r}")
        if self.n < 2:
            raise PhysDistillError(f"n must be at least 2 particles, got {self.n}")
        if self.dim not in (2, 3):
            raise PhysDistillError(f"dim must be 2 or 3, got {self.dim!r}")
        if self.keep_every > self.steps:
            raise PhysDistillError(f"keep_every ({self.keep_every}) exceeds steps ({self.steps})")
        if self.dt is not None and not (0 < self.dt < math.inf):
            raise PhysDistillError(f"dt must be a positive finite number, got {self.dt!r}")
        if self.dtype not in _DTYPES:
            raise PhysDistillError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if not (self.drift_tol > 0):
            raise PhysDistillError(f"drift_tol must be positive, got {self.drift_tol!r}")
        if self.refine_factor < 2:
            raise PhysDistillError(f"refine_factor must be >= 2, got {self.refine_factor!r}")
        if not (0 < self.refine_batch <= 1):
            raise PhysDistillError(f"refine_batch must be in (0, 1], got {self.refine_batch!r}")
        if self.max_refine < 0:
            raise PhysDistillError(f"max_refine must be >= 0, got {self.max_refine!r}")


@dataclass
class SimResult:
    """What :func:`simulate` returns.

    Shapes (``S`` kept systems, ``T = steps // keep_every`` snapshots):
        pos, vel, acc: ``[S, T, n, dim]``; mass, charge: ``[S, n]``; times: ``[T]``;
        drift: ``[S]`` relative energy drift (of E - W for the damped law);
        index: ``[S]`` index of each kept system among the ``sims`` drawn.
    """

    pos: torch.Tensor
    vel: torch.Tensor
    acc: torch.Tensor
    mass: torch.Tensor
    charge: torch.Tensor
    times: torch.Tensor
    drift: torch.Tensor
    index: torch.Tensor
    stats: dict[str, Any] = field(default_factory=dict)


def initial_conditions(law: ForceLaw, cfg: SimConfig) -> dict[str, torch.Tensor]:
    """Draw initial states on the CPU in float64 (device-independent, so seeds reproduce)."""
    g = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.sims, cfg.n)
    pos = torch.randn(*shape, cfg.dim, generator=g, dtype=torch.float64)
    vel = torch.randn(*shape, cfg.dim, generator=g, dtype=torch.float64)
    charge = torch.randn(*shape, generator=g, dtype=torch.float64)
    mass = torch.randn(*shape, generator=g, dtype=torch.float64).exp()
    if law.charged:
        charge = torch.where(charge >= 0, 1.0, -1.0).to(torch.float64)
    return {"pos": pos, "vel": vel, "mass": mass, "charge": charge}


def _integrate(law: ForceLaw, cfg: SimConfig, ic: dict[str, torch.Tensor], dt: float,
               device: torch.device, progress: tqdm | None = None) -> dict[str, torch.Tensor]:
    """Integrate snapshot interval by snapshot interval, refining locally and in batches.

    Each system advances one snapshot interval (``keep_every`` steps) at a time at its own pace.
    An interval whose :math:`E - W` moved by more than ``drift_tol / 10`` of the system's energy
    scale is rejected, and the system waits at that interval's start with its refinement level
    raised (``refine_factor`` times more substeps per level). Because the dynamics are autonomous,
    systems at different intervals can share one batch: each round runs the systems of one level
    together, so a rare close encounter does not cost a serial run of tiny fine-step batches. A
    level's queue runs once it holds ``refine_batch`` of the systems, or when nothing below it is
    left. After an accepted interval a system returns to the base step. Systems rejected at
    ``max_refine``, or whose total drift exceeds ``drift_tol``, are dropped at once.
    """
    dtype = _DTYPES[cfg.dtype]
    kernel = _kernel(law, cfg.n, device, dtype)
    pos, vel, mass, charge = (ic[k].to(device=device, dtype=dtype)
                              for k in ("pos", "vel", "mass", "charge"))
    consts = _Consts.of(mass, charge, kernel.pairs)
    X, V = pos.permute(2, 1, 0).contiguous(), vel.permute(2, 1, 0).contiguous()
    h = dt / cfg.substeps
    T = cfg.steps // cfg.keep_every
    last_len = cfg.steps - cfg.keep_every * (T - 1)
    S = X.shape[-1]
    snaps_p = torch.empty(S, T, cfg.n, cfg.dim, dtype=dtype, device=device)
    snaps_v = torch.empty_like(snaps_p)
    snaps_p[:, 0], snaps_v[:, 0] = pos, vel
    e0, scale = kernel.energy(X, V, consts)
    invariant = e0.clone()  # E - W at the last accepted interval end
    work_total = torch.zeros_like(e0)  # drag work W up to the last accepted interval end
    drift = torch.zeros_like(e0)
    k = torch.zeros(S, dtype=torch.long, device=device)  # interval each system is at
    level = torch.zeros(S, dtype=torch.long, device=device)
    alive = torch.ones(S, dtype=torch.bool, device=device)
    failed = torch.zeros(S, dtype=torch.bool, device=device)
    refined = torch.zeros(S, dtype=torch.bool, device=device)
    fine_runs = torch.zeros(S, dtype=torch.long, device=device)
    local_tol = cfg.drift_tol / 10
    queue_min = max(1, math.ceil(cfg.refine_batch * S))
    while True:
        counts = torch.bincount(level[alive], minlength=cfg.max_refine + 1).tolist()
        if not any(counts):
            break
        L = next((L for L in range(cfg.max_refine, 0, -1) if counts[L] >= queue_min),
                 next(L for L, c in enumerate(counts) if c))
        idx = (alive & (level == L)).nonzero().flatten()
        n_steps = cfg.keep_every
        if last_len != cfg.keep_every:  # the last interval is shorter: run it on its own
            at_last = k[idx] == T - 1
            n_steps = last_len if bool(at_last.all()) else cfg.keep_every
            idx = idx[at_last] if n_steps == last_len else idx[~at_last]
        f = cfg.refine_factor**L
        c = consts.take(idx)
        X2, V2, w = kernel.rk4(X[..., idx], V[..., idx], c, h / f, f * cfg.substeps * n_steps)
        inv = kernel.energy(X2, V2, c)[0] - (work_total[idx] + w)
        ok = (inv - invariant[idx]).abs() <= local_tol * scale[idx]
        new_drift = torch.maximum(drift[idx], (inv - e0[idx]).abs() / scale[idx])
        ok_idx, bad_idx = idx[ok], idx[~ok]
        X[..., ok_idx], V[..., ok_idx] = X2[..., ok], V2[..., ok]
        work_total[ok_idx] += w[ok]
        invariant[ok_idx], drift[ok_idx] = inv[ok], new_drift[ok]
        k[ok_idx] += 1
        level[ok_idx] = 0
        store = ok_idx[k[ok_idx] < T]
        snaps_p[store, k[store]] = X[..., store].permute(2, 1, 0)
        snaps_v[store, k[store]] = V[..., store].permute(2, 1, 0)
        if L < cfg.max_refine:
            level[bad_idx] = L + 1
            refined[bad_idx] = True
            if L + 1 == cfg.max_refine:
                fine_runs[bad_idx] += 1
                failed |= fine_runs > cfg.max_fine_intervals
        else:
            failed[bad_idx] = True
        failed |= ~(drift <= cfg.drift_tol)
        alive &= ~failed & (k < T)
        if progress is not None:
            progress.update(int(ok.sum()) * n_steps)
    return {"pos": snaps_p, "vel": snaps_v, "drift": drift, "failed": failed,
            "refined": refined}


def simulate(law: ForceLaw, cfg: SimConfig | None = None, progress: bool = True) -> SimResult:
    """Simulate ``cfg.sims`` systems under ``law``; see the module docstring for the checks."""
    cfg = cfg or SimConfig()
    cfg.validate()
    device = resolve_device(cfg.device)
    dt = cfg.dt if cfg.dt is not None else law.dt
    ic = initial_conditions(law, cfg)
    outs = []
    with tqdm(total=cfg.sims * cfg.steps, unit="sys-step", unit_scale=True,
              desc=f"simulate {law.name}", disable=not progress, leave=False) as bar:
        for start in range(0, cfg.sims, cfg.chunk):
            part = {k: v[start:start + cfg.chunk] for k, v in ic.items()}
            outs.append(_integrate(law, cfg, part, dt, device, progress=bar))
    out = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    keep = (~out["failed"]).nonzero().flatten()
    if keep.numel() == 0:
        raise PhysDistillError(f"every system failed the accuracy check for law {law.name!r}; "
                               "use a smaller --dt or a softer potential")
    pos, vel, drift = out["pos"][keep], out["vel"][keep], out["drift"][keep]
    mass = ic["mass"].to(device=device, dtype=pos.dtype)[keep]
    charge = ic["charge"].to(device=device, dtype=pos.dtype)[keep]
    acc = accelerations(law, pos, vel, mass.unsqueeze(1), charge.unsqueeze(1))
    times = torch.arange(cfg.steps // cfg.keep_every, dtype=torch.float64) * dt * cfg.keep_every
    stats = {
        "check": "energy drift" + (" (with drag work)" if law.damping else ""),
        "refined": int(out["refined"].sum()), "dropped": cfg.sims - int(keep.numel()),
        "kept": int(keep.numel()), "dt": dt, "substeps": cfg.substeps,
        "energy_drift_median": float(drift.median()), "energy_drift_max": float(drift.max()),
        "config": asdict(cfg),
    }
    return SimResult(pos=pos, vel=vel, acc=acc, mass=mass, charge=charge, times=times,
                     drift=drift, index=keep.cpu(), stats=stats)
