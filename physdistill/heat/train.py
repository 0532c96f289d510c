r"""Training a :class:`~physdistill.heat.pinn.HeatPINN`: the general PDE trainer
(:func:`physdistill.pde.train.train`) on :meth:`HeatProblem.as_pde`, Adam then L-BFGS.

Loss, each term a mean of squared residuals on its point set:

.. math::

    \mathcal{L} = w_r \,\overline{(u_t - \alpha u_{xx})^2}
                + w_0 \,\overline{(u(x, 0) - u_0)^2} + w_b \,\overline{(u - g)^2_{\partial}}
                + w_o \,\overline{(u(x_i, t_i) - u_i)^2}.

With the hard constraint the IC/BC terms vanish identically and are left out; the observation
term exists only when observations are given (inverse runs, ``ModelConfig.learn_alpha``).
Weights are fixed or balanced by gradient norms (``TrainConfig.balance``), the collocation
points are scrambled Halton drawn once from the seed (the same seed gives the same weights on
the same machine and thread count), and the checkpoint goes through
:mod:`physdistill.checkpoints`; all of it is the general trainer's (:mod:`physdistill.pde.train`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict
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
from physdistill.pde.examples import RECIPES
from physdistill.pde.train import TrainConfig, TrainResult, predict  # noqa: F401  (heat API)
from physdistill.pde.train import rel_l2_on_grid as _rel_l2_on_grid
from physdistill.pde.train import train as _train

CHECKPOINT_KIND = "physdistill.heat.pinn"

#: ``callback(step, phase, model)``; returning ``True`` stops training.
Callback = Callable[[int, str, HeatPINN], bool | None]


def recipe_config(**overrides: Any) -> TrainConfig:
    """The heat recipe (``RECIPES["heat"]`` of :mod:`physdistill.pde.examples`: L-BFGS until it
    stalls, memory 500) on the general defaults, with ``overrides`` (``TrainConfig`` fields)."""
    return TrainConfig(**{**RECIPES["heat"], **overrides})


def train(problem: HeatProblem, model_config: ModelConfig | None = None,
          config: TrainConfig | None = None,
          observations: tuple[np.ndarray, np.ndarray] | None = None,
          callback: Callback | None = None, callback_every: int = 100) -> TrainResult:
    """Train a PINN on ``problem``: Adam, then L-BFGS (the general trainer).

    Args:
        problem: the heat problem.
        model_config: network settings (``learn_alpha=True`` for the inverse problem).
        config: optimisation settings (:class:`physdistill.pde.train.TrainConfig`; default
            :func:`recipe_config`).
        observations: ``(xt (n, 2), u (n,))``; required with ``learn_alpha``.
        callback: called as ``callback(step, phase, model)`` with the clock paused: every
            ``callback_every`` Adam steps, at the end of the Adam phase and after every
            L-BFGS chunk of ``min(callback_every, log_every)`` iterations. Returning ``True``
            stops training.

    Returns:
        :class:`~physdistill.pde.train.TrainResult`; its ``history`` also holds ``"alpha"``
        at every logged step.

    Raises:
        PhysDistillError: bad observations, or the loss became non-finite.
    """
    model_config, config = model_config or ModelConfig(), config or recipe_config()
    if isinstance(callback_every, bool) or not isinstance(callback_every, int) \
            or callback_every < 1:
        raise PhysDistillError(f"callback_every must be a positive integer, got "
                               f"{callback_every!r}")
    if model_config.learn_alpha and observations is None:
        raise PhysDistillError("learning alpha (the inverse problem) needs observations; "
                               "pass observations=problem.observations(n)")
    torch.manual_seed(config.seed)
    model = HeatPINN(problem, model_config)
    if callback is not None:
        config = dataclasses.replace(config, log_every=min(config.log_every, callback_every))

    def every(step: int, phase: str, m: Any) -> bool | None:
        if phase == "adam" and step % callback_every and step != config.adam_steps:
            return None
        return callback(step, phase, m)

    result = _train(model.problem, model.config, config, observations,
                    callback=every if callback is not None else None, model=model)
    learned = dict(zip(result.coefficients["step"], result.coefficients.get("alpha", [])))
    result.history["alpha"] = [learned.get(s, model.alpha_value())
                               for s in result.history["step"]]
    return result


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
        "kind": CHECKPOINT_KIND, "problem": model.heat_problem.describe(),
        "model": asdict(model.heat_config), "train": asdict(config),
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
