r"""Solution distillation: a closed form :math:`u(x, t)` for a trained network.

1. Sample the network on a grid and run symbolic regression
   (:func:`physdistill.symbolic.regress`, operators ``+ - * sin cos exp``). Grid times are
   spaced quadratically, :math:`t_j = T (j/n)^2`, because mode :math:`k` decays like
   :math:`e^{-\alpha (k\pi/L)^2 t}`: a uniform grid leaves the fast modes a handful of rows
   (with ``sin(pi x) + 0.5 sin(3 pi x)`` the search then missed the second mode; with
   quadratic spacing it found it).
2. **Polish**: re-fit the chosen expression's float constants to the network on a finer grid
   (:func:`physdistill.symbolic.fit.fit_coefficients`), without the 6-significant-digit rounding
   the SR layer applies. The form stays the one SR chose.
3. Compare with the exact solution, mode by mode. The expression is rewritten as a sum of
   products (``TR8``: products of sines and cosines become sums, so
   :math:`\sin(\pi x)(\cos 2\pi x + \tfrac12) = \tfrac12 \sin 3\pi x`), each term
   :math:`a\, e^{-\lambda t} \sin(w x + \phi)` gives a frequency :math:`w` and a decay
   :math:`\lambda`, and each exact mode (:math:`k\pi/L`, :math:`\alpha (k\pi/L)^2`) is matched to
   the term nearest to it in relative terms. Also reported: the relative L2 error of the
   expression against the reference solution and against the network on the 256 x 201 grid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.heat.problem import HeatProblem, relative_l2
from physdistill.symbolic import Expression, ParetoFront, SRConfig

#: a mode counts as found when its frequency and decay are both within this relative error
MATCH_TOL = 0.01

DEFAULT_SR = SRConfig(operators=("+", "-", "*", "sin", "cos", "exp"), max_length=30,
                      population_size=500, generations=10_000, max_evaluations=1_000_000,
                      time_limit_s=90.0)


@dataclass(frozen=True)
class SolutionConfig:
    """Settings of solution distillation.

    Args:
        sample_grid: ``(nx, nt)`` grid on which the network is sampled for SR (default 48 x 41).
        polish_grid: ``(nx, nt)`` grid for the constant polish (default 128 x 101).
        sr: the search (default: operators ``+ - * sin cos exp``, at most 30 nodes, 500
            individuals, 1e6 evaluations, 90 s safety limit, seed 0).
        polish: re-fit the constants (default True).
    """

    sample_grid: tuple[int, int] = (48, 41)
    polish_grid: tuple[int, int] = (128, 101)
    sr: SRConfig = DEFAULT_SR
    polish: bool = True

    def __post_init__(self) -> None:
        for name in ("sample_grid", "polish_grid"):
            g = getattr(self, name)
            if not isinstance(g, tuple) or len(g) != 2 or any(
                    isinstance(v, bool) or not isinstance(v, int) or v < 4 for v in g):
                raise PhysDistillError(f"SolutionConfig.{name} must be two integers >= 4, got "
                                       f"{g!r}")
        if not isinstance(self.sr, SRConfig):
            raise PhysDistillError(f"SolutionConfig.sr must be an SRConfig, got "
                                   f"{type(self.sr).__name__}")


@dataclass
class SolutionResult:
    """A distilled solution.

    Attributes:
        expression: the polished expression in ``x, t``.
        front: the SR Pareto front (its chosen candidate is the unpolished expression).
        constants: one row per exact constant: ``name, exact, found, rel_error``.
        rel_l2_vs_exact: against the reference solution (exact, or finite differences when
            the IC is not a finite sine series; see ``HeatProblem.reference_kind``).
        rel_l2_vs_network: against the network.
        form_matches: every exact mode was found within :data:`MATCH_TOL`.
        seconds: wall time of the search and the polish.
    """

    expression: Expression
    front: ParetoFront
    constants: list[dict[str, Any]]
    rel_l2_vs_exact: float | None
    rel_l2_vs_network: float
    form_matches: bool
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        errors = [c["rel_error"] for c in self.constants if c["rel_error"] is not None]
        return {"expression": self.expression.text(8), "latex": self.expression.latex(6),
                "sr_expression": self.front.expression.text(8),
                "rel_l2_vs_exact": self.rel_l2_vs_exact,
                "rel_l2_vs_network": self.rel_l2_vs_network, "constants": self.constants,
                "max_constant_rel_error": max(errors) if errors else None,
                "form_matches": self.form_matches, "seconds": self.seconds}


def sample_grid(problem: HeatProblem, nx: int, nt: int) -> tuple[np.ndarray, np.ndarray]:
    """``X, T`` of shape ``(nt, nx)``: uniform in x, quadratic in t (see the module docstring)."""
    x = np.linspace(*problem.domain, nx)
    t = problem.T * np.linspace(0.0, 1.0, nt) ** 2
    return np.meshgrid(x, t)


def polish_constants(expression: Expression, X: np.ndarray, y: np.ndarray) -> Expression:
    """Least-squares re-fit of ``expression``'s float constants to inputs ``X`` (columns in
    ``expression.variables`` order) and targets ``y``; unchanged if that does not help."""
    from physdistill.symbolic.fit import fit_coefficients, parametrize, weighted_mse

    template, symbols, values = parametrize(expression.sympy())
    if not symbols:
        return expression
    env = {v: X[:, i] for i, v in enumerate(expression.variables)}
    theta, loss = fit_coefficients(template, symbols, env, y, initial=values,
                                   max_nfev=200 * (len(symbols) + 1))
    if not loss < weighted_mse(expression.evaluate(X), y, None):
        return expression
    fitted = template.xreplace({s: sympy.Float(float(v)) for s, v in zip(symbols, theta)})
    return Expression(fitted, expression.variables)


def mode_terms(expr: sympy.Expr) -> list[dict[str, float]]:
    r"""The terms :math:`a\, e^{-\lambda t} \sin(w x + \phi)` of ``expr`` after rewriting it as
    a sum of products (see the module docstring): ``[{"amplitude", "frequency", "decay"}]``.

    A term without an ``exp`` of ``t`` has decay 0; one without a sine or cosine of ``x`` has no
    frequency and is skipped.
    """
    from sympy.simplify.fu import TR8

    x, t = sympy.Symbol("x"), sympy.Symbol("t")
    out = []
    for term in sympy.Add.make_args(sympy.expand(TR8(sympy.expand(expr)))):
        amp, freq, decay = 1.0, None, 0.0
        for factor in sympy.Mul.make_args(term):
            if factor.is_Number:
                amp *= float(factor)
            elif isinstance(factor, (sympy.sin, sympy.cos)) and freq is None:
                w = _slope(factor.args[0], x)
                if w is None:
                    break
                freq = abs(w)
            elif isinstance(factor, sympy.exp):
                lam = _slope(factor.args[0], t)
                if lam is None:
                    break
                decay -= lam
            else:
                break
        else:
            if freq is not None:
                out.append({"amplitude": amp, "frequency": freq, "decay": decay})
    return out


def _slope(arg: sympy.Expr, var: sympy.Symbol) -> float | None:
    """``a`` if ``arg`` is ``a*var + b`` with numbers ``a != 0`` and ``b``, else ``None``."""
    if arg.free_symbols != {var} or not arg.is_polynomial(var):
        return None
    coeffs = sympy.Poly(arg, var).all_coeffs()
    if len(coeffs) != 2 or not all(c.is_Number for c in coeffs):
        return None
    return float(coeffs[0])


def compare_constants(expr: sympy.Expr, problem: HeatProblem) -> tuple[list[dict[str, Any]],
                                                                       bool]:
    """Match each exact mode to the nearest term of ``expr``; rows for the frequencies and
    decays, and whether every mode was found within :data:`MATCH_TOL`."""
    terms = mode_terms(expr)
    rows, ok = [], bool(problem.mode_constants())
    for mode in problem.mode_constants():
        def distance(term: dict[str, float], mode: dict[str, float] = mode) -> float:
            return (abs(term["frequency"] / mode["frequency"] - 1)
                    + abs(term["decay"] / mode["decay"] - 1))

        best = min(terms, key=distance, default=None)
        for kind, label in (("frequency", "k pi/L"), ("decay", "alpha (k pi/L)^2")):
            found = best[kind] if best is not None else None
            rel = abs(found / mode[kind] - 1) if found is not None else None
            ok = ok and rel is not None and rel < MATCH_TOL
            rows.append({"name": f"{kind} k={mode['k']} ({label})", "exact": mode[kind],
                         "found": found, "rel_error": rel})
    return rows, ok


def distill_solution(model: Any, problem: HeatProblem,
                     config: SolutionConfig | None = None) -> SolutionResult:
    """Distil the network's :math:`u(x, t)` into a closed form and compare it with the truth.

    Args:
        model: a trained network, points ``(n, 2) -> (n,)``.
        problem: the problem (reference solution, exact constants).
        config: :class:`SolutionConfig`.
    """
    config = config or SolutionConfig()
    from physdistill.heat.train import predict
    from physdistill.symbolic import regress

    seconds = {}
    X, T = sample_grid(problem, *config.sample_grid)
    start = time.perf_counter()
    front = regress(np.stack([X.ravel(), T.ravel()], 1), predict(model, X, T).ravel(),
                    names=["x", "t"], config=config.sr)
    seconds["sr"] = round(time.perf_counter() - start, 3)
    expr = front.expression
    if config.polish:
        start = time.perf_counter()
        Xp, Tp = sample_grid(problem, *config.polish_grid)
        expr = polish_constants(expr, np.stack([Xp.ravel(), Tp.ravel()], 1),
                                predict(model, Xp, Tp).ravel())
        seconds["polish"] = round(time.perf_counter() - start, 3)
    Xg, Tg = problem.grid()
    pred = expr.evaluate(np.stack([Xg.ravel(), Tg.ravel()], 1)).reshape(Xg.shape)
    constants, ok = compare_constants(expr.sympy(), problem)
    return SolutionResult(expression=expr, front=front, constants=constants,
                          rel_l2_vs_exact=relative_l2(pred, problem.reference(Xg, Tg)),
                          rel_l2_vs_network=relative_l2(pred, predict(model, Xg, Tg)),
                          form_matches=ok, seconds=seconds)
