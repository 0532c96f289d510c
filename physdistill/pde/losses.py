r"""The loss terms of a PDE PINN on their point sets, loss balancing and residual resampling.

See :mod:`physdistill.pde.train` for the loss, the balancing rule and RAR-D.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from physdistill.errors import PhysDistillError
from physdistill.pde.model import PINN, derivatives, residual
from physdistill.pde.problem import PDEProblem

if TYPE_CHECKING:
    from physdistill.pde.train import TrainConfig


class Losses:
    """The loss terms of ``model`` on ``problem``: collocation, IC, BC and observation points
    (those the output transform does not enforce), their weights, and RAR-D.

    Args:
        problem, model, cfg: what is trained, and how (``cfg.n_domain`` etc. size the sets).
        observations: ``(xt (n, 2), u (n,))`` or ``None``; device: where the points live.
        stream: ``0`` draws the points from ``cfg.seed`` (the training sets); another value
            draws an independent set from ``(cfg.seed, stream)`` (held-out points).
    """

    def __init__(self, problem: PDEProblem, model: PINN, cfg: TrainConfig,
                 observations: tuple[np.ndarray, np.ndarray] | None, device: torch.device,
                 stream: int = 0) -> None:
        self.rng = np.random.default_rng([cfg.seed, stream] if stream else cfg.seed)
        self.cfg, self.model, self.problem = cfg, model, problem
        self.tens = lambda a: torch.as_tensor(np.asarray(a, float), dtype=cfg.torch_dtype,
                                              device=device)
        self.points: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {
            "pde": (self.tens(problem.sample_domain(cfg.n_domain, self.rng)), None)}
        if not model.hard_ic:
            self.points["ic"] = tuple(map(self.tens, problem.sample_initial(cfg.n_initial,
                                                                            self.rng)))
        if not model.hard_bc:
            self.points["bc"] = tuple(map(self.tens, problem.sample_boundary(cfg.n_boundary,
                                                                             self.rng)))
        if observations is not None:
            xo, uo = (np.asarray(a, dtype=float) for a in observations)
            if xo.ndim != 2 or xo.shape[1] != 2 or uo.shape != (len(xo),) or not len(xo):
                raise PhysDistillError(f"observations must be (xt of shape (n, 2), u of shape "
                                       f"(n,)) with n >= 1, got {xo.shape} and {uo.shape}")
            self.points["obs"] = (self.tens(xo), self.tens(uo))
        elif problem.learn:
            raise PhysDistillError(f"learning {list(problem.learn)} (an inverse problem) needs "
                                   "observations; pass observations=problem.observations(n)")
        w = dict(cfg.weights)
        self.weights = {k: float(w.get(k, 1.0)) for k in self.points}

    def __call__(self, create_graph: bool = True) -> dict[str, torch.Tensor]:
        """Each term's mean square; ``create_graph=False`` for values only (no gradient)."""
        out = {}
        for k, (xt, target) in self.points.items():
            if k == "pde":
                r = residual(self.model, xt, create_graph=create_graph)
            elif k == "bc" and self.problem.bc == "neumann":
                r = derivatives(self.model, xt, 1, create_graph)["u_x"] - target
            else:
                r = self.model(xt) - target
            out[k] = (r * r).mean()
        return out

    def total(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights[k] * v for k, v in parts.items())

    def rebalance(self, parts: dict[str, torch.Tensor]) -> None:
        """Move each weight 10 % towards mean-gradient-norm / own-gradient-norm."""
        params = list(self.model.net.parameters())
        norms = {}
        for k, v in parts.items():
            g = torch.autograd.grad(v, params, retain_graph=True, allow_unused=True)
            norms[k] = float(torch.sqrt(sum((gi * gi).sum() for gi in g if gi is not None)))
        mean = sum(norms.values()) / len(norms)
        for k, n in norms.items():
            if n > 0:
                self.weights[k] = 0.9 * self.weights[k] + 0.1 * mean / n

    def resample(self) -> None:
        """RAR-D: redraw the collocation set with probability ~ r^2/mean(r^2) + 1."""
        n = self.cfg.n_domain
        pool = self.problem.sample_domain(n * self.cfg.resample_pool, self.rng)
        r2 = np.empty(len(pool))
        for i in range(0, len(pool), 8192):
            xt = self.tens(pool[i:i + 8192])
            r2[i:i + 8192] = (residual(self.model, xt, create_graph=False) ** 2).cpu().numpy()
        p = r2 / max(r2.mean(), 1e-300) + 1.0
        idx = self.rng.choice(len(pool), size=n, replace=False, p=p / p.sum())
        self.points["pde"] = (self.tens(pool[idx]), None)


class HoldoutGuard:
    """Scores the weights on held-out points during L-BFGS; keeps the best, flags a climb.

    L-BFGS can drive the loss on the collocation set down while the network leaves the
    solution between the points; the loss on an independent set of points then rises.

    Args:
        losses: the training losses (their weights and observations are reused).
        n_domain: held-out collocation points (IC and BC sets as in training).
        device: where the points live; seed: draws the held-out set (with stream 1), so that
            attempts with other training seeds are scored on the same points.
        rise: :meth:`check` flags a stop once the held-out loss exceeds ``rise`` x its best.
    """

    def __init__(self, losses: Losses, n_domain: int, device: torch.device, seed: int,
                 rise: float) -> None:
        from dataclasses import replace

        obs = losses.points.get("obs")
        observations = None if obs is None else tuple(v.cpu().numpy() for v in obs)
        self.held = Losses(losses.problem, losses.model,
                           replace(losses.cfg, n_domain=n_domain, seed=seed), observations,
                           device, stream=1)
        self.held.weights = losses.weights
        self.rise = rise
        self.best, self.best_step, self.last = math.inf, -1, math.inf
        self.stopped = False
        self.state: dict[str, torch.Tensor] | None = None
        self.history: dict[str, list[float]] = {"step": [], "holdout": []}

    def check(self, step: int) -> bool:
        """Score the current weights, remember them when best; ``True``: stop (a climb)."""
        model = self.held.model
        with torch.no_grad():
            value = float(self.held.total(self.held(create_graph=False)))
        self.history["step"].append(step)
        self.history["holdout"].append(value)
        self.last = value
        if value < self.best:
            self.best, self.best_step = value, step
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.stopped = not value <= self.rise * self.best  # NaN stops too
        return self.stopped

    def restore(self) -> bool:
        """Load the best weights if the last ones are worse; returns whether it did."""
        if self.state is None or self.last <= self.best:
            return False
        self.held.model.load_state_dict(self.state)
        return True
