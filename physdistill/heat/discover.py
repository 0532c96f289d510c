r"""Sparsity-regularised discovery PINN (DeepMoD-style): the PDE is not given.

A network :math:`u_\theta(x, t)` fits observations :math:`(x_i, t_i, u_i)` of the solution
(optionally noisy). Its autograd derivatives build a library :math:`\Theta` of candidate terms
(:mod:`physdistill.heat.library`), and the physics residual :math:`u_t - \Theta \xi` has
coefficients :math:`\xi` trained jointly with the network:

.. math::

    \mathcal{L} = \frac{\overline{(u_\theta - u_i)^2}}{\mathrm{Var}(u_i)}
      + w_r\, \frac{\overline{(u_t - \Theta \xi)^2}}{s_t^2}
      + \lambda_1 \sum_k |\hat\xi_k|, \qquad \hat\xi_k = \xi_k \frac{s_k}{s_t},

where :math:`s_t` and :math:`s_k` are the RMS of :math:`u_t` and of term :math:`k` on the
network, fixed once the network fits the data. Both fit terms are relative squared errors, and
the normalised coefficient :math:`\hat\xi_k` is the share of :math:`u_t` that term :math:`k`
explains, so the L1 penalty and the threshold treat all terms alike whatever their units.

Schedule (L-BFGS throughout; on CPU it was several times faster than Adam here):

1. **fit** -- the network fits the observations alone; then :math:`s_t, s_k` are fixed and
   :math:`\xi` starts at the least-squares fit of :math:`u_t` on the library.
2. **sparse** -- data + residual + L1 (a smooth :math:`\sqrt{\hat\xi^2 + 10^{-12}}`), in rounds
   of ``threshold_every`` iterations; after each round the terms with
   :math:`|\hat\xi_k| <` ``threshold`` are removed for good (masked to zero).
3. **refine** -- data + residual without L1 on the surviving terms, so the shrinkage does not
   bias them. At its optimum :math:`\xi` is the least-squares fit of :math:`u_t` on the
   surviving terms of the network.

Observation and collocation times are drawn as :math:`t = T s^2`: mode :math:`k` decays like
:math:`e^{-\alpha (k\pi/L)^2 t}`, so the faster modes, which alone tell :math:`u_{xx}` apart
from :math:`u` (see :mod:`physdistill.heat.pde`), live only at early times. With uniform times
and ``sin(pi x) + 0.5 sin(3 pi x)`` at 1 % noise the run kept ``u, u^2, u*u_xx`` beside
``u_xx``; with early times it found ``u_t = 0.3996 u_xx`` (``docs/heat.md``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.heat.library import TermLibrary, default_library
from physdistill.heat.pinn import HeatPINN, ModelConfig
from physdistill.heat.problem import HeatProblem


@dataclass(frozen=True)
class DiscoveryConfig:
    """Settings of the discovery PINN.

    Args:
        n_observations: observed points ``(x, t, u)`` (default 1000; early times, see the
            module docstring).
        noise: noise level relative to ``std(u)`` (``0.01`` = 1 %; default 0).
        n_collocation: extra Halton points where the residual is evaluated (default 1000).
        width, depth: the tanh network (default 32 x 3).
        fit_steps: L-BFGS iterations of the fit phase (default 1000).
        steps: L-BFGS iterations of the sparse phase, at most (default 1000).
        threshold_every: iterations per round of the sparse phase (default 100).
        threshold: normalised-coefficient threshold (default 0.1).
        l1: weight of the L1 penalty on the normalised coefficients (default 0.01).
        pde_weight: weight of the residual term (default 1).
        refine_steps: L-BFGS iterations of the refine phase (default 500).
        seed: seeds the data, the points and the network.
        device, dtype: as in :class:`~physdistill.heat.train.TrainConfig`.
        progress: tqdm bar (only on a terminal).
    """

    n_observations: int = 1000
    noise: float = 0.0
    n_collocation: int = 1000
    width: int = 32
    depth: int = 3
    fit_steps: int = 1000
    steps: int = 1000
    threshold_every: int = 100
    threshold: float = 0.1
    l1: float = 0.01
    pde_weight: float = 1.0
    refine_steps: int = 500
    seed: int = 0
    device: str = "auto"
    dtype: str = "float64"
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in (("n_observations", 10), ("n_collocation", 0), ("width", 1),
                          ("depth", 1), ("fit_steps", 0), ("steps", 0),
                          ("threshold_every", 1), ("refine_steps", 0), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise PhysDistillError(f"DiscoveryConfig.{name} must be an integer >= {low}, "
                                       f"got {v!r}")
        for name, low, high in (("noise", 0, 1), ("l1", 0, math.inf),
                                ("pde_weight", 0, math.inf), ("threshold", 0, 1)):
            v = getattr(self, name)
            strict = name in ("pde_weight", "threshold")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                    (low < v if strict else low <= v) and v < high):
                lo = f"> {low}" if strict else f">= {low}"
                hi = "" if high == math.inf else f" and < {high}"
                raise PhysDistillError(f"DiscoveryConfig.{name} must be {lo}{hi}, got {v!r}")
        if self.dtype not in ("float64", "float32"):
            raise PhysDistillError(f"DiscoveryConfig.dtype must be 'float64' or 'float32', got "
                                   f"{self.dtype!r}")


@dataclass
class DiscoveryResult:
    """Outcome of :func:`discover`.

    Attributes:
        model: the trained network (a :class:`HeatPINN` without hard constraint).
        terms: surviving terms and their coefficients :math:`\\xi_k`.
        expression: e.g. ``"u_t = 0.4001*u_xx"``.
        alpha, alpha_true, rel_error: the ``u_xx`` coefficient against the truth.
        correct_terms: exactly ``{u_xx}`` survived.
        removed: ``{term: iteration}`` when each term was thresholded away.
        history: ``step``, the loss terms and ``c[term]`` (normalised coefficients).
        rel_l2_network: the network against the reference on the 256 x 201 grid.
        seconds: wall time per phase.
        phase_starts: the step at which the ``sparse`` and ``refine`` phases started.
        config: the :class:`DiscoveryConfig` as a dict.
    """

    model: HeatPINN
    terms: dict[str, float]
    expression: str
    alpha: float | None
    alpha_true: float
    rel_error: float | None
    correct_terms: bool
    removed: dict[str, int]
    history: dict[str, list[float]]
    rel_l2_network: float
    seconds: dict[str, float]
    phase_starts: dict[str, int] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "terms": self.terms, "alpha": self.alpha,
                "alpha_true": self.alpha_true, "rel_error": self.rel_error,
                "correct_terms": self.correct_terms, "removed": self.removed,
                "rel_l2_network": self.rel_l2_network, "seconds": self.seconds,
                "phase_starts": self.phase_starts,
                "noise": self.config.get("noise"),
                "n_observations": self.config.get("n_observations")}


class _Objective:
    """Loss terms of the discovery PINN on fixed point sets."""

    def __init__(self, model: HeatPINN, library: TermLibrary, xo: torch.Tensor,
                 uo: torch.Tensor, xr: torch.Tensor, pde_weight: float) -> None:
        self.model, self.library = model, library
        self.xo, self.uo, self.xr = xo, uo, xr
        self.order = max(library.max_order, 1)
        self.data_scale = 1.0 / (float(torch.var(uo)) or 1.0)
        self.pde_weight, self.pde_scale = pde_weight, 0.0
        p = len(library)
        self.norm = torch.ones(p, dtype=uo.dtype, device=uo.device)
        self.xi = torch.zeros(p, dtype=uo.dtype, device=uo.device, requires_grad=True)
        self.mask = torch.ones(p, dtype=uo.dtype, device=uo.device)

    def data(self) -> torch.Tensor:
        return ((self.model(self.xo) - self.uo) ** 2).mean() * self.data_scale

    @torch.no_grad()
    def calibrate(self) -> None:
        """After the fit: scale the residual by the network's RMS(u_t), fixed from now on, and
        start the coefficients at the least-squares fit of u_t on the library."""
        d = self.model.derivatives(self.xr, order=self.order, create_graph=False)
        ms_t = max(float((d["u_t"] ** 2).mean()), 1e-300)
        self.pde_scale = self.pde_weight / ms_t
        theta = self.library.transform(d)
        self.norm = torch.sqrt((theta * theta).mean(0) / ms_t)
        self.xi[:] = torch.linalg.lstsq(theta, d["u_t"][:, None]).solution[:, 0]

    def normalised(self) -> torch.Tensor:
        r""":math:`\hat\xi` of the active terms (zero for removed ones), detached."""
        return (self.xi * self.mask * self.norm).detach()

    def __call__(self, l1: float) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """``(total loss, {data, pde, l1}, normalised coefficients)``."""
        data = self.data()
        d = self.model.derivatives(self.xr, order=self.order)
        theta = self.library.transform(d)
        xi = self.xi * self.mask
        pde = ((d["u_t"] - theta @ xi) ** 2).mean() * self.pde_scale
        hat = xi * self.norm
        pen = torch.sqrt(hat * hat + 1e-12).sum()  # smooth |.|, so L-BFGS can minimise it
        total = data + pde + l1 * pen
        return total, {"data": float(data.detach()), "pde": float(pde.detach()),
                       "l1": float(pen.detach())}, hat.detach()


def discover(problem: HeatProblem, config: DiscoveryConfig | None = None,
             observations: tuple[np.ndarray, np.ndarray] | None = None,
             library: TermLibrary | None = None) -> DiscoveryResult:
    """Find the PDE from observations with a sparsity-regularised PINN.

    Args:
        problem: supplies the domain, the observations (from its reference solution, with
            ``config.noise``, unless ``observations`` is given) and the true alpha for the
            comparison. Its alpha is not used in training.
        config: :class:`DiscoveryConfig`.
        observations: ``(xt (n, 2), u (n,))`` to use instead of sampling the problem.
        library: candidate terms (default: the 9-term :func:`default_library`).

    Returns:
        :class:`DiscoveryResult`.
    """
    config = config or DiscoveryConfig()
    from tqdm.auto import tqdm

    from physdistill.heat.pde import format_pde
    from physdistill.heat.train import rel_l2_on_grid
    from physdistill.pde.train import run_lbfgs

    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    library = library or default_library()
    names = library.names()
    if observations is None:
        observations = problem.observations(config.n_observations, config.noise, config.seed,
                                            early=True)
    xo, uo = (torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype, device=device)
              for a in observations)
    if xo.ndim != 2 or xo.shape[1] != 2 or uo.shape != (len(xo),) or len(xo) < 10:
        raise PhysDistillError(f"observations must be (xt of shape (n, 2), u of shape (n,)) "
                               f"with n >= 10, got {tuple(xo.shape)} and {tuple(uo.shape)}")
    rng = np.random.default_rng(config.seed + 1)
    xc = torch.as_tensor(problem.sample_domain(max(config.n_collocation, 1), rng, early=True),
                         dtype=dtype, device=device)[:config.n_collocation]
    model = HeatPINN(problem, ModelConfig(width=config.width, depth=config.depth,
                                          hard="off")).to(device=device, dtype=dtype)
    obj = _Objective(model, library, xo, uo, torch.cat([xo, xc]), config.pde_weight)
    params = list(model.parameters()) + [obj.xi]
    history: dict[str, list[float]] = {k: [] for k in ("step", "loss", "data", "pde", "l1",
                                                       *(f"c[{n}]" for n in names))}
    removed: dict[str, int] = {}
    seconds: dict[str, float] = {}
    bar = tqdm(total=config.fit_steps + config.steps + config.refine_steps,
               desc="heat discovery", disable=None if config.progress else True, leave=False)
    step = 0

    def log(total: torch.Tensor, info: dict[str, float], hat: torch.Tensor) -> None:
        value = float(total.detach())
        if not math.isfinite(value):
            raise PhysDistillError("discovery diverged (the loss is not finite); use "
                                   "dtype='float64' or a smaller l1")
        history["step"].append(step)
        history["loss"].append(value)
        for k, v in info.items():
            history[k].append(v)
        for n, v in zip(names, hat.cpu().tolist()):
            history[f"c[{n}]"].append(v)
        bar.set_postfix(loss=f"{value:.2e}", terms=int(obj.mask.sum()), refresh=False)

    def lbfgs(iterations: int, loss: Callable[[], torch.Tensor]) -> int:
        nonlocal step
        before = step
        for it in run_lbfgs(params, loss, iterations):
            step += it
            bar.update(it)
            log(*obj(0.0))
        return step - before

    start = time.perf_counter()
    lbfgs(config.fit_steps, obj.data)
    obj.calibrate()
    seconds["fit"] = round(time.perf_counter() - start, 3)
    phase_starts = {"sparse": step}
    start, done = time.perf_counter(), 0
    while done < config.steps:
        it = lbfgs(min(config.threshold_every, config.steps - done), lambda: obj(config.l1)[0])
        done += max(it, 1)
        small = (obj.normalised().abs() < config.threshold) & (obj.mask > 0)
        if small.any() and int((obj.mask > 0).sum() - small.sum()) >= 1:
            for j in torch.nonzero(small).flatten().tolist():
                removed[names[j]] = step
            obj.mask[small] = 0.0
        elif it < config.threshold_every:  # converged and nothing left to remove
            break
    seconds["sparse"] = round(time.perf_counter() - start, 3)
    phase_starts["refine"] = step
    start = time.perf_counter()
    lbfgs(config.refine_steps, lambda: obj(0.0)[0])
    seconds["refine"] = round(time.perf_counter() - start, 3)
    bar.close()
    model.eval()
    terms = {n: float(v) for n, v, m in zip(names, obj.xi.detach().cpu().tolist(),
                                           obj.mask.cpu().tolist()) if m > 0}
    alpha = terms.get("u_xx")
    rel = abs(alpha - problem.alpha) / problem.alpha if alpha is not None else None
    return DiscoveryResult(model=model, terms=terms, expression=format_pde(terms), alpha=alpha,
                           alpha_true=problem.alpha, rel_error=rel,
                           correct_terms=set(terms) == {"u_xx"}, removed=removed,
                           history=history, rel_l2_network=rel_l2_on_grid(model, problem),
                           seconds=seconds, phase_starts=phase_starts, config=asdict(config))
