r"""PDE discovery from measured data through a network (PINN-SR / DeePyMoD style).

1. **Fit** a tanh network :math:`\hat u(x, t)` to the samples (any layout: grid or scattered
   points), on standardised values, Adam then L-BFGS, keeping the weights with the lowest loss
   on a held-out ``validation`` share of the samples (so noise is not fitted).
2. **Library**: :math:`u_t` and :math:`\Theta` (default PDE-FIND's
   :math:`\{1, u, u^2\} \times \{1, u_x, u_{xx}, u_{xxx}\}`) from autograd derivatives of
   :math:`\hat u` at ``n_points`` random points of the interior (``margin`` trimmed at each
   edge, where a fit has no data beyond it).
   Or, with ``weak`` set, the **weak form** (:mod:`physdistill.pde.weak`): :math:`u` and
   :math:`u_x` of :math:`\hat u` on a uniform grid of the interior, integrated against
   compact test functions, so no second or third network derivative enters.
3. **Sparse regression**: bootstrap-ensembled STLSQ (:func:`~physdistill.pde.sparse.ensemble_stlsq`):
   support by inclusion share, coefficients refitted, bootstrap standard deviations.
4. **Physics refinement** (``physics_rounds``): the network is trained further on data +
   :math:`w\,\overline{(u_t - \Theta_S\xi)^2}` with :math:`\xi` on the support trainable
   (normalised by the fixed RMS of :math:`u_t`), then steps 2-3 run again. This denoises the
   derivatives the data fit alone leaves rough.
5. **Identifiability** on the final library (:func:`~physdistill.pde.sparse.identifiability`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from physdistill.errors import PhysDistillError
from physdistill.pde.data import MeasuredData
from physdistill.pde.library import TermLibrary, pdefind_library
from physdistill.pde.model import FieldNet, NetConfig, derivatives
from physdistill.pde.sparse import (
    SparseFit,
    compare_terms,
    condition_number,
    ensemble_stlsq,
    format_pde,
    identifiability,
)
from physdistill.pde.train import run_lbfgs
from physdistill.pde.weak import WeakConfig, needed_order, weak_system


@dataclass(frozen=True)
class DiscoveryConfig:
    """Settings of discovery from data.

    Args:
        width, depth: the fitting network (default 2-[32]x4-1).
        fit_adam, fit_lbfgs, lr: data-fit budgets (default 500 Adam at 2e-3, 1000 L-BFGS).
        validation: held-out share of samples for early stopping (default 0.1).
        n_points: derivative points (default 10000); margin: trimmed share per edge (0.05).
        degree, order: PDE-FIND library (default 2, 3) unless a library is passed.
        threshold: STLSQ threshold on unit-RMS columns/target (default 0.05).
        ensemble, inclusion: bootstrap models and the share needed to keep a term (50, 0.6).
        physics_rounds, physics_steps, physics_weight, collocation: refinement (default 1
            round of 0 L-BFGS iterations, i.e. off; weight 1, 4000 points). It helps the strong
            form (300 iterations) and hurts the weak one, which needs no smoother derivatives
            (``benchmarks/pde_discovery.py``).
        collinearity_tol: identifiability tolerance (default 1e-2).
        weak: :class:`~physdistill.pde.weak.WeakConfig` for the weak form (default), or
            ``None`` for the strong form on autograd derivatives at ``n_points`` points.
        seed, dtype, device, progress.
    """

    width: int = 32
    depth: int = 4
    fit_adam: int = 500
    fit_lbfgs: int = 1000
    lr: float = 2e-3
    validation: float = 0.1
    n_points: int = 10000
    margin: float = 0.05
    degree: int = 2
    order: int = 3
    threshold: float = 0.05
    ensemble: int = 50
    inclusion: float = 0.6
    physics_rounds: int = 1
    physics_steps: int = 0
    physics_weight: float = 1.0
    collocation: int = 4000
    collinearity_tol: float = 1e-2
    weak: WeakConfig | None = field(default_factory=WeakConfig)
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    progress: bool = False

    def __post_init__(self) -> None:
        for name, low in (("width", 1), ("depth", 1), ("fit_adam", 0), ("fit_lbfgs", 0),
                          ("n_points", 20), ("ensemble", 0), ("physics_rounds", 0),
                          ("physics_steps", 0), ("collocation", 20), ("seed", 0),
                          ("degree", 1), ("order", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise PhysDistillError(f"DiscoveryConfig.{name} must be an integer >= {low}, "
                                       f"got {v!r}")
        for name, lo, hi in (("validation", 0, 0.5), ("margin", 0, 0.25), ("threshold", 0, 1),
                             ("inclusion", 0, 1), ("collinearity_tol", 0, 1), ("lr", 0, 1),
                             ("physics_weight", 0, math.inf)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi \
                    or (name in ("threshold", "lr", "inclusion") and v == 0):
                raise PhysDistillError(f"DiscoveryConfig.{name} must be in [{lo}, {hi}] "
                                       f"(threshold, lr, inclusion > 0), got {v!r}")
        if self.weak is not None and not isinstance(self.weak, WeakConfig):
            raise PhysDistillError(f"DiscoveryConfig.weak must be a WeakConfig or None, got "
                                   f"{self.weak!r}")
        if self.dtype not in ("float64", "float32"):
            raise PhysDistillError(f"DiscoveryConfig.dtype must be 'float64' or 'float32', got "
                                   f"{self.dtype!r}")


class DataNet(torch.nn.Module):
    """``u = mean + std * FieldNet(x, t)``: a network on standardised values."""

    def __init__(self, data: MeasuredData, config: DiscoveryConfig) -> None:
        super().__init__()
        (x0, x1), (t0, t1) = data.domain, data.time_span
        if not (x1 > x0 and t1 > t0):
            raise PhysDistillError(f"{data.source or 'data'}: the samples must span an interval "
                                   f"in x and in t, got x in [{x0}, {x1}], t in [{t0}, {t1}]")
        self.field = FieldNet((x0, x1), t1 - t0, NetConfig(config.width, config.depth),
                              t0=t0)
        self.register_buffer("mean", torch.tensor(float(np.mean(data.u))))
        self.register_buffer("std", torch.tensor(float(np.std(data.u)) or 1.0))

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        return self.mean + self.std * self.field(xt)


@dataclass
class DiscoveryResult:
    """What :func:`discover` found.

    Attributes:
        fit: the final :class:`SparseFit` (terms, bootstrap std, inclusion shares, R^2);
        first: the fit before physics refinement; expression: its text, or ``None`` when
        not identifiable; identifiable, dependencies, warnings: the identifiability verdict;
        truth: :func:`compare_terms` against the true terms when given; condition: of the
        unit-RMS library; library: its term names; history: losses; seconds: per stage;
        model: the fitted network.
    """

    fit: SparseFit
    first: SparseFit
    expression: str | None
    identifiable: bool
    dependencies: list[str]
    warnings: list[str]
    library: list[str]
    condition: float
    truth: dict[str, Any] | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    model: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "candidate": format_pde(self.fit.terms),
                "terms": self.fit.terms, "std": self.fit.std, "inclusion": self.fit.inclusion,
                "r2": self.fit.r2, "before_refinement": format_pde(self.first.terms),
                "identifiable": self.identifiable, "dependencies": self.dependencies,
                "warnings": self.warnings, "library": self.library,
                "condition": self.condition, "truth": self.truth, "seconds": self.seconds}


def _tensor(a: Any, like: torch.Tensor | torch.dtype) -> torch.Tensor:
    dtype = like if isinstance(like, torch.dtype) else like.dtype
    return torch.as_tensor(np.asarray(a, float), dtype=dtype)


def fit_network(data: MeasuredData, config: DiscoveryConfig,
                history: dict[str, list[float]] | None = None) -> DataNet:
    """Step 1 of the module docstring; returns the network with the best validation loss."""
    torch.manual_seed(config.seed)
    dt = torch.float64 if config.dtype == "float64" else torch.float32
    model = DataNet(data, config).to(dtype=dt)
    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(len(data))
    n_val = round(config.validation * len(data))
    val, tr = perm[:n_val], perm[n_val:]
    xt, u = _tensor(data.xt, dt), _tensor((data.u - np.mean(data.u)) / (np.std(data.u) or 1), dt)
    hist = history if history is not None else {}
    hist.setdefault("fit_step", [])
    hist.setdefault("fit_train", [])
    hist.setdefault("fit_val", [])

    def loss(idx: np.ndarray) -> torch.Tensor:
        return ((model.field(xt[idx]) - u[idx]) ** 2).mean()

    best = {"val": math.inf, "state": None}

    def check(step: int) -> None:
        with torch.no_grad():
            lt = float(loss(tr))
            lv = float(loss(val)) if n_val else lt
        hist["fit_step"].append(step)
        hist["fit_train"].append(lt)
        hist["fit_val"].append(lv)
        if lv < best["val"]:
            best["val"] = lv
            best["state"] = {k: v.clone() for k, v in model.state_dict().items()}

    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.1 ** (1 / max(config.fit_adam, 1)))
    for step in range(1, config.fit_adam + 1):
        opt.zero_grad(set_to_none=True)
        value = loss(tr)
        value.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == config.fit_adam:
            check(step)
    step = config.fit_adam
    if config.fit_lbfgs:
        for it in run_lbfgs(list(model.parameters()), lambda: loss(tr), config.fit_lbfgs, 50):
            step += it
            check(step)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return model.eval()


def network_fields(model: torch.nn.Module, data: MeasuredData, n: int, order: int,
                   margin: float, seed: int) -> dict[str, np.ndarray]:
    """``u, u_t, u_x, ..`` (numpy, ``(n,)`` each) at random interior points of the data box."""
    rng = np.random.default_rng(seed + 1)
    (x0, x1), (t0, t1) = data.domain, data.time_span
    mx, mt = margin * (x1 - x0), margin * (t1 - t0)
    pts = np.stack([rng.uniform(x0 + mx, x1 - mx, n), rng.uniform(t0 + mt, t1 - mt, n)], 1)
    p = next(model.parameters())
    out: dict[str, list[np.ndarray]] = {}
    for i in range(0, n, 4096):
        d = derivatives(model, _tensor(pts[i:i + 4096], p), order, create_graph=False)
        for k, v in d.items():
            out.setdefault(k, []).append(v.cpu().double().numpy())
    fields = {k: np.concatenate(v) for k, v in out.items()}
    fields["x"], fields["t"] = pts[:, 0], pts[:, 1]
    return fields


def grid_fields(model: torch.nn.Module, data: MeasuredData, order: int, margin: float,
                shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``x (nx,)``, ``t (nt,)`` and ``u, u_x, ..`` (each ``(nx, nt)``) of the network on a
    uniform ``shape`` grid of the data box, ``margin`` trimmed at each edge."""
    (x0, x1), (t0, t1) = data.domain, data.time_span
    mx, mt = margin * (x1 - x0), margin * (t1 - t0)
    x, t = np.linspace(x0 + mx, x1 - mx, shape[0]), np.linspace(t0 + mt, t1 - mt, shape[1])
    X, T = np.meshgrid(x, t, indexing="ij")
    pts = np.stack([X.ravel(), T.ravel()], 1)
    p = next(model.parameters())
    out: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(pts), 8192):
        d = derivatives(model, _tensor(pts[i:i + 8192], p), max(order, 1), create_graph=False)
        for k, v in d.items():
            out.setdefault(k, []).append(v.cpu().double().numpy())
    return x, t, {k: np.concatenate(v).reshape(shape) for k, v in out.items()}


def _refine(model: DataNet, data: MeasuredData, library: TermLibrary, fit: SparseFit,
            config: DiscoveryConfig, history: dict[str, list[float]]) -> None:
    """Step 4: data + residual of the found model, with its coefficients trainable."""
    names = library.names()
    support = [n for n in names if n in fit.terms]
    if not support:
        return
    p = next(model.parameters())
    rng = np.random.default_rng(config.seed + 2)
    (x0, x1), (t0, t1) = data.domain, data.time_span
    col = _tensor(np.stack([rng.uniform(x0, x1, config.collocation),
                            rng.uniform(t0, t1, config.collocation)], 1), p)
    xt = _tensor(data.xt, p)
    u = _tensor((data.u - np.mean(data.u)) / (np.std(data.u) or 1), p)
    xi = torch.nn.Parameter(_tensor([fit.terms[n] for n in support], p))
    idx = [names.index(n) for n in support]
    with torch.no_grad():
        d = derivatives(model, col, max(library.max_order, 1), create_graph=False)
        ut_scale = float(torch.sqrt((d["u_t"] ** 2).mean())) or 1.0

    def loss() -> torch.Tensor:
        d = derivatives(model, col, max(library.max_order, 1))
        theta = library.transform(d)[:, idx]
        r = (d["u_t"] - theta @ xi) / ut_scale
        return ((model.field(xt) - u) ** 2).mean() + config.physics_weight * (r * r).mean()

    params = [*model.parameters(), xi]
    for it in run_lbfgs(params, loss, config.physics_steps, 50):
        history.setdefault("physics_step", []).append(it)
        history.setdefault("physics_loss", []).append(float(loss().detach()))
    model.eval()


def discover(data: MeasuredData, config: DiscoveryConfig | None = None,
             library: TermLibrary | None = None,
             truth: dict[str, float] | None = None) -> DiscoveryResult:
    """Discover :math:`u_t = \\Theta\\xi` from ``data`` (see the module docstring).

    Args:
        data: the samples; config: settings; library: candidate terms (default PDE-FIND's
            with ``config.degree``, ``config.order``); truth: ``{term: coefficient}`` of the
            true PDE, for the comparison.
    """
    config = config or DiscoveryConfig()
    library = library or pdefind_library(config.degree, config.order)
    names = library.names()
    history: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    model = fit_network(data, config, history)
    seconds["fit"] = round(time.perf_counter() - start, 3)

    def sparse() -> tuple[SparseFit, np.ndarray, np.ndarray]:
        if config.weak is not None:
            x, t, g = grid_fields(model, data, needed_order(library), config.margin,
                                  config.weak.grid)
            theta, ut = weak_system(x, t, g, library, config.weak)
        else:
            f = network_fields(model, data, config.n_points, max(library.max_order, 1),
                               config.margin, config.seed)
            theta, ut = library.transform(f), f["u_t"]
        return (ensemble_stlsq(theta, ut, names, config.threshold, config.ensemble,
                               config.inclusion, config.seed), theta, ut)

    start = time.perf_counter()
    first, theta, _ = sparse()
    fit = first
    seconds["sparse"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    for _ in range(config.physics_rounds if config.physics_steps else 0):
        _refine(model, data, library, fit, config, history)
        fit, theta, _ = sparse()
    seconds["refine"] = round(time.perf_counter() - start, 3)
    ok, deps, msg = identifiability(theta, names, fit.terms, config.collinearity_tol)
    return DiscoveryResult(
        fit=fit, first=first, expression=format_pde(fit.terms) if ok else None,
        identifiable=ok, dependencies=[d["relation"] for d in deps],
        warnings=[msg] if msg else [], library=names, condition=condition_number(theta),
        truth=compare_terms(fit.terms, truth) if truth is not None else None,
        history=history, seconds=seconds, model=model)


def pdefind(data: MeasuredData, library: TermLibrary | None = None, threshold: float = 0.05,
            ensemble: int = 50, inclusion: float = 0.6, seed: int = 0, periodic: bool = False,
            truth: dict[str, float] | None = None, weak: WeakConfig | None = None
            ) -> dict[str, Any]:
    """The PDE-FIND anchor: pysindy's ``FiniteDifference`` derivatives of gridded data, then the
    same ensembled STLSQ as :func:`discover` (only the derivatives differ). With ``weak`` the
    same data enter the weak form instead (WSINDy: only ``u`` and its finite-difference
    ``u_x``).

    Raises:
        PhysDistillError: the data are not a full grid.
    """
    import pysindy as ps

    if data.grid is None:
        raise PhysDistillError("PDE-FIND needs gridded data (finite differences); these are "
                               "scattered points")
    library = library or pdefind_library()
    x, t, U = data.grid
    start = time.perf_counter()
    fields = {"u": U, "u_t": ps.FiniteDifference(d=1, axis=1)._differentiate(U, t)}
    for k in range(1, library.max_order + 1):
        fields["u_" + "x" * k] = ps.FiniteDifference(d=k, axis=0, periodic=periodic
                                                     )._differentiate(U, x)
    if weak is not None:
        theta, ut = weak_system(x, t, fields, library, weak)
    else:
        flat = {k: np.asarray(v).ravel() for k, v in fields.items()}
        theta, ut = library.transform(flat), flat["u_t"]
    fit = ensemble_stlsq(theta, ut, library.names(), threshold, ensemble, inclusion, seed)
    return {"fit": fit, "expression": format_pde(fit.terms),
            "truth": compare_terms(fit.terms, truth) if truth is not None else None,
            "seconds": round(time.perf_counter() - start, 3)}
