r"""Batched n-body simulator.

Integrates ``sims`` independent systems at once as tensors on any device, with classical RK4 at
``dt / substeps``. Each system starts like Cranmer et al. (2020): positions and velocities
~ N(0, 1), masses exp(N(0, 1)), charges sign(N(0, 1)) for charged laws (else N(0, 1) noise).

Speed: the force kernel works in a component-major layout ``[dim, n, S]`` (systems last), so
every operation is one vectorised pass; each unordered pair is evaluated once and Newton's third
law spreads it, with the gathers and scatters done as two small matrix products.

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


class _Pairs:
    r"""The :math:`P = n(n-1)/2` unordered pairs ``i < j`` and their incidence matrix.

    ``B [P, n]`` has +1 at ``i`` and -1 at ``j``, so ``B @ x`` gives :math:`x_i - x_j` per pair and
    ``B.T @ f`` adds each pair force to ``i`` and subtracts it from ``j`` (Newton's third law):
    every pair is evaluated once, and the gathers and scatters become two small matrix products.
    """

    def __init__(self, n: int, device: torch.device, dtype: torch.dtype) -> None:
        iu = torch.triu_indices(n, n, 1, device=device)
        self.i, self.j = iu[0], iu[1]
        rows = torch.arange(self.i.numel(), device=device)
        B = torch.zeros(rows.numel(), n, dtype=dtype, device=device)
        B[rows, self.i], B[rows, self.j] = 1.0, -1.0
        self.B, self.Bt = B, B.T.contiguous()


@dataclass
class _Consts:
    """Per-system constants in the kernel layout: pair masses/charges ``[P, S]``, ``[n, S]``."""

    m1: torch.Tensor
    m2: torch.Tensor
    q1: torch.Tensor
    q2: torch.Tensor
    mass: torch.Tensor
    inv_mass: torch.Tensor

    @classmethod
    def of(cls, mass: torch.Tensor, charge: torch.Tensor, pairs: _Pairs) -> _Consts:
        """From ``mass, charge [S, n]``."""
        mt, qt = mass.T.contiguous(), charge.T.contiguous()
        return cls(mt[pairs.i], mt[pairs.j], qt[pairs.i], qt[pairs.j], mt, 1.0 / mt)

    def take(self, idx: torch.Tensor) -> _Consts:
        return _Consts(*(t[:, idx] for t in (self.m1, self.m2, self.q1, self.q2, self.mass,
                                              self.inv_mass)))


class _Kernel:
    """Accelerations and energies of many systems in the layout ``X, V [dim, n, S]``.

    Component-major, systems last: every operation is one vectorised pass over contiguous
    ``[P, S]`` or ``[dim, n, S]`` slabs, reductions run over leading dimensions, and each pair is
    evaluated once. About ten tensor operations per force evaluation.
    """

    def __init__(self, law: ForceLaw, n: int, device: torch.device, dtype: torch.dtype) -> None:
        self.pairs = _Pairs(n, device, dtype)
        self.dUdr, self.U = law.torch_dUdr(), law.torch_potential()
        self.eps, self.damping = law.eps, law.damping
        self.breaks = torch.tensor(law.breaks, dtype=dtype, device=device)

    def acc(self, X: torch.Tensor, V: torch.Tensor, c: _Consts,
            side: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Accelerations ``[dim, n, S]``; ``side = (lo, hi) [P, S]`` bounds r' in the force
        (used to keep the force on one side of a jump, see :meth:`rk4`)."""
        D = torch.matmul(self.pairs.B, X)  # [dim, P, S]: x_i - x_j
        r = D.square().sum(0).sqrt_()
        rp = r + self.eps if side is None else (r + self.eps).clamp(*side)
        radial = torch.div(self.dUdr(rp, c.m1, c.m2, c.q1, c.q2), r).neg_()
        F = torch.matmul(self.pairs.Bt, D.mul_(radial))  # [dim, n, S]
        if self.damping:
            F.sub_(V, alpha=self.damping)
        return F.mul_(c.inv_mass)

    def softened_distances(self, X: torch.Tensor) -> torch.Tensor:
        """r' = r + eps of every pair, ``[P, S]``."""
        return torch.matmul(self.pairs.B, X).square_().sum(0).sqrt_() + self.eps

    def energy(self, X: torch.Tensor, V: torch.Tensor, c: _Consts
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Total energy ``[S]`` and its scale (kinetic + sum of |pair potentials|)."""
        u = self.U(self.softened_distances(X), c.m1, c.m2, c.q1, c.q2)
        kin = 0.5 * (c.mass * V.square().sum(0)).sum(0)
        return kin + u.sum(0), kin + u.abs().sum(0)

    def step(self, X: torch.Tensor, V: torch.Tensor, c: _Consts, h: float | torch.Tensor,
             side: tuple[torch.Tensor, torch.Tensor] | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""One classical RK4 step of size ``h`` (a number, or one per system ``[S]``).

        Also integrates the work done by the drag force, :math:`W = -\gamma\int \sum_i v_i^2
        dt`, with the same stages, so that :math:`E - W` is conserved by the exact dynamics of
        every law. Returns the new ``X, V`` and the step's work ``[S]``. ``side``: see
        :meth:`acc`.
        """
        def axpy(x: torch.Tensor, y: torch.Tensor, a: float | torch.Tensor) -> torch.Tensor:
            return torch.add(x, y, alpha=a) if isinstance(a, float) else torch.addcmul(x, y, a)

        A1 = self.acc(X, V, c, side)
        V2 = axpy(V, A1, h / 2)
        A2 = self.acc(axpy(X, V, h / 2), V2, c, side)
        V3 = axpy(V, A2, h / 2)
        A3 = self.acc(axpy(X, V2, h / 2), V3, c, side)
        V4 = axpy(V, A3, h)
        A4 = self.acc(axpy(X, V3, h), V4, c, side)
        work = torch.zeros(X.shape[-1], dtype=X.dtype, device=X.device)
        if self.damping:
            sq = [v.square().sum((0, 1)) for v in (V, V2, V3, V4)]
            work = (sq[0] + 2 * sq[1] + 2 * sq[2] + sq[3]) * (-self.damping * h / 6)
        X = axpy(X, V2.add(V3).mul_(2).add_(V).add_(V4), h / 6)
        V = axpy(V, A2.add_(A3).mul_(2).add_(A1).add_(A4), h / 6)
        return X, V, work

    def rk4(self, X: torch.Tensor, V: torch.Tensor, c: _Consts, h: float, steps: int
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``steps`` RK4 steps of size ``h``; returns ``X, V`` and the drag work ``[S]``.

        For laws whose force jumps at some r' (:attr:`ForceLaw.breaks`), a step in which a pair
        crosses a break is redone as two steps that meet at the crossing (found by Newton's
        method on r'(t) - break), the first with that pair's force held on the starting side of
        the jump and the second on the far side. A fixed step across the jump, or a stage that
        samples the wrong side, makes an O(h) error at each crossing.
        """
        work = torch.zeros(X.shape[-1], dtype=X.dtype, device=X.device)
        for _ in range(steps):
            X1, V1, w = self.step(X, V, c, h)
            if self.breaks.numel():
                found = self._crossings(X, V, X1, c, h)
                if found is not None:
                    idx, t, before, after = found
                    ci = c.take(idx)
                    Xa, Va, wa = self.step(X[..., idx], V[..., idx], ci, t, before)
                    Xb, Vb, wb = self.step(Xa, Va, ci, h - t, after)
                    X1[..., idx], V1[..., idx], w[idx] = Xb, Vb, wa + wb
            X, V, work = X1, V1, work + w
        return X, V, work

    def _crossings(self, X0: torch.Tensor, V0: torch.Tensor, X1: torch.Tensor, c: _Consts,
                   h: float, newton: int = 3
                   ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor],
                              tuple[torch.Tensor, torch.Tensor]] | None:
        """``None``, or the systems ``idx`` in which a pair's r' crosses a break during the step,
        the time ``t`` of the earliest crossing, and the r' bounds ``(lo, hi) [P, len(idx)]``
        that hold that pair on its side before and after it."""
        def gap(X: torch.Tensor) -> torch.Tensor:  # [breaks * P, S]
            return (self.softened_distances(X) - self.breaks[:, None, None]).flatten(0, 1)

        g0, g1 = gap(X0), gap(X1)
        crossed = (g0 >= 0) != (g1 >= 0)
        frac = torch.where(crossed, g0 / (g0 - g1).where(crossed, 1.0), 2.0)
        first, which = frac.min(0)
        idx = (first <= 1).nonzero().flatten()
        if not idx.numel():
            return None
        P, s = self.pairs.B.shape[0], idx.numel()
        which, pair = which[idx], which[idx] % P
        brk = self.breaks[which // P]
        outward = g1[which, idx] >= 0
        # r' bounds: the crossing pair held below the break (r' < brk) or at/above it
        below = torch.nextafter(brk, torch.zeros_like(brk))
        inf = torch.full((P, s), math.inf, dtype=X0.dtype, device=X0.device)
        cols = torch.arange(s, device=X0.device)
        lo_in, hi_in, lo_out, hi_out = -inf, inf.clone(), -inf, inf.clone()
        hi_in[pair, cols] = below
        lo_out[pair, cols] = brk
        inside, outside = (lo_in, hi_in), (lo_out, hi_out)
        before = tuple(torch.where(outward, a, b) for a, b in zip(inside, outside))
        after = tuple(torch.where(outward, b, a) for a, b in zip(inside, outside))
        B = self.pairs.B[pair].T  # [n, s]: the crossing pair's row per system
        ci, Xs, Vs = c.take(idx), X0[..., idx], V0[..., idx]
        t = h * first[idx]
        for _ in range(newton):
            Xa, Va, _ = self.step(Xs, Vs, ci, t, before)
            d, dv = (Xa * B).sum(1), (Va * B).sum(1)  # [dim, s]
            r = d.square().sum(0).sqrt()
            rate = (d * dv).sum(0) / r
            t = torch.where(rate.abs() > 1e-12, t - (r + self.eps - brk) / rate, t).clamp(0, h)
        return idx, t, before, after


def _kernel(law: ForceLaw, n: int, device: torch.device, dtype: torch.dtype) -> _Kernel:
    """The law's kernel for ``n`` particles, made once per device and dtype (rollouts call
    :func:`accelerations` at every stage)."""
    key = ("kernel", n, str(device), dtype, law.eps, law.damping)
    if key not in law._cache:
        law._cache[key] = _Kernel(law, n, device, dtype)
    return law._cache[key]


def _kernel_layout(pos: torch.Tensor, vel: torch.Tensor, mass: torch.Tensor,
                   charge: torch.Tensor) -> tuple[torch.Size, torch.Tensor, torch.Tensor,
                                                  torch.Tensor, torch.Tensor]:
    """Broadcast ``[..., n, dim]`` states and ``[..., n]`` constants to one flat batch."""
    n, dim = pos.shape[-2:]
    batch = torch.broadcast_shapes(pos.shape[:-2], vel.shape[:-2], mass.shape[:-1],
                                   charge.shape[:-1])

    def flat(t: torch.Tensor, tail: tuple[int, ...]) -> torch.Tensor:
        return t.expand(*batch, *tail).reshape(-1, *tail)

    X = flat(pos, (n, dim)).permute(2, 1, 0).contiguous()
    V = flat(vel, (n, dim)).permute(2, 1, 0).contiguous()
    return batch, X, V, flat(mass, (n,)), flat(charge, (n,))


def accelerations(law: ForceLaw, pos: torch.Tensor, vel: torch.Tensor, mass: torch.Tensor,
                  charge: torch.Tensor) -> torch.Tensor:
    """Exact accelerations ``[..., n, dim]`` of states ``pos, vel [..., n, dim]`` with
    ``mass, charge`` broadcastable to ``[..., n]``."""
    kernel = _kernel(law, pos.shape[-2], pos.device, pos.dtype)
    batch, X, V, m, q = _kernel_layout(pos, vel, mass, charge)
    A = kernel.acc(X, V, _Consts.of(m, q, kernel.pairs))
    return A.permute(2, 1, 0).reshape(*batch, *pos.shape[-2:])


def energy(law: ForceLaw, pos: torch.Tensor, vel: torch.Tensor, mass: torch.Tensor,
           charge: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Total energy ``[...]`` and its scale (kinetic + sum of |pair potentials|)."""
    kernel = _kernel(law, pos.shape[-2], pos.device, pos.dtype)
    batch, X, V, m, q = _kernel_layout(pos, vel, mass, charge)
    e, scale = kernel.energy(X, V, _Consts.of(m, q, kernel.pairs))
    return e.reshape(batch), scale.reshape(batch)


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
