r"""The n-body force kernel: exact accelerations and energies, and the RK4 step over them.

Shared by the dataset simulator (:mod:`~physdistill.nbody.simulate`, which adds the accuracy
check and the refinement around it) and by everything that needs the exact physics of a state
(:func:`accelerations` for rollouts and force comparisons, :func:`energy` for checks).

Speed: the kernel works in a component-major layout ``[dim, n, S]`` (systems last), so every
operation is one vectorised pass; each unordered pair is evaluated once and Newton's third law
spreads it, with the gathers and scatters done as two small matrix products. Forces that jump at
some r' (:attr:`~physdistill.nbody.laws.ForceLaw.breaks`) are integrated exactly onto each
crossing (:meth:`_Kernel.rk4`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from physdistill.nbody.laws import ForceLaw


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
