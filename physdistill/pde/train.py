r"""One PINN trainer for every :class:`~physdistill.pde.problem.PDEProblem`: Adam, then L-BFGS.

Loss, each term a mean of squares on its point set:

.. math::

    \mathcal{L} = w_r\,\overline{(u_t - F)^2} + w_0\,\overline{(u(x,0) - u_0)^2}
                + w_b\,\overline{(Bu - g)^2_{\partial}} + w_o\,\overline{(u(x_i,t_i) - u_i)^2},

:math:`B` the identity (Dirichlet) or :math:`\partial_x` (Neumann). Terms the output transform
enforces (:mod:`physdistill.pde.model`) are left out; the observation term exists when
observations are given (inverse runs, which learn the coefficients in ``problem.learn``; their
values are recorded at every Adam step and after every L-BFGS chunk).

**Loss balancing**: fixed weights, or ``balance="gradnorm"`` (Wang et al. 2021): every 100
Adam steps each weight moves 10 % of the way towards :math:`\bar g / g_k`, :math:`g_k` the norm
of the gradient of term :math:`k` with respect to the network weights and :math:`\bar g` their
mean; L-BFGS keeps the last weights.

**Residual-based resampling** (RAR-D, Wu et al. 2023), Adam phase only: every
``resample_every`` steps the collocation set is redrawn from a pool of ``resample_pool`` times as
many Halton points with probability :math:`\propto r^2/\overline{r^2} + 1`. L-BFGS then runs
full-batch on the last set.

**Held-out guard** (``holdout`` > 0): L-BFGS can lower the loss on its fixed collocation set
while the network leaves the solution between those points. After every L-BFGS chunk the
loss on an independent set of ``holdout`` collocation points (and fresh IC/BC points) is
scored, and the weights that scored best (the Adam result included) are restored at the end.
When the held-out loss climbs past ``guard_rise`` times its best, L-BFGS stops there: the run
has left the solution (on DeepXDE's Burgers problem, a seed whose Adam phase ended in a wrong
mode: training loss falling while the held-out loss rose 60-fold). With ``restarts`` > 0 such a
run starts again from new weights and points (seed ``+ 1000 k``); the attempt with the lowest
held-out loss on one common held-out set is returned.

**Stall stop** (``lbfgs_stall`` > 0): L-BFGS ends once the lowest loss of its last
``lbfgs_stall_window`` iterations is less than ``lbfgs_stall`` (relative) below the lowest
loss before them. One iteration budget then fits problems of different difficulty: a run
that has converged stops, one still descending goes on to ``lbfgs_steps`` (on the heat
equation, ``sin(pi x)`` stalls within about 1000 iterations while ``sin(pi x) + 0.5 sin(3 pi
x)`` still loses 10 % per 500 iterations at 5000).

**Checkpoints** go through :mod:`physdistill.checkpoints` (weights, Adam and scheduler state,
collocation points, history), every ``checkpoint_every`` Adam steps and at the end of each
phase; ``resume=True`` continues Adam from the saved step (an interrupted L-BFGS phase restarts
from its saved weights with a fresh memory).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physdistill.checkpoints import (
    CHECKPOINT,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.pde.losses import HoldoutGuard, Losses
from physdistill.pde.model import PINN, NetConfig, pairs
from physdistill.pde.problem import PDEProblem, relative_l2

LOSS_TERMS = ("pde", "ic", "bc", "obs")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults: the heat recipe, which beats DeepXDE's).

    Args:
        adam_steps, adam_lr, adam_decay: Adam phase (lr decays exponentially to
            ``adam_lr * adam_decay``). Defaults 1000, 1e-3, 0.1.
        lbfgs_steps, lbfgs_history: L-BFGS iterations (0 skips) and memory. Defaults 1000, 50.
        lbfgs_stall, lbfgs_stall_window: the stall stop (module docstring): relative
            decrease and window in iterations (defaults 0: off, and 250).
        dtype: ``"float64"`` (default) or ``"float32"``.
        n_domain, n_initial, n_boundary: collocation / IC / BC points (2540, 160, 80).
        resample_every: RAR-D period in Adam steps (default 0: off); resample_pool: pool size
            as a multiple of ``n_domain`` (default 4).
        weights: ``(("obs", 10.0), ...)``; missing terms weigh 1.
        balance: ``"fixed"`` (default) or ``"gradnorm"`` (module docstring).
        holdout: collocation points of the L-BFGS guard (module docstring; default 0: off).
        guard_rise: the guard stops L-BFGS once the held-out loss exceeds this multiple of its
            best (default 5; a converging run stays within a few per cent of its best).
        restarts: new attempts (seed ``+ 1000 k``) after a stopped L-BFGS (default 0).
        seed, device, log_every, progress, checkpoint_every: bookkeeping.
    """

    adam_steps: int = 1000
    adam_lr: float = 1e-3
    adam_decay: float = 0.1
    lbfgs_steps: int = 1000
    lbfgs_history: int = 50
    lbfgs_stall: float = 0.0
    lbfgs_stall_window: int = 250
    dtype: str = "float64"
    n_domain: int = 2540
    n_initial: int = 160
    n_boundary: int = 80
    resample_every: int = 0
    resample_pool: int = 4
    weights: tuple[tuple[str, float], ...] = ()
    balance: str = "fixed"
    holdout: int = 0
    guard_rise: float = 5.0
    restarts: int = 0
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    progress: bool = True
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        for name, low in (("adam_steps", 0), ("lbfgs_steps", 0), ("lbfgs_history", 1),
                          ("lbfgs_stall_window", 1),
                          ("n_domain", 1), ("n_initial", 1), ("n_boundary", 2),
                          ("resample_every", 0), ("resample_pool", 1), ("holdout", 0),
                          ("restarts", 0), ("log_every", 1),
                          ("seed", 0), ("checkpoint_every", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise PhysDistillError(f"TrainConfig.{name} must be an integer >= {low}, got "
                                       f"{v!r}")
        if self.adam_steps == 0 and self.lbfgs_steps == 0:
            raise PhysDistillError("TrainConfig has no training steps (adam_steps and "
                                   "lbfgs_steps are both 0); give at least one, e.g. "
                                   "--adam-steps 1000")
        if self.restarts and not self.holdout:
            raise PhysDistillError(f"TrainConfig.restarts={self.restarts} needs the held-out "
                                   "guard that triggers them; set holdout, e.g. 4096")
        for name, lo, hi in (("adam_lr", 0, math.inf), ("adam_decay", 0, 1),
                             ("guard_rise", 1, math.inf)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo < v <= hi:
                raise PhysDistillError(f"TrainConfig.{name} must be in ({lo}, {hi}], got {v!r}")
        v = self.lbfgs_stall
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise PhysDistillError(f"TrainConfig.lbfgs_stall must be in [0, 1) (0: off), got "
                                   f"{v!r}")
        for name, choices in (("dtype", ("float64", "float32")),
                              ("balance", ("fixed", "gradnorm"))):
            if getattr(self, name) not in choices:
                raise PhysDistillError(f"TrainConfig.{name} must be one of {choices}, got "
                                       f"{getattr(self, name)!r}")
        for k, v in pairs(self.weights, "TrainConfig.weights", "(term, weight)").items():
            if k not in LOSS_TERMS or isinstance(v, bool) or not isinstance(v, (int, float)) \
                    or not v >= 0:
                raise PhysDistillError(f"TrainConfig.weights: bad entry {k!r}={v!r}; keys are "
                                       f"{', '.join(LOSS_TERMS)} with values >= 0")

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32


@dataclass
class TrainResult:
    """``model`` (eval mode); ``history``: ``step, loss, <term>...`` every ``log_every`` steps;
    ``coefficients``: ``{"step": [...], name: [...]}`` of learned coefficients; ``seconds``
    per phase; ``guard``: the held-out loss per L-BFGS chunk (``step``, ``holdout``), the
    best step and whether its weights were restored (empty without ``holdout``)."""

    model: PINN
    history: dict[str, list[float]]
    coefficients: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    guard: dict[str, Any] = field(default_factory=dict)


def train(problem: PDEProblem, net_config: NetConfig | None = None,
          config: TrainConfig | None = None,
          observations: tuple[np.ndarray, np.ndarray] | None = None,
          out: str | Path | None = None, resume: bool = False,
          callback: Callable[[int, str, PINN], bool | None] | None = None,
          model: PINN | None = None) -> TrainResult:
    """Train a PINN on ``problem``: Adam (with optional resampling), then L-BFGS.

    Args:
        problem: the problem; net_config, config: settings.
        model: a network of ``problem`` to train instead of a new ``PINN(problem,
            net_config)`` (a preset's subclass, e.g. the heat PINN; not with restarts).
        observations: ``(xt (n, 2), u (n,))``; required when ``problem.learn`` is not empty.
        out: checkpoint folder (none written without it; restart ``k`` uses
            ``out/restart-k``); resume: continue from it.
        callback: ``callback(step, phase, model)`` after each logged step (clock paused);
            returning ``True`` stops training.

    Raises:
        PhysDistillError: bad observations, a diverged loss, a checkpoint that does not
            match these settings, or a given ``model`` with ``config.restarts``.
    """
    net_config, config = net_config or NetConfig(), config or TrainConfig()
    if model is not None and config.restarts:
        raise PhysDistillError("TrainConfig.restarts builds a new network per attempt; pass "
                               "no model=, or restarts=0")
    attempts: list[TrainResult] = []
    for k in range(config.restarts + 1):
        cfg = replace(config, seed=config.seed + 1000 * k) if k else config
        sub = None if out is None else (Path(out) / f"restart-{k}" if k else out)
        r = _train_once(problem, net_config, cfg, observations, sub, resume, callback, model,
                        holdout_seed=config.seed)
        if r.guard:
            r.guard["seed"] = cfg.seed
        attempts.append(r)
        if not r.guard.get("stopped"):
            break
    best = min(attempts, key=lambda a: a.guard.get("best", 0.0)) if len(attempts) > 1 \
        else attempts[0]
    if len(attempts) > 1:
        best.guard["attempts"] = [{"seed": a.guard["seed"], "best": a.guard["best"],
                                   "stopped": a.guard["stopped"], "seconds": a.seconds}
                                  for a in attempts]
        best.seconds = {p: round(sum(a.seconds[p] for a in attempts), 3) for p in best.seconds}
    return best


def _train_once(problem: PDEProblem, net_config: NetConfig, config: TrainConfig,
                observations: tuple[np.ndarray, np.ndarray] | None, out: str | Path | None,
                resume: bool, callback: Callable[[int, str, PINN], bool | None] | None,
                model: PINN | None, holdout_seed: int) -> TrainResult:
    """One attempt of :func:`train` (the guard's held-out set drawn from ``holdout_seed``)."""
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    model = (model if model is not None else PINN(problem, net_config)).to(
        device=device, dtype=config.torch_dtype)
    losses = Losses(problem, model, config, observations, device)
    history: dict[str, list[float]] = {k: [] for k in ("step", "loss", *losses.points)}
    coefs: dict[str, list[float]] = {"step": [], **{c: [] for c in problem.learn}}
    seconds = {"adam": 0.0, "lbfgs": 0.0}
    meta = {"kind": "physdistill.pde.pinn", "problem": problem.describe(),
            "net": asdict(net_config), "train": {k: v for k, v in asdict(config).items()
                                                 if k not in ("progress", "device")}}
    meta = json.loads(json.dumps(meta))  # tuples as lists: compares equal to the saved JSON
    opt = torch.optim.Adam(model.parameters(), lr=config.adam_lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(
        opt, config.adam_decay ** (1.0 / max(config.adam_steps, 1)))
    step, phase = 0, "adam"
    guard_info: dict[str, Any] = {}
    if resume and out is not None and (Path(out) / CHECKPOINT).is_file():
        state = load_checkpoint(out, meta, ("model", "optimizer", "scheduler", "step",
                                            "phase", "points", "history", "coefficients"))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, phase = int(state["step"]), str(state["phase"])
        losses.points["pde"] = (state["points"].to(device=device, dtype=config.torch_dtype), None)
        history, coefs = state["history"], state["coefficients"]
        guard_info = read_checkpoint_meta(out).get("guard", {})  # a finished run's guard

    def save(ph: str) -> None:
        if out is not None:
            save_checkpoint(out, {**meta, "step": step, "phase": ph, "guard": guard_info}, {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "step": step, "phase": ph,
                "points": losses.points["pde"][0], "history": history, "coefficients": coefs})

    def log_coefficients() -> None:
        if problem.learn:
            coefs["step"].append(step)
            for c, v in model.learned.items():
                coefs[c].append(float(v.detach()))

    def record(parts: dict[str, torch.Tensor], total: float, ph: str) -> bool:
        if not math.isfinite(total):
            raise PhysDistillError(f"training diverged (the loss is not finite) in the {ph} "
                                   "phase; lower adam_lr or use dtype='float64'")
        history["step"].append(step)
        history["loss"].append(total)
        for k, v in parts.items():
            history[k].append(float(v.detach()))
        bar.set_postfix(loss=f"{total:.2e}", refresh=False)
        if callback is None:
            return False
        model.eval()
        try:
            return bool(callback(step, ph, model))
        finally:
            model.train()

    bar = tqdm(total=config.adam_steps + config.lbfgs_steps, desc=f"{problem.name} PINN",
               disable=None if config.progress else True, leave=False, dynamic_ncols=True)
    bar.update(step)
    stop = False
    model.train()
    if phase == "adam":
        start = time.perf_counter()
        while step < config.adam_steps and not stop:
            if config.resample_every and step and step % config.resample_every == 0:
                losses.resample()
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
            log_coefficients()
            if step % config.log_every == 0 or step == config.adam_steps:
                seconds["adam"] += time.perf_counter() - start
                stop = record(parts, float(total.detach()), "adam")
                start = time.perf_counter()
            if step % config.checkpoint_every == 0 and step < config.adam_steps:
                save("adam")
        seconds["adam"] += time.perf_counter() - start
        if step >= config.adam_steps:
            phase = "lbfgs"
        save(phase)  # a stop inside Adam saves phase "adam": a resume continues it
    if config.lbfgs_steps and not stop and phase == "lbfgs":
        last: dict[str, Any] = {}

        def objective() -> torch.Tensor:
            parts = losses()
            total = losses.total(parts)
            last["parts"], last["total"] = parts, float(total.detach())
            return total

        start = time.perf_counter()
        guard = (HoldoutGuard(losses, config.holdout, device, holdout_seed, config.guard_rise)
                 if config.holdout else None)
        if guard is not None:
            guard.check(step)
        stall = StallStop(step, config.lbfgs_stall, config.lbfgs_stall_window) \
            if config.lbfgs_stall else None
        for it in run_lbfgs(list(model.parameters()), objective, config.lbfgs_steps,
                            config.log_every, config.lbfgs_history):
            seconds["lbfgs"] += time.perf_counter() - start
            step += it
            bar.update(it)
            log_coefficients()
            if record(last["parts"], last["total"], "lbfgs"):
                break
            start = time.perf_counter()
            if (guard is not None and guard.check(step)) or (
                    stall is not None and stall.check(step, last["total"])):
                seconds["lbfgs"] += time.perf_counter() - start
                break
        else:
            seconds["lbfgs"] += time.perf_counter() - start
        if guard is not None:
            start = time.perf_counter()
            guard_info = {**guard.history, "best": guard.best, "best_step": guard.best_step,
                          "stopped": guard.stopped, "restored": guard.restore()}
            seconds["lbfgs"] += time.perf_counter() - start
        save("done")
    bar.close()
    model.eval()
    return TrainResult(model, history, coefs, {k: round(v, 3) for k, v in seconds.items()},
                       guard_info)


class StallStop:
    """The stall stop of L-BFGS (module docstring): fed ``(step, loss)`` after every chunk.

    Args:
        start: the step L-BFGS starts at; tol: relative decrease the last ``window``
            iterations must reach.
    """

    def __init__(self, start: int, tol: float, window: int) -> None:
        self.start, self.tol, self.window = start, tol, window
        self.trace: list[tuple[int, float]] = []

    def check(self, step: int, loss: float) -> bool:
        """Record ``loss`` at ``step``; ``True``: the loss has stalled."""
        self.trace.append((step, loss))
        cut = step - self.window
        if cut < self.start:
            return False
        before = min((v for s, v in self.trace if s <= cut), default=math.inf)
        recent = min(v for s, v in self.trace if s > cut)
        return recent > (1 - self.tol) * before


def run_lbfgs(params: list[torch.Tensor], loss: Callable[[], torch.Tensor], iterations: int,
              chunk: int = 50, history_size: int = 50) -> Iterator[int]:
    """Full-batch L-BFGS (strong Wolfe) in chunks; yields the iterations each chunk took.

    Stops after ``iterations``, or when a chunk ends before its budgets (no descent direction).
    """
    max_eval = chunk * 5 // 4 + 1
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=chunk, max_eval=max_eval,
                            history_size=history_size, tolerance_grad=1e-14,
                            tolerance_change=0.0, line_search_fn="strong_wolfe")
    state = opt.state[params[0]]

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        return value

    done = 0
    while done < iterations:
        iters, evals = state.get("n_iter", 0), state.get("func_evals", 0)
        opt.step(closure)
        it = state.get("n_iter", 0) - iters
        done += max(it, 1)
        yield it
        if it < chunk and state.get("func_evals", 0) - evals < max_eval:
            return


def predict(model: torch.nn.Module, x: Any, t: Any, batch: int = 65536) -> np.ndarray:
    """Network values at broadcastable ``x``, ``t`` (any shape), float64 numpy."""
    x, t = np.broadcast_arrays(np.asarray(x, float), np.asarray(t, float))
    p = next(model.parameters())
    xt = torch.as_tensor(np.stack([x.ravel(), t.ravel()], 1), dtype=p.dtype, device=p.device)
    with torch.no_grad():
        out = [model(xt[i:i + batch]).double().cpu().numpy() for i in range(0, len(xt), batch)]
    return np.concatenate(out).reshape(x.shape)


def rel_l2_on_grid(model: torch.nn.Module, problem: PDEProblem, nx: int = 256,
                   nt: int = 101) -> float:
    """Relative L2 error of the network against the reference on an ``nx x nt`` grid."""
    X, T = problem.grid(nx, nt)
    return relative_l2(predict(model, X, T), problem.reference(X, T))
