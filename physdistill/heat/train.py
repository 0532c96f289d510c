r"""Training a :class:`~physdistill.heat.pinn.HeatPINN` on a :class:`HeatProblem`: Adam, then
L-BFGS.

Loss, each term a mean of squared residuals on a fixed point set:

.. math::

    \mathcal{L} = w_r \,\overline{(u_t - \alpha u_{xx})^2}
                + w_0 \,\overline{(u(x, 0) - u_0)^2} + w_b \,\overline{(u - g)^2_{\partial}}
                + w_o \,\overline{(u(x_i, t_i) - u_i)^2}.

With the hard constraint the IC/BC terms vanish identically and are left out; the observation
term exists only when observations are given (inverse runs, ``ModelConfig.learn_alpha``).
Weights are fixed (``TrainConfig.weights``) or balanced by gradient norms
(``balance="gradnorm"``, Wang et al. 2021): every 100 Adam steps each weight moves 10 % of the
way towards :math:`\bar g / g_k`, where :math:`g_k` is the norm of the gradient of term
:math:`k` with respect to the network weights and :math:`\bar g` their mean; L-BFGS keeps the
last weights.

The point sets are sampled once from the seed (scrambled Halton by default), so full-batch
L-BFGS is well defined and a run is reproducible: the same seed gives the same weights on the
same machine and thread count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physdistill._io import load_state
from physdistill.checkpoints import CHECKPOINT, CHECKPOINT_META, read_checkpoint_meta
from physdistill.checkpoints import save_checkpoint as save_checkpoint_files
from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.heat.pinn import HeatPINN, ModelConfig
from physdistill.heat.problem import HeatProblem
from physdistill.pde.equation import Equation
from physdistill.pde.train import predict, run_lbfgs  # noqa: F401  (predict: heat callers import it here)
from physdistill.pde.train import rel_l2_on_grid as _rel_l2_on_grid

CHECKPOINT_KIND = "physdistill.heat.pinn"
#: the heat equation in the general PDE machinery (:mod:`physdistill.pde`)
HEAT_PDE = Equation("u_t = alpha*u_xx")
LOSS_TERMS = ("pde", "ic", "bc", "obs")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Args:
        adam_steps: Adam iterations (default 1000).
        adam_lr: Adam learning rate (default 1e-3), decayed exponentially to
            ``adam_lr * adam_decay`` over the phase (default ``adam_decay`` 0.1).
        lbfgs_steps: L-BFGS iterations (default 1000; 0 skips the phase). It stops earlier
            when it makes no more progress.
        lbfgs_history: L-BFGS memory (default 50).
        dtype: ``"float64"`` (default) or ``"float32"``.
        n_domain, n_initial, n_boundary: collocation / IC / BC points (default 2540, 160, 80,
            as in the DeepXDE example; IC/BC points are unused with the hard constraint).
        sampling: ``"halton"`` (scrambled, default) or ``"random"``.
        weights: loss weights as ``(("pde", 1.0), ("obs", 10.0), ...)``; keys are
            ``pde, ic, bc, obs``, missing ones are 1.
        balance: ``"fixed"`` (default) or ``"gradnorm"`` (see the module docstring).
        seed: seeds torch and the point sampler.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        log_every: record the loss every this many steps (default 50).
        progress: show a tqdm bar (only on a terminal).
    """

    adam_steps: int = 1000
    adam_lr: float = 1e-3
    adam_decay: float = 0.1
    lbfgs_steps: int = 1000
    lbfgs_history: int = 50
    dtype: str = "float64"
    n_domain: int = 2540
    n_initial: int = 160
    n_boundary: int = 80
    sampling: str = "halton"
    weights: tuple[tuple[str, float], ...] = ()
    balance: str = "fixed"
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in (("adam_steps", 0), ("lbfgs_steps", 0), ("lbfgs_history", 1),
                          ("n_domain", 1), ("n_initial", 1), ("n_boundary", 2),
                          ("log_every", 1), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise PhysDistillError(f"TrainConfig.{name} must be an integer >= {low}, got "
                                       f"{v!r}")
        if self.adam_steps == 0 and self.lbfgs_steps == 0:
            raise PhysDistillError("TrainConfig has no training steps (adam_steps and "
                                   "lbfgs_steps are both 0); give at least one, e.g. "
                                   "--adam-steps 1000")
        for name, ok in (("adam_lr", lambda v: v > 0), ("adam_decay", lambda v: 0 < v <= 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                    math.isfinite(v) and ok(v)):
                bound = "> 0" if name == "adam_lr" else "in (0, 1]"
                raise PhysDistillError(f"TrainConfig.{name} must be {bound}, got {v!r}")
        for name, choices in (("dtype", ("float64", "float32")), ("balance", ("fixed",
                              "gradnorm")), ("sampling", ("halton", "random"))):
            if getattr(self, name) not in choices:
                raise PhysDistillError(f"TrainConfig.{name} must be one of {choices}, got "
                                       f"{getattr(self, name)!r}")
        try:
            weights = dict(self.weights)
        except (TypeError, ValueError):
            raise PhysDistillError(f"TrainConfig.weights must be pairs (term, weight), got "
                                   f"{self.weights!r}") from None
        for k, v in weights.items():
            if k not in LOSS_TERMS or isinstance(v, bool) or not isinstance(v, (int, float)) \
                    or not (math.isfinite(v) and v >= 0):
                raise PhysDistillError(f"TrainConfig.weights: bad entry {k!r}={v!r}; keys are "
                                       f"{', '.join(LOSS_TERMS)} with non-negative values")

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained :class:`HeatPINN` (eval mode).
        history: ``{"step", "loss", "pde", ...}`` every ``log_every`` steps and after every
            L-BFGS chunk (L-BFGS iterations continue the step count), plus ``"alpha"``.
        seconds: wall time of the ``"adam"`` and ``"lbfgs"`` phases, callbacks excluded.
    """

    model: HeatPINN
    history: dict[str, list[float]]
    seconds: dict[str, float] = field(default_factory=dict)


#: ``callback(step, phase, model)``; returning ``True`` stops training.
Callback = Callable[[int, str, HeatPINN], bool | None]


class _Losses:
    """The loss terms on fixed point sets, and their weights."""

    def __init__(self, problem: HeatProblem, model: HeatPINN, cfg: TrainConfig,
                 observations: tuple[np.ndarray, np.ndarray] | None,
                 device: torch.device) -> None:
        rng = np.random.default_rng(cfg.seed)
        dt = cfg.torch_dtype

        def tens(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=float), dtype=dt, device=device)

        self.model = model
        self.points: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {
            "pde": (tens(problem.sample_domain(cfg.n_domain, rng, cfg.sampling)), None)}
        if not model.hard:
            xi, ui = problem.sample_initial(cfg.n_initial, rng, cfg.sampling)
            xb, ub = problem.sample_boundary(cfg.n_boundary, rng, cfg.sampling)
            self.points["ic"] = (tens(xi), tens(ui))
            self.points["bc"] = (tens(xb), tens(ub))
        if observations is not None:
            xo, uo = (np.asarray(a, dtype=float) for a in observations)
            if xo.ndim != 2 or xo.shape[1] != 2 or uo.shape != (len(xo),) or not len(xo):
                raise PhysDistillError(f"observations must be (xt of shape (n, 2), u of shape "
                                       f"(n,)) with n >= 1, got {xo.shape} and {uo.shape}")
            self.points["obs"] = (tens(xo), tens(uo))
        elif model.config.learn_alpha:
            raise PhysDistillError("learning alpha (the inverse problem) needs observations; "
                                   "pass observations=problem.observations(n)")
        w = dict(cfg.weights)
        self.weights = {k: float(w.get(k, 1.0)) for k in self.points}

    def __call__(self) -> dict[str, torch.Tensor]:
        """Each term's mean squared residual."""
        out = {}
        for k, (xt, target) in self.points.items():
            if k == "pde":
                d = self.model.derivatives(xt, order=2)
                r = d["u_t"] - HEAT_PDE.rhs(d, {"alpha": self.model.alpha})
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


def train(problem: HeatProblem, model_config: ModelConfig | None = None,
          config: TrainConfig | None = None,
          observations: tuple[np.ndarray, np.ndarray] | None = None,
          callback: Callback | None = None, callback_every: int = 100) -> TrainResult:
    """Train a PINN on ``problem``: Adam, then L-BFGS.

    Args:
        problem: the heat problem.
        model_config: network settings (``learn_alpha=True`` for the inverse problem).
        config: optimisation settings.
        observations: ``(xt (n, 2), u (n,))``; required with ``learn_alpha``.
        callback: called as ``callback(step, phase, model)`` with the clock paused: every
            ``callback_every`` Adam steps, after every L-BFGS chunk of
            ``min(callback_every, log_every)`` iterations, and at the end of the Adam phase.
            Returning ``True`` stops training.
        callback_every: see ``callback``.

    Returns:
        :class:`TrainResult`.

    Raises:
        PhysDistillError: bad observations, or the loss became non-finite.
    """
    model_config, config = model_config or ModelConfig(), config or TrainConfig()
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    model = HeatPINN(problem, model_config).to(device=device, dtype=config.torch_dtype)
    losses = _Losses(problem, model, config, observations, device)
    history: dict[str, list[float]] = {k: [] for k in ("step", "loss", *losses.points,
                                                       "alpha")}
    seconds = {"adam": 0.0, "lbfgs": 0.0}

    def record(step: int, parts: dict[str, torch.Tensor], total: float, phase: str) -> None:
        if not math.isfinite(total):
            raise PhysDistillError(f"training diverged (the loss is not finite) in the {phase} "
                                   "phase; lower adam_lr or use dtype='float64'")
        history["step"].append(step)
        history["loss"].append(total)
        for k, v in parts.items():
            history[k].append(float(v.detach()))
        history["alpha"].append(model.alpha_value())
        bar.set_postfix(loss=f"{total:.2e}", refresh=False)

    def stop_requested(step: int, phase: str) -> bool:
        if callback is None:
            return False
        model.eval()
        try:
            return bool(callback(step, phase, model))
        finally:
            model.train()

    bar = tqdm(total=config.adam_steps + config.lbfgs_steps, desc="heat PINN",
               disable=None if config.progress else True, leave=False, dynamic_ncols=True)
    step, stop = 0, False
    model.train()
    if config.adam_steps:
        opt = torch.optim.Adam(model.parameters(), lr=config.adam_lr)
        sched = torch.optim.lr_scheduler.ExponentialLR(
            opt, config.adam_decay ** (1.0 / config.adam_steps))
        start = time.perf_counter()
        while step < config.adam_steps and not stop:
            parts = losses()
            if config.balance == "gradnorm" and step % 100 == 0 and len(parts) > 1:
                losses.rebalance(parts)
            total = losses.total(parts)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            step += 1
            bar.update(1)
            if step % config.log_every == 0 or step == config.adam_steps:
                record(step, parts, float(total.detach()), "Adam")
            if step % callback_every == 0 or step == config.adam_steps:
                seconds["adam"] += time.perf_counter() - start
                stop = stop_requested(step, "adam")
                start = time.perf_counter()
        seconds["adam"] += time.perf_counter() - start
    if config.lbfgs_steps and not stop:
        last: dict[str, Any] = {}

        def objective() -> torch.Tensor:
            parts = losses()
            total = losses.total(parts)
            last["parts"], last["total"] = parts, float(total.detach())
            return total

        chunk = max(1, min(config.log_every, callback_every))
        start = time.perf_counter()
        for it in run_lbfgs(list(model.parameters()), objective, config.lbfgs_steps, chunk,
                            config.lbfgs_history):
            seconds["lbfgs"] += time.perf_counter() - start
            step += it
            bar.update(it)
            record(step, last["parts"], last["total"], "L-BFGS")
            if stop_requested(step, "lbfgs"):
                break
            start = time.perf_counter()
        else:
            seconds["lbfgs"] += time.perf_counter() - start
    bar.close()
    model.eval()
    return TrainResult(model=model, history=history,
                       seconds={k: round(v, 3) for k, v in seconds.items()})


# ---------------------------------------------------------------------------------------------
# evaluation


def rel_l2_on_grid(model: torch.nn.Module, problem: HeatProblem, nx: int = 256,
                   nt: int = 201) -> float:
    """Relative L2 error of the network against the reference on an ``nx x nt`` grid (the
    general trainer's measure, on heat's default grid)."""
    return _rel_l2_on_grid(model, problem, nx, nt)


# ---------------------------------------------------------------------------------------------
# checkpoints: weights in safetensors, settings and history in JSON (no pickle)


def save_checkpoint(folder: str | Path, result: TrainResult, config: TrainConfig) -> Path:
    """Write ``checkpoint.safetensors`` (weights) and ``checkpoint.json`` (problem, configs,
    dtype, history) into ``folder``, each atomically. Returns the safetensors path."""
    folder = Path(folder)
    model = result.model
    save_checkpoint_files(folder, {
        "kind": CHECKPOINT_KIND, "problem": model.problem.describe(),
        "model": asdict(model.config), "train": asdict(config),
        "dtype": config.dtype, "history": result.history, "seconds": result.seconds},
        {k: v.detach().cpu() for k, v in model.state_dict().items()})
    return folder / CHECKPOINT


def load_checkpoint(folder: str | Path, device: str = "cpu") -> tuple[HeatPINN, dict[str, Any]]:
    """Load what :func:`save_checkpoint` wrote: ``(model in eval mode, checkpoint.json)``.

    Raises:
        PhysDistillError: a file is missing or corrupt, or it is not a heat-PINN checkpoint.
    """
    folder = Path(folder)
    meta = read_checkpoint_meta(folder)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise PhysDistillError(f"{folder / CHECKPOINT_META} is not a heat PINN checkpoint "
                               f"(expected kind {CHECKPOINT_KIND!r})")
    try:
        problem = HeatProblem.from_description(meta["problem"])
        model = HeatPINN(problem, ModelConfig(**meta["model"]))
        dtype = {"float64": torch.float64, "float32": torch.float32}[meta["dtype"]]
    except (KeyError, TypeError) as exc:
        raise PhysDistillError(f"{folder / CHECKPOINT_META} is incomplete ({exc}); it was not "
                               "written by this version") from None
    weights = load_state(folder / CHECKPOINT)
    try:
        model.to(dtype=dtype).load_state_dict(weights)
    except RuntimeError as exc:
        raise PhysDistillError(f"{folder / CHECKPOINT} does not match its settings "
                               f"({str(exc).splitlines()[0]})") from None
    return model.to(resolve_device(device)).eval(), meta
