r"""PDE discovery from a trained network: :math:`u_t = F(u, u_x, u_{xx}, \dots)`.

The network is differentiated with autograd at random points of the domain, giving
:math:`u, u_x, u_{xx}, u_{xxx}` and the target :math:`u_t`. Two ways to find :math:`F`:

1. **Sparse regression** (PDE-FIND): :math:`u_t \approx \Theta c` over a candidate library
   :math:`\Theta` (:mod:`physdistill.heat.library`), solved by pysindy's STLSQ optimizer on
   columns scaled to unit RMS, then refitted by least squares on the surviving terms.
2. **Symbolic regression** of :math:`u_t` on :math:`(u, u_x, u_{xx}, u_{xxx})` with
   :func:`physdistill.symbolic.regress`.

**Identifiability.** Before believing a result, each term of the found model is regressed on
the other library terms. If a term is (nearly) a combination of others — relative residual below
``collinearity_tol`` — the data cannot tell the model apart from the one where that term is
replaced by the combination, so ``identifiable`` is ``False``, the relation is reported (e.g.
``u_xx = -9.8696*u`` for the single-mode IC :math:`\sin\pi x`, where :math:`u_{xx} = -\pi^2 u`
holds exactly), ``alpha`` is not reported, and an :class:`IdentifiabilityWarning` is issued.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physdistill.errors import PhysDistillError
from physdistill.heat.library import TermLibrary, default_library
from physdistill.heat.problem import HeatProblem
from physdistill.pde.library import canonical_terms
from physdistill.pde.sparse import condition_number, term_dependencies, term_text
from physdistill.symbolic import SRConfig


class IdentifiabilityWarning(UserWarning):
    """The data cannot identify the PDE (collinear library terms)."""


#: the symbolic-regression route's search: polynomials in the fields, small budget
DEFAULT_SR = SRConfig(operators=("+", "-", "*"), max_length=15, population_size=300,
                      generations=10_000, max_evaluations=150_000, time_limit_s=60.0)


@dataclass(frozen=True)
class PDEConfig:
    """Settings of PDE discovery from a network.

    Args:
        n_points: random points in the domain where derivatives are taken (default 4000).
        threshold: STLSQ threshold on the coefficients of unit-RMS columns, target scaled to
            unit RMS (default 0.05): a term is kept only if it explains at least ~5 % of
            :math:`u_t`.
        ridge: STLSQ ridge penalty (default 1e-8).
        collinearity_tol: a term whose relative residual, when regressed on at most three
            other terms, is below this is declared collinear (default 1e-2).
        seed: seeds the points.
        sr: the search of the symbolic-regression route (default: ``+ - *``, at most 15 nodes).
    """

    n_points: int = 4000
    threshold: float = 0.05
    ridge: float = 1e-8
    collinearity_tol: float = 1e-2
    seed: int = 0
    sr: SRConfig = DEFAULT_SR

    def __post_init__(self) -> None:
        if isinstance(self.n_points, bool) or not isinstance(self.n_points, int) \
                or self.n_points < 20:
            raise PhysDistillError(f"PDEConfig.n_points must be an integer >= 20, got "
                                   f"{self.n_points!r}")
        for name in ("threshold", "collinearity_tol"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise PhysDistillError(f"PDEConfig.{name} must be in (0, 1), got {v!r}")
        if isinstance(self.ridge, bool) or not isinstance(self.ridge, (int, float)) \
                or not self.ridge >= 0:
            raise PhysDistillError(f"PDEConfig.ridge must be >= 0, got {self.ridge!r}")
        if not isinstance(self.sr, SRConfig):
            raise PhysDistillError(f"PDEConfig.sr must be an SRConfig, got "
                                   f"{type(self.sr).__name__}")


@dataclass
class PDEResult:
    """A discovered PDE and its comparison with the truth.

    Attributes:
        method: ``"sparse-regression"``, ``"symbolic-regression"`` or ``"sparsity-pinn"``.
        terms: ``{term: coefficient}`` of the model :math:`u_t = \\sum_k c_k \\theta_k`.
        expression: text such as ``"u_t = 0.4000*u_xx"`` (``None`` when not identifiable).
        identifiable: whether the data can identify the model (see the module docstring).
        alpha: the coefficient of ``u_xx`` if identifiable and present, else ``None``.
        alpha_true, rel_error: the truth and :math:`|\\alpha - \\alpha_{true}|/\\alpha_{true}`.
        correct_terms: the found terms are exactly ``{u_xx}``.
        dependencies: collinear relations found among the model's terms, as text.
        warnings: messages for the user (also issued as :class:`IdentifiabilityWarning`).
        alpha_if_heat: least-squares :math:`a` of :math:`u_t = a\\,u_{xx}` — meaningful only if
            the form of the PDE is known (reported for the non-identifiable case).
        candidate: the regression's raw model text, kept even when not identifiable.
        r2: :math:`R^2` of the model on :math:`u_t`.
        condition: condition number of the unit-RMS library.
        extra: method-specific data (the SR Pareto front, per-term residuals, ...).
    """

    method: str
    terms: dict[str, float]
    expression: str | None
    identifiable: bool
    alpha: float | None
    alpha_true: float
    rel_error: float | None
    correct_terms: bool
    dependencies: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    alpha_if_heat: float | None = None
    candidate: str = ""
    r2: float | None = None
    condition: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("method", "expression", "identifiable", "alpha",
                                           "alpha_true", "rel_error", "correct_terms",
                                           "terms", "dependencies", "warnings", "alpha_if_heat",
                                           "candidate", "r2", "condition")}
        d.update({k: v for k, v in self.extra.items() if k != "front"})
        return d


# ---------------------------------------------------------------------------------------------
# data from the network


def network_fields(model: Any, problem: HeatProblem, n_points: int = 4000, seed: int = 0,
                   order: int = 3) -> dict[str, np.ndarray]:
    """``u, u_t, u_x, .., u_x^order`` of ``model`` at uniform random points (autograd).

    Returns numpy float64 arrays of shape ``(n_points,)`` plus ``"x"`` and ``"t"``.
    """
    import torch

    from physdistill.pde.model import derivatives as autograd_derivatives

    rng = np.random.default_rng(seed)
    x = rng.uniform(*problem.domain, n_points)
    t = rng.uniform(0.0, problem.T, n_points)
    p = next(model.parameters())
    xt = torch.as_tensor(np.stack([x, t], 1), dtype=p.dtype, device=p.device)
    d = autograd_derivatives(model, xt, order=order, create_graph=False)
    out = {k: v.detach().double().cpu().numpy() for k, v in d.items()}
    out["x"], out["t"] = x, t
    return out


# ---------------------------------------------------------------------------------------------
# identifiability


_term_text = term_text
_condition = condition_number


def _finish(method: str, terms: dict[str, float], theta: np.ndarray, names: list[str],
            y: np.ndarray, problem: HeatProblem, tol: float,
            extra: dict[str, Any] | None = None) -> PDEResult:
    """Identifiability check, alpha and its error, warnings: shared by all methods."""
    present = [n for n in terms if n in names]
    deps = term_dependencies(theta, names, present, tol) if present else []
    identifiable = not deps and bool(terms)
    candidate = format_pde(terms)
    pred = sum(c * theta[:, names.index(n)] for n, c in terms.items() if n in names) \
        if present else np.zeros_like(y)
    r2 = float(1 - np.sum((y - pred) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-300))
    j = names.index("u_xx") if "u_xx" in names else None
    alpha_if_heat = None
    if j is not None:
        col = theta[:, j]
        alpha_if_heat = float(col @ y / max(col @ col, 1e-300))
    msgs = []
    if not terms:
        msgs.append("no term survived the sparse regression; lower the threshold")
    if deps:
        rel = "; ".join(f"{d['relation']} (relative residual {d['residual']:.1e})" for d in deps)
        alt = ""
        d0 = deps[0]
        if len(terms) == 1 and len(d0["coefficients"]) == 1:
            (other, c), = d0["coefficients"].items()
            c0 = terms[d0["term"]]
            alt = (f" So u_t = {_term_text(c0, d0['term'])} and u_t = {_term_text(c0 * c, other)}"
                   " fit these data equally well.")
        modes = problem.sine_series or ()
        why = (f"The initial condition is a single sine mode (k={modes[0][0]}), so "
               f"u_xx = -(k pi/L)^2 u = {-(modes[0][0] * math.pi / problem.length) ** 2:.6g}*u "
               "holds exactly for all t" if len(modes) == 1 else
               "Some library terms are (nearly) combinations of others on these data")
        msgs.append(f"the data cannot identify the PDE: on these data {rel}.{alt} {why}; use "
                    "an initial condition with several modes, e.g. --ic "
                    "'sin(pi*x)+0.5*sin(3*pi*x)'. The fitted coefficient of u_xx alone is "
                    f"{alpha_if_heat:.6g}, meaningful only if the form u_t = a*u_xx is known.")
    for m in msgs:
        warnings.warn(m, IdentifiabilityWarning, stacklevel=3)
    alpha = terms.get("u_xx") if identifiable else None
    rel_error = abs(alpha - problem.alpha) / problem.alpha if alpha is not None else None
    return PDEResult(method=method, terms=terms,
                     expression=candidate if identifiable else None,
                     identifiable=identifiable, alpha=alpha, alpha_true=problem.alpha,
                     rel_error=rel_error, correct_terms=set(terms) == {"u_xx"},
                     dependencies=[d["relation"] for d in deps], warnings=msgs,
                     alpha_if_heat=alpha_if_heat, candidate=candidate, r2=r2,
                     condition=_condition(theta), extra=extra or {})


def format_pde(terms: dict[str, float]) -> str:
    """``{"u_xx": 0.4}`` -> ``"u_t = 0.4*u_xx"`` (6 significant digits)."""
    if not terms:
        return "u_t = 0"
    return ("u_t = " + " + ".join(_term_text(c, n) for n, c in terms.items())).replace("+ -",
                                                                                       "- ")


# ---------------------------------------------------------------------------------------------
# 1. sparse regression


def sparse_regression(theta: np.ndarray, y: np.ndarray, names: list[str],
                      config: PDEConfig | None = None) -> dict[str, float]:
    """Sparse :math:`y \\approx \\Theta c` with pysindy's STLSQ on unit-RMS columns.

    Returns the non-zero coefficients in physical units, ``{term: c}``.
    """
    config = config or PDEConfig()
    import pysindy as ps

    scale = np.sqrt(np.mean(theta * theta, axis=0))
    scale[scale == 0] = 1.0
    ys = float(np.sqrt(np.mean(y * y))) or 1.0
    opt = ps.STLSQ(threshold=config.threshold, alpha=config.ridge, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.fit(theta / scale, y / ys)
    c = np.asarray(opt.coef_).reshape(-1)
    support = np.nonzero(c)[0]
    if len(support):  # unbiased refit on the support
        sol, *_ = np.linalg.lstsq(theta[:, support], y, rcond=None)
        return {names[j]: float(v) for j, v in zip(support, sol)}
    return {}


def discover_pde(model: Any, problem: HeatProblem, library: TermLibrary | None = None,
                 config: PDEConfig | None = None,
                 fields: dict[str, np.ndarray] | None = None) -> PDEResult:
    """Sparse-regression discovery of :math:`u_t = \\Theta c` from a trained network.

    Args:
        model: a torch module ``(n, 2) -> (n,)`` (a trained :class:`HeatPINN`).
        problem: the problem (domain, and the true alpha for the comparison).
        library: candidate terms (default :func:`default_library`).
        config: :class:`PDEConfig`.
        fields: precomputed :func:`network_fields` (to share them between methods).
    """
    config = config or PDEConfig()
    library = library or default_library()
    if fields is None:
        fields = network_fields(model, problem, config.n_points, config.seed,
                                max(library.max_order, 1))
    theta = library.transform(fields)
    names = library.names()
    terms = sparse_regression(theta, fields["u_t"], names, config)
    return _finish("sparse-regression", terms, theta, names, fields["u_t"], problem,
                   config.collinearity_tol,
                   {"library": names, "threshold": config.threshold})


# ---------------------------------------------------------------------------------------------
# 2. symbolic regression


def _term_column(name: str, fields: dict[str, np.ndarray]) -> np.ndarray:
    out = np.ones_like(fields["u"])
    if name == "1":
        return out
    for factor in name.split("*"):  # "u^2*u_x": factors with optional powers
        base, _, power = factor.partition("^")
        out = out * fields[base] ** int(power or 1)
    return out


def discover_pde_sr(model: Any, problem: HeatProblem, config: PDEConfig | None = None,
                    fields: dict[str, np.ndarray] | None = None,
                    library: TermLibrary | None = None) -> PDEResult:
    """Symbolic-regression discovery: :math:`u_t = F(u, u_x, u_{xx}, u_{xxx})`.

    Uses :func:`physdistill.symbolic.regress` with operators ``+ - *``. If the chosen expression
    is a polynomial in the fields, its monomials become library terms and go through the same
    identifiability check as the sparse regression (against ``library``, default
    :func:`default_library`, extended by any monomial it lacks).
    """
    from physdistill.symbolic import regress

    config = config or PDEConfig()
    library = library or default_library()
    if fields is None:
        fields = network_fields(model, problem, config.n_points, config.seed, 3)
    inputs = ["u", "u_x", "u_xx", "u_xxx"]
    X = np.stack([fields[n] for n in inputs], 1)
    front = regress(X, fields["u_t"], names=inputs, config=config.sr)
    expr = front.expression
    terms = canonical_terms(expr.sympy())
    extra = {"sr_expression": f"u_t = {expr.text(6)}", "front": front}
    if terms is None:  # not a polynomial in the fields: report as is
        return PDEResult("symbolic-regression", {}, None, False, None, problem.alpha, None,
                         False,
                         warnings=[("the symbolic-regression result is not a polynomial in "
                                    "u, u_x, u_xx, u_xxx; no coefficient comparison")],
                         candidate=f"u_t = {expr.text(6)}", extra=extra)
    terms = {k: v for k, v in terms.items() if v != 0}
    names = library.names()
    for n in terms:
        if n not in names:
            names = names + [n]
    theta = np.stack([_term_column(n, fields) for n in names], 1)
    y = fields["u_t"]
    ys = float(np.sqrt(np.mean(y * y))) or 1.0
    while terms:
        # SR rounds constants to 6 digits: refit them by least squares on the support, then drop
        # terms below the sparse-regression threshold (same unit-RMS scale), as STLSQ would
        idx = [names.index(n) for n in terms]
        sol, *_ = np.linalg.lstsq(theta[:, idx], y, rcond=None)
        terms = {n: float(v) for n, v in zip(terms, sol)}
        weight = {n: abs(c) * float(np.sqrt(np.mean(theta[:, names.index(n)] ** 2))) / ys
                  for n, c in terms.items()}
        small = [n for n, w in weight.items() if w < config.threshold]
        if not small:
            break
        extra.setdefault("dropped", []).extend(small)
        terms = {n: c for n, c in terms.items() if n not in small}
    return _finish("symbolic-regression", terms, theta, names, fields["u_t"], problem,
                   config.collinearity_tol, extra)
