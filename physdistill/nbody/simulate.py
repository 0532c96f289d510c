r"""Batched n-body simulator.

Integrates ``sims`` independent systems at once as tensors of shape ``[sims, n, dim]`` on any
device, with classical RK4 at ``dt / substeps``. Each system starts like Cranmer et al. (2020):
positions and velocities ~ N(0, 1), masses exp(N(0, 1)), charges sign(N(0, 1)) for charged laws
(else N(0, 1) noise).

Accuracy is checked, not assumed. For conservative laws the relative energy drift

.. math::
    \delta = \max_t \frac{|E(t) - E(0)|}{\sum_i \tfrac12 m_i v_i(0)^2 + \sum_{pairs}|U_{ij}(0)|}

is tracked per system (for the damped law, E minus the work done by the drag, which the exact
dynamics also conserve). The check is local: every snapshot interval whose energy error exceeds
``drift_tol / 10`` (close encounters in r2 or charge, mostly) is redone with 8x, then 64x
more substeps; systems still over the limit after ``max_refine`` rounds are dropped. The counts
and the drift are returned in :class:`SimResult` and stored in the dataset metadata.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.nbody.laws import ForceLaw

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
    chunk: int = 20_000

    def validate(self) -> None:
        for name in ("n", "sims", "steps", "keep_every", "substeps", "chunk"):
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


class _Pairs:
    """Directed pair indices (receiver i, sender j), grouped by receiver."""

    def __init__(self, n: int, device: torch.device) -> None:
        recv = torch.arange(n).repeat_interleave(n - 1)
        send = torch.tensor([j for i in range(n) for j in range(n) if j != i])
        self.n = n
        self.recv, self.send = recv.to(device), send.to(device)
        iu = torch.triu_indices(n, n, 1)
        self.i, self.j = iu[0].to(device), iu[1].to(device)


def accelerations(law: ForceLaw, pos: torch.Tensor, vel: torch.Tensor, mass: torch.Tensor,
                  charge: torch.Tensor, pairs: _Pairs | None = None) -> torch.Tensor:
    """Exact accelerations ``[..., n, dim]`` of states ``pos, vel [..., n, dim]``."""
    n = pos.shape[-2]
    pairs = pairs or _Pairs(n, pos.device)
    dUdr = law.torch_dUdr()
    d = pos[..., pairs.recv, :] - pos[..., pairs.send, :]  # [..., n(n-1), dim]
    r = d.square().sum(-1).sqrt()
    m1, m2 = mass[..., pairs.recv], mass[..., pairs.send]
    q1, q2 = charge[..., pairs.recv], charge[..., pairs.send]
    radial = -dUdr(r + law.eps, m1, m2, q1, q2) / r
    force = (radial.unsqueeze(-1) * d).unflatten(-2, (n, n - 1)).sum(-2)
    if law.damping:
        force = force - law.damping * vel
    return force / mass.unsqueeze(-1)


def energy(law: ForceLaw, pos: torch.Tensor, vel: torch.Tensor, mass: torch.Tensor,
           charge: torch.Tensor, pairs: _Pairs | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Total energy ``[...]`` and its scale (kinetic + sum of |pair potentials|)."""
    pairs = pairs or _Pairs(pos.shape[-2], pos.device)
    U = law.torch_potential()
    d = pos[..., pairs.i, :] - pos[..., pairs.j, :]
    r = d.square().sum(-1).sqrt()
    u = U(r + law.eps, mass[..., pairs.i], mass[..., pairs.j], charge[..., pairs.i],
          charge[..., pairs.j])
    kin = 0.5 * (mass.unsqueeze(-1) * vel.square()).sum((-1, -2))
    return kin + u.sum(-1), kin + u.abs().sum(-1)


def _rk4(law: ForceLaw, pos: torch.Tensor, vel: torch.Tensor, mass: torch.Tensor,
         charge: torch.Tensor, pairs: _Pairs, h: float, substeps: int
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``substeps`` classical RK4 steps of size ``h``.

    Also integrates the work done by the drag force, :math:`W = -\gamma\int \sum_i v_i^2 dt`,
    with the same stages, so that :math:`E - W` is conserved by the exact dynamics of every law.
    """
    work = torch.zeros(pos.shape[:-2], dtype=pos.dtype, device=pos.device)

    def acc(p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return accelerations(law, p, v, mass, charge, pairs)

    def power(v: torch.Tensor) -> torch.Tensor:
        return -law.damping * v.square().sum((-1, -2))

    for _ in range(substeps):
        k1x, k1v = vel, acc(pos, vel)
        k2x = vel + 0.5 * h * k1v
        k2v = acc(pos + 0.5 * h * k1x, k2x)
        k3x = vel + 0.5 * h * k2v
        k3v = acc(pos + 0.5 * h * k2x, k3x)
        k4x = vel + h * k3v
        k4v = acc(pos + h * k3x, k4x)
        pos = pos + (h / 6) * (k1x + 2 * k2x + 2 * k3x + k4x)
        vel = vel + (h / 6) * (k1v + 2 * k2v + 2 * k3v + k4v)
        if law.damping:
            work = work + (h / 6) * (power(k1x) + 2 * power(k2x) + 2 * power(k3x)
                                     + power(k4x))
    return pos, vel, work


def _integrate(law: ForceLaw, cfg: SimConfig, ic: dict[str, torch.Tensor], dt: float,
               device: torch.device, progress: tqdm | None = None) -> dict[str, torch.Tensor]:
    """Integrate snapshot interval by snapshot interval, refining locally.

    After each interval of ``keep_every`` steps, a system whose :math:`E - W` moved by more than
    ``drift_tol / 10`` of its energy scale redoes that interval from its saved start with
    ``refine_factor``, ``refine_factor**2``, ... times more substeps (``max_refine`` rounds). A
    close encounter therefore costs extra work only in the interval where it happens. Systems still
    over the limit, or whose total drift exceeds ``drift_tol``, are marked failed.
    """
    dtype = _DTYPES[cfg.dtype]
    pos, vel, mass, charge = (ic[k].to(device=device, dtype=dtype)
                              for k in ("pos", "vel", "mass", "charge"))
    pairs = _Pairs(cfg.n, device)
    h = dt / cfg.substeps
    T = cfg.steps // cfg.keep_every
    S = pos.shape[0]
    snaps_p = torch.empty(S, T, cfg.n, cfg.dim, dtype=dtype, device=device)
    snaps_v = torch.empty_like(snaps_p)
    e0, scale = energy(law, pos, vel, mass, charge, pairs)
    invariant = e0.clone()  # E - W at the last accepted interval end
    work_total = torch.zeros_like(e0)  # drag work W up to the last interval end
    drift = torch.zeros_like(e0)
    failed = torch.zeros(S, dtype=torch.bool, device=device)
    refined = torch.zeros(S, dtype=torch.bool, device=device)
    local_tol = cfg.drift_tol / 10
    for k in range(T):
        snaps_p[:, k], snaps_v[:, k] = pos, vel
        n_steps = cfg.keep_every if k < T - 1 else cfg.steps - cfg.keep_every * (T - 1)
        new_p, new_v, work = _rk4(law, pos, vel, mass, charge, pairs, h, cfg.substeps * n_steps)
        inv = energy(law, new_p, new_v, mass, charge, pairs)[0] - (work_total + work)
        bad = ~((inv - invariant).abs() <= local_tol * scale)
        for level in range(1, cfg.max_refine + 1):
            idx = bad.nonzero().flatten()
            if idx.numel() == 0:
                break
            refined[idx] = True
            f = cfg.refine_factor**level
            p2, v2, w2 = _rk4(law, pos[idx], vel[idx], mass[idx], charge[idx], pairs, h / f,
                              f * cfg.substeps * n_steps)
            inv2 = energy(law, p2, v2, mass[idx], charge[idx], pairs)[0] - (work_total[idx] + w2)
            new_p[idx], new_v[idx], inv[idx], work[idx] = p2, v2, inv2, w2
            bad[idx] = ~((inv2 - invariant[idx]).abs() <= local_tol * scale[idx])
        failed |= bad
        pos, vel = new_p, new_v
        invariant = torch.where(bad, invariant, inv)
        work_total = work_total + work
        drift = torch.maximum(drift, torch.nan_to_num((inv - e0).abs() / scale, nan=math.inf))
        if progress is not None:
            progress.update(S * n_steps)
    failed |= ~(drift <= cfg.drift_tol)
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
