r"""Trajectory rollouts with a learned acceleration model, against the true law.

A model that predicts accelerations from states (the OGN, or the OGN with its edge model
replaced by distilled equations) defines the dynamics :math:`\dot x = v,\ \dot v = \hat a(x, v)`.
:func:`rollout` integrates them with classical RK4 at the law's time step, from given initial
states. :func:`rollout_errors` compares three rollouts with a reference trajectory of the true
law integrated with a 4x finer step:

- ``truth``: the true law at the same step as the models (the integrator's own error: the floor);
- ``gnn``: the network;
- ``symbolic``: the network with its edge model replaced by equations.

The error of a rollout is the mean distance between predicted and reference positions over
particles and snapshots, divided by the RMS distance of the particles from their centre of mass
at the start (so it is comparable across position spreads); the median over systems is reported.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from physdistill.graphs import repeat_edges
from physdistill.nbody.laws import ForceLaw
from physdistill.nbody.simulate import SimConfig, accelerations, initial_conditions

AccelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: how the out-of-distribution initial states differ from the training ones.
OOD = {"position_scale": 2.0, "log_mass_shift": 1.0}


def initial_states(law: ForceLaw, n: int, dim: int, systems: int, seed: int,
                   ood: bool = False) -> dict[str, torch.Tensor]:
    """Initial states drawn as in the dataset; ``ood`` widens positions and raises masses
    (see :data:`OOD`)."""
    ic = initial_conditions(law, SimConfig(n=n, dim=dim, sims=systems, seed=seed))
    if ood:
        ic["pos"] = ic["pos"] * OOD["position_scale"]
        ic["mass"] = ic["mass"] * torch.exp(torch.tensor(OOD["log_mass_shift"],
                                                         dtype=torch.float64))
    return ic


def rollout(acc: AccelFn, pos: torch.Tensor, vel: torch.Tensor, dt: float, steps: int,
            keep_every: int = 5) -> torch.Tensor:
    """RK4 from ``pos, vel [S, n, dim]``; returns positions ``[S, T, n, dim]`` every
    ``keep_every`` steps (the initial state included)."""
    out = [pos]
    for s in range(1, steps + 1):
        k1x, k1v = vel, acc(pos, vel)
        k2x, k2v = vel + 0.5 * dt * k1v, acc(pos + 0.5 * dt * k1x, vel + 0.5 * dt * k1v)
        k3x, k3v = vel + 0.5 * dt * k2v, acc(pos + 0.5 * dt * k2x, vel + 0.5 * dt * k2v)
        k4x, k4v = vel + dt * k3v, acc(pos + dt * k3x, vel + dt * k3v)
        pos = pos + dt / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
        vel = vel + dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        if s % keep_every == 0:
            out.append(pos)
    return torch.stack(out, dim=1)


def law_accel(law: ForceLaw, mass: torch.Tensor, charge: torch.Tensor) -> AccelFn:
    """The true accelerations of ``law`` for systems with ``mass, charge [S, n]``."""
    m, q = mass.unsqueeze(1), charge.unsqueeze(1)
    return lambda p, v: accelerations(law, p.unsqueeze(1), v.unsqueeze(1), m, q).squeeze(1)


def model_accel(model: torch.nn.Module, mass: torch.Tensor, charge: torch.Tensor,
                edge_index: torch.Tensor) -> AccelFn:
    """Accelerations predicted by a graph model on nodes ``[pos, vel, q, m]`` (float32, on the
    model's device), returned in float64 on the CPU."""
    device = next(model.parameters()).device
    S, n = mass.shape
    ei = repeat_edges(edge_index, S, n).to(device)
    qm = torch.stack([charge, mass], dim=-1)

    def acc(p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        x = torch.cat([p, v, qm], dim=-1).reshape(S * n, -1).to(device, torch.float32)
        with torch.no_grad():
            a = model(x, ei)
        return a.reshape(S, n, -1).to("cpu", torch.float64)

    return acc


def position_error(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-system error ``[S]``: mean |pred - ref| over particles and snapshots, divided by the
    initial RMS distance from the centre of mass."""
    x0 = ref[:, 0]
    spread = (x0 - x0.mean(1, keepdim=True)).square().sum(-1).mean(-1).sqrt()
    err = (pred - ref).square().sum(-1).sqrt().mean((1, 2))
    return torch.nan_to_num(err / spread, nan=float("inf"))


def rollout_errors(law: ForceLaw, models: dict[str, torch.nn.Module], ic: dict[str, torch.Tensor],
                   edge_index: torch.Tensor, steps: int, keep_every: int = 5,
                   ) -> dict[str, dict]:
    """Roll out the true law and each model from ``ic``; see the module docstring.

    Returns ``{name: {"median": float, "per_system": [S], "curve": [T]}}`` for ``truth`` and
    each model; ``curve`` is the median over systems of the error at each snapshot.
    """
    dt = law.dt
    pos, vel, mass, charge = ic["pos"], ic["vel"], ic["mass"], ic["charge"]
    true = law_accel(law, mass, charge)
    fine = 4
    ref = rollout(true, pos, vel, dt / fine, steps * fine, keep_every * fine)
    runs = {"truth": rollout(true, pos, vel, dt, steps, keep_every)}
    for name, model in models.items():
        runs[name] = rollout(model_accel(model, mass, charge, edge_index), pos, vel, dt, steps,
                             keep_every)
    x0 = ref[:, :1]
    spread = (x0 - x0.mean(2, keepdim=True)).square().sum(-1).mean(-1).sqrt()  # [S, 1]
    out = {}
    for name, traj in runs.items():
        per_snap = (traj - ref).square().sum(-1).sqrt().mean(-1) / spread  # [S, T]
        per_snap = torch.nan_to_num(per_snap, nan=float("inf"))
        out[name] = {"median": float(position_error(traj, ref).median()),
                     "per_system": position_error(traj, ref).tolist(),
                     "curve": per_snap.median(0).values.tolist()}
    return out
