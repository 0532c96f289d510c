r"""Compare a found expression with a known law that may have free coefficients.

``compare(found, "a*Fx + b*Fy + c", inputs)``:

1. **Fit.** The inputs (name -> training samples) are split at random: a fraction ``holdout``
   is kept aside; on the rest, the reference coefficients are fitted by least squares so that
   the reference matches the *found* expression (linear solve when the reference is linear in
   them, else ``scipy.optimize.least_squares`` with restarts).
2. **Numeric agreement**, on two point sets:

   * *in-distribution*: the held-out training samples;
   * *out-of-distribution*: ``ood_inputs`` if given, else points drawn from the training range
     widened by ``widen`` (default 2): a variable whose samples are all positive is drawn
     log-uniformly from ``[lo/widen, hi*widen]`` (all negative: mirrored), any other one
     uniformly from ``[c - widen*h, c + widen*h]`` (``c``, ``h``: centre and half-width of the
     range); only points with at least one variable outside its training range are kept.
     Variables listed in ``derived`` (e.g. ``{"r": "sqrt(dx**2 + dy**2)"}``) are computed from
     the others instead of being drawn, so dependent inputs stay consistent.

   On each set: :math:`R^2 = 1 - \sum (f - g)^2 / \sum (g - \bar g)^2` of the found
   :math:`f` against the fitted reference :math:`g`, and the maximum relative error
   :math:`\max |f - g| / \max(|g|, \epsilon\,\mathrm{RMS}(g))` with
   :math:`\epsilon` = ``rel_floor`` = 0.01 (the floor keeps zero crossings of the reference
   from dividing by zero). Points where the reference is undefined are dropped; points where
   only the found expression is undefined make the maximum relative error infinite.
3. **Symbolic agreement.** The difference ``found - fitted reference`` is put over one
   denominator and its numerator expanded into terms (each judged over the denominator, so
   rational functions equal up to a common factor cancel); the forms match if every term is
   negligible on the training inputs (its RMS is at most
   ``match_tol`` = 1e-3 times the RMS of the reference), first at full precision, then with
   every constant of both sides rounded to ``digits`` = 3 significant digits (for constants
   inside functions that the expansion cannot separate), or if sympy simplifies the rounded
   difference to 0. A different structure (``sin(x)`` for ``x``, a missing ``1/r``) leaves a
   term of the size of the signal, so it does not match. A fit that makes the reference constant
   (every input term's coefficient zero, as for a constant found expression) never matches.
4. **Verdict.** ``recovered`` is true when the forms match symbolically *and* the maximum
   relative error is below ``rel_tol`` (1 %) on both the in-distribution and the
   out-of-distribution points. The rule, with its numbers, is stored in ``Comparison.rule``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import parse_expression
from physdistill.symbolic.bounded import bounded
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.fit import fit_coefficients
from physdistill.symbolic.sympy_tools import plain_symbols, round_constants


@dataclass(frozen=True)
class Agreement:
    """Numeric agreement of found vs fitted reference on one point set."""

    r2: float
    max_rel_error: float
    n_points: int
    n_found_nonfinite: int


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare` (see the module docstring for every number)."""

    found: str
    reference: str
    fitted_reference: str
    coefficients: dict[str, float]
    in_distribution: Agreement
    out_of_distribution: Agreement
    symbolic_match: bool
    symbolic_detail: str
    recovered: bool
    rule: str

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("in_distribution", "out_of_distribution"):
            d[key] = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
                      for k, v in d[key].items()}
        return d


def _agreement(f: np.ndarray, g: np.ndarray, rel_floor: float) -> Agreement:
    ok_ref = np.isfinite(g)
    f, g = f[ok_ref], g[ok_ref]
    bad = ~np.isfinite(f)
    n = int(g.size)
    if n == 0:
        return Agreement(float("nan"), float("nan"), 0, 0)
    fg, gg = f[~bad], g[~bad]
    ss = float(np.sum((gg - gg.mean()) ** 2)) if gg.size else 0.0
    res = float(np.sum((fg - gg) ** 2))
    r2 = (1.0 - res / ss) if ss > 0 else (1.0 if res == 0 else float("-inf"))
    rms = float(np.sqrt(np.mean(g**2)))
    denom = np.maximum(np.abs(gg), rel_floor * rms if rms > 0 else 1e-300)
    mre = float(np.max(np.abs(fg - gg) / denom)) if gg.size else float("nan")
    if bad.any():
        mre = float("inf")
    return Agreement(r2, mre, n, int(bad.sum()))


def _ood_points(inputs: Mapping[str, np.ndarray], primary: Sequence[str],
                derived: Mapping[str, Expression], widen: float, n: int,
                rng: np.random.Generator, keep: Sequence[str] = ()) -> dict[str, np.ndarray]:
    m = 4 * n
    cols: dict[str, np.ndarray] = {}
    outside = np.zeros(m, dtype=bool)
    for name in primary:
        x = inputs[name]
        lo, hi = float(x.min()), float(x.max())
        if name in keep:
            cols[name] = rng.choice(x, m)
            continue
        if lo > 0:
            v = np.exp(rng.uniform(math.log(lo / widen), math.log(hi * widen), m))
        elif hi < 0:
            v = -np.exp(rng.uniform(math.log(-hi / widen), math.log(-lo * widen), m))
        else:
            c, h = (lo + hi) / 2, max((hi - lo) / 2, 1e-12)
            v = rng.uniform(c - widen * h, c + widen * h, m)
        outside |= (v < lo) | (v > hi)
        cols[name] = v
    keep = np.flatnonzero(outside)[:n]
    if keep.size < max(10, n // 10):
        keep = np.arange(n)
    cols = {k: v[keep] for k, v in cols.items()}
    for name, expr in derived.items():
        cols[name] = expr.evaluate(cols)
    return cols


def _over_one_denominator(diff: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """``(expanded numerator, denominator)`` of ``diff`` put over one denominator."""
    num, den = sympy.fraction(sympy.together(diff))
    return sympy.expand(num), den


def _term_check(diff: sympy.Expr, env: Mapping[str, np.ndarray], names: Sequence[str],
                scale: float, tol: float) -> tuple[bool, str]:
    """Whether every term of ``diff`` is small. ``diff`` is first put over one denominator and
    its numerator expanded, so that rational functions equal up to a common factor (e.g.
    ``43.9 x/(43.9 r + 0.439)`` and ``x/(r + 0.01)``) cancel, and each numerator term over the
    denominator is judged on its RMS."""
    if diff == 0:
        return True, "the difference is exactly 0"
    num, den = diff, sympy.Integer(1)
    try:  # bounded in size and time (bounded() gives None): judged as it is then
        parts = bounded(_over_one_denominator, diff, max_ops=300)
    except Exception:  # odd float expressions can fail to simplify; judge them as they are
        parts = None
    if parts is not None:
        num, den = parts
    if num == 0:
        return True, "the difference simplifies to 0"
    terms = num.args if num.is_Add else (num,)
    worst, worst_term = 0.0, None
    for t in terms:
        try:
            v = Expression(t / den, names).evaluate(env)
        except PhysDistillError:
            return False, f"residual term {t / den} cannot be evaluated"
        rms = float(np.sqrt(np.mean(v**2))) if np.all(np.isfinite(v)) else float("inf")
        if rms > worst or worst_term is None:
            worst, worst_term = rms, t / den
    ok = worst <= tol * scale
    return ok, (f"largest residual term {round_constants(worst_term, 3)} has RMS {worst:.3g} "
                f"({'<=' if ok else '>'} {tol:g} x RMS of the reference = {tol * scale:.3g})")


def compare(found: Any, reference: Any, inputs: Mapping[str, Any], *,
            coefficients: Sequence[str] | None = None,
            ood_inputs: Mapping[str, Any] | None = None,
            derived: Mapping[str, str] | None = None, keep: Sequence[str] = (),
            widen: float = 2.0,
            holdout: float = 0.25, n_ood: int = 2000, rel_tol: float = 0.01,
            rel_floor: float = 0.01, match_tol: float = 1e-3, digits: int = 3,
            seed: int = 0) -> Comparison:
    """Compare ``found`` with ``reference`` (see the module docstring for the method).

    Args:
        found: an :class:`~physdistill.symbolic.expr.Expression`, sympy expression or text.
        reference: sympy expression or text, e.g. ``"a*Fx + b*Fy + c"``.
        inputs: variable name -> training samples, arrays of equal length ``(n,)``.
        coefficients: names of the free coefficients of ``reference``; default: its free
            symbols that are not inputs.
        ood_inputs: explicit out-of-distribution samples (name -> array); default: generated.
        derived: name -> formula of other inputs, recomputed on generated OOD points.
        keep: inputs that generated OOD points draw from their observed values instead of
            widening: discrete ones, such as charges that are all +-1 (on which ``q`` and
            ``1/q`` are the same function, so no data can tell them apart).
        widen, holdout, n_ood, rel_tol, rel_floor, match_tol, digits, seed: see the module
            docstring.

    Returns:
        A :class:`Comparison`; ``to_dict()`` gives JSON-able output.

    Example:
        >>> x = np.linspace(1, 2, 200)
        >>> compare("3.0001*x**2", "a*x**2", {"x": x}).recovered
        True
    """
    if not isinstance(inputs, Mapping) or not inputs:
        raise PhysDistillError("inputs must be a non-empty mapping name -> array of samples")
    names = list(inputs)
    env = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in inputs.items()}
    sizes = {v.size for v in env.values()}
    if len(sizes) != 1:
        raise PhysDistillError(f"input arrays must have equal lengths, got "
                               f"{ {k: v.size for k, v in env.items()} }")
    n = sizes.pop()
    if n < 20:
        raise PhysDistillError(f"need at least 20 input samples to fit and hold out, got {n}")
    if not all(np.all(np.isfinite(v)) for v in env.values()):
        raise PhysDistillError("inputs contain NaN or inf; drop those samples")
    if not 0 < holdout < 1 or widen <= 1 or rel_tol <= 0 or match_tol <= 0:
        raise PhysDistillError(f"expected 0 < holdout < 1, widen > 1, rel_tol > 0, match_tol "
                               f"> 0; got holdout={holdout}, widen={widen}, rel_tol={rel_tol},"
                               f" match_tol={match_tol}")

    found_e = Expression(found, names) if not isinstance(found, Expression) else found
    extra = [v for v in found_e.variables if v not in env and
             sympy.Symbol(v) in found_e.sympy().free_symbols]
    if extra:
        raise PhysDistillError(f"found expression uses {extra}, which are not in inputs "
                               f"{names}")
    found_e = Expression(found_e.sympy(), names)
    if isinstance(reference, str):
        ref = parse_expression(reference, None, what="reference")
    elif isinstance(reference, Expression):
        ref = reference.sympy()
    elif isinstance(reference, sympy.Basic):
        ref = plain_symbols(reference)
    else:
        raise PhysDistillError(f"reference must be a sympy expression or text, got "
                               f"{type(reference).__name__}")
    free = sorted(s.name for s in ref.free_symbols)
    if coefficients is None:
        coefficients = [s for s in free if s not in env]
    coefficients = list(coefficients)
    unknown = [s for s in free if s not in env and s not in coefficients]
    if unknown:
        raise PhysDistillError(f"reference uses {unknown}, which are neither inputs {names} "
                               f"nor coefficients {coefficients}")
    clash = [c for c in coefficients if c in env]
    if clash:
        raise PhysDistillError(f"coefficients {clash} are also input names; rename them")
    coef_syms = [sympy.Symbol(c) for c in coefficients]
    Expression(ref, names + coefficients)  # whitelist check with a clear error

    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_hold = max(5, int(round(holdout * n)))
    hold, fit_idx = perm[:n_hold], perm[n_hold:]
    env_fit = {k: v[fit_idx] for k, v in env.items()}
    target = found_e.evaluate(env_fit)
    if not np.all(np.isfinite(target)):
        raise PhysDistillError("the found expression is not finite on every training input; "
                               "it cannot be compared there")
    theta, _ = fit_coefficients(ref, coef_syms, env_fit, target, seed=seed)
    coef_values = {c: float(t) for c, t in zip(coefficients, theta)}
    fitted = ref.xreplace({s: sympy.Float(float(t)) for s, t in zip(coef_syms, theta)})
    fitted_e = Expression(fitted, names)

    env_hold = {k: v[hold] for k, v in env.items()}
    in_dist = _agreement(found_e.evaluate(env_hold), fitted_e.evaluate(env_hold), rel_floor)

    if ood_inputs is not None:
        ood = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in ood_inputs.items()}
        missing = [k for k in names if k not in ood]
        if missing:
            raise PhysDistillError(f"ood_inputs lack {missing}")
    else:
        derived_e = {k: Expression(parse_expression(v, names, what=f"derived input {k!r}"))
                     for k, v in (derived or {}).items()}
        unknown = [k for k in derived_e if k not in env]
        if unknown:
            raise PhysDistillError(f"derived inputs {unknown} are not among the inputs {names}")
        primary = [k for k in names if k not in derived_e]
        for k, e in derived_e.items():
            chained = [v for v in e.variables if v in derived_e]
            if chained:
                raise PhysDistillError(f"derived input {k!r} uses other derived inputs "
                                       f"{chained}; write it in terms of {primary}")
        if set(keep) - set(primary):
            raise PhysDistillError(f"keep names {sorted(set(keep) - set(primary))} are not "
                                   f"among the primary inputs {primary}")
        ood = _ood_points(env, primary, derived_e, widen, n_ood, rng, keep)
    out_dist = _agreement(found_e.evaluate(ood), fitted_e.evaluate(ood), rel_floor)

    ref_vals = fitted_e.evaluate(env)
    scale = float(np.sqrt(np.mean(ref_vals**2))) or 1.0
    match, detail = _term_check(found_e.sympy() - fitted, env, names, scale, match_tol)
    varies = any(sympy.Symbol(k) in ref.free_symbols for k in names)
    if varies and float(np.std(ref_vals)) <= 1e-9 * scale:
        # e.g. a constant found expression: the coefficients switch every input term off
        match, detail = False, ("degenerate fit: the fitted reference is constant on the "
                                "inputs, so a constant found expression matches it trivially")
    elif not match:
        rounded_diff = round_constants(found_e.sympy(), digits) - round_constants(fitted, digits)
        m2, d2 = _term_check(rounded_diff, env, names, scale, match_tol)
        if m2:
            match, detail = True, f"after rounding constants to {digits} digits, {d2}"
        else:
            try:  # bounded in size and time: no match when it runs out
                simple = bounded(sympy.simplify, rounded_diff, max_ops=80, seconds=5.0)
            except Exception:  # simplify may fail on odd inputs: no match then
                simple = None
            zero = simple is not None and simple == 0
            if zero:
                match, detail = True, (f"after rounding constants to {digits} digits the "
                                       "difference simplifies to 0")
    rule = (f"recovered = symbolic_match and max_rel_error < {rel_tol:g} on both the "
            f"in-distribution (held-out) and the out-of-distribution points; relative error "
            f"|found - ref| / max(|ref|, {rel_floor:g} x RMS(ref)); symbolic_match: every term "
            f"of the expanded numerator of found - fitted reference, over its denominator, "
            f"has RMS <= {match_tol:g} x RMS(ref) on the "
            f"training inputs (at full precision or with constants rounded to {digits} "
            f"digits), or the rounded difference simplifies to 0; never when the fitted "
            f"reference is constant")
    recovered = bool(match and in_dist.max_rel_error < rel_tol
                     and out_dist.max_rel_error < rel_tol)
    return Comparison(found=found_e.text(), reference=str(ref),
                      fitted_reference=sympy.sstr(round_constants(fitted, 4), full_prec=False),
                      coefficients=coef_values, in_distribution=in_dist,
                      out_of_distribution=out_dist, symbolic_match=bool(match),
                      symbolic_detail=detail, recovered=recovered, rule=rule)
