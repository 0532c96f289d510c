r"""Sparse regression :math:`u_t \approx \Theta\xi`, its bootstrap ensemble, and the
identifiability check, for any term library (domain-free).

* :func:`stlsq`: pysindy's ``STLSQ`` on unit-RMS columns and a unit-RMS target (so the
  threshold is the share of :math:`u_t` a term must explain), then an unbiased least-squares
  refit on the support.
* :func:`ensemble_stlsq`: :func:`stlsq` on ``n_models`` bootstrap resamples of the rows
  (bagging, as pysindy's ``EnsembleOptimizer``); a term is kept when it is selected in at least
  ``inclusion`` of them; coefficients are refitted on all rows and their uncertainty is the
  standard deviation of the bootstrap refits on the kept support.
* :func:`term_dependencies`: whether a term is (nearly) a sparse combination of other terms on
  these data; if so the data cannot tell the model from one with the term swapped.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from physdistill.errors import PhysDistillError


def _scale(theta: np.ndarray) -> np.ndarray:
    s = np.sqrt(np.mean(theta * theta, axis=0))
    s[s == 0] = 1.0
    return s


def stlsq(theta: np.ndarray, y: np.ndarray, threshold: float = 0.05, ridge: float = 1e-8
          ) -> np.ndarray:
    r"""Sparse :math:`\xi` (physical units, zeros off the support), shape ``(p,)``.

    Shapes: ``theta (n, p)``, ``y (n,)``.
    """
    import pysindy as ps

    scale = _scale(theta)
    ys = float(np.sqrt(np.mean(y * y))) or 1.0
    opt = ps.STLSQ(threshold=threshold, alpha=ridge, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.fit(theta / scale, y / ys)
    support = np.nonzero(np.asarray(opt.coef_).reshape(-1))[0]
    xi = np.zeros(theta.shape[1])
    if len(support):
        sol, *_ = np.linalg.lstsq(theta[:, support], y, rcond=None)
        xi[support] = sol
    return xi


@dataclass
class SparseFit:
    """A sparse model :math:`u_t = \\sum_k \\xi_k \\theta_k` with bootstrap statistics.

    Attributes:
        terms: ``{name: coefficient}`` on the support; std: ``{name: bootstrap std}``;
        inclusion: ``{name: share of bootstrap models selecting it}`` for every library term;
        r2: :math:`R^2` on all rows.
    """

    terms: dict[str, float]
    std: dict[str, float] = field(default_factory=dict)
    inclusion: dict[str, float] = field(default_factory=dict)
    r2: float | None = None

    def text(self, digits: int = 6) -> str:
        return format_pde(self.terms, digits)


def ensemble_stlsq(theta: np.ndarray, y: np.ndarray, names: list[str], threshold: float = 0.05,
                   n_models: int = 50, inclusion: float = 0.6, seed: int = 0,
                   ridge: float = 1e-8) -> SparseFit:
    """Bagged :func:`stlsq` (see the module docstring)."""
    if theta.ndim != 2 or theta.shape != (len(y), len(names)):
        raise PhysDistillError(f"theta must be (n, {len(names)}) with n = len(y) = {len(y)}, got "
                               f"{theta.shape}")
    rng = np.random.default_rng(seed)
    n = len(y)
    picks = np.zeros(len(names))
    for _ in range(n_models):
        idx = rng.integers(0, n, n)
        picks += stlsq(theta[idx], y[idx], threshold, ridge) != 0
    share = picks / max(n_models, 1)
    support = np.nonzero(share >= inclusion)[0] if n_models else np.nonzero(
        stlsq(theta, y, threshold, ridge))[0]
    terms: dict[str, float] = {}
    std: dict[str, float] = {}
    r2 = None
    if len(support):
        A = theta[:, support]
        sol, *_ = np.linalg.lstsq(A, y, rcond=None)
        terms = {names[j]: float(v) for j, v in zip(support, sol)}
        boots = []
        for _ in range(n_models):
            idx = rng.integers(0, n, n)
            boots.append(np.linalg.lstsq(A[idx], y[idx], rcond=None)[0])
        if boots:
            sd = np.std(np.array(boots), axis=0)
            std = {names[j]: float(s) for j, s in zip(support, sd)}
        pred = A @ sol
        r2 = float(1 - np.sum((y - pred) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-300))
    return SparseFit(terms, std, {nm: float(s) for nm, s in zip(names, share)}, r2)


def term_dependencies(theta: np.ndarray, names: list[str], which: list[str],
                      tol: float = 1e-2, max_terms: int = 3) -> list[dict[str, Any]]:
    r"""For each term in ``which``: is it (nearly) a sparse combination of the other terms?

    Columns are scaled to unit RMS. For ``m = 1 .. max_terms`` every set of ``m`` other terms is
    tried (least squares); the sparsest, then smallest-residual set whose relative residual
    :math:`\|\theta_k - \Theta_S c\| / \|\theta_k\|` is below ``tol`` makes the term collinear.

    Returns:
        one dict per collinear term: ``term``, ``relation`` (text), ``coefficients``
        (``term = sum_j c_j theta_j``, physical units), ``residual``.
    """
    scale = _scale(theta)
    tn = theta / scale
    found: list[dict[str, Any]] = []
    covered: set[str] = set()
    for name in which:
        if name in covered:
            continue
        k = names.index(name)
        y = tn[:, k]
        others = [j for j in range(len(names)) if j != k]
        best = None
        for m in range(1, min(max_terms, len(others)) + 1):
            for S in combinations(others, m):
                A = tn[:, S]
                c, *_ = np.linalg.lstsq(A, y, rcond=None)
                resid = float(np.linalg.norm(y - A @ c) / max(np.linalg.norm(y), 1e-300))
                if resid < tol and (best is None or resid < best[2]):
                    best = (S, c, resid)
            if best is not None:
                break
        if best is None:
            continue
        S, c, resid = best
        coeffs = {names[j]: float(c[i] * scale[k] / scale[j]) for i, j in enumerate(S)}
        covered |= {name, *coeffs}
        if len(S) == 1 and S[0] > k:  # "u_xx = -9.87*u" rather than "u = -0.101*u_xx"
            (other, v), = coeffs.items()
            relation = f"{other} = {term_text(1.0 / v, name)}"
        else:
            relation = f"{name} = " + " + ".join(term_text(v, n) for n, v in coeffs.items())
        found.append({"term": name, "relation": relation.replace("+ -", "- "),
                      "coefficients": coeffs, "residual": resid})
    return found


def identifiability(theta: np.ndarray, names: list[str], terms: dict[str, float],
                    tol: float = 1e-2) -> tuple[bool, list[dict[str, Any]], str | None]:
    """``(identifiable, dependencies, message)`` for a found model on any library.

    The message (``None`` when identifiable) names each relation and what to do.
    """
    present = [n for n in terms if n in names]
    deps = term_dependencies(theta, names, present, tol) if present else []
    if not terms:
        return False, [], "no term survived the sparse regression; lower the threshold"
    if not deps:
        return True, [], None
    rel = "; ".join(f"{d['relation']} (relative residual {d['residual']:.1e})" for d in deps)
    return False, deps, (
        f"the data cannot identify the PDE: on these data {rel}, so models that swap these "
        "terms fit equally well; use data with richer dynamics (another initial condition, more "
        "modes or waves, a longer time span) or leave the dependent terms out of the library")


def condition_number(theta: np.ndarray) -> float:
    """Condition number of the unit-RMS library."""
    s = np.linalg.svd(theta / _scale(theta), compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else math.inf


def term_text(c: float, name: str, digits: int = 6) -> str:
    return f"{c:.{digits}g}" if name == "1" else f"{c:.{digits}g}*{name}"


def format_pde(terms: dict[str, float], digits: int = 6) -> str:
    """``{"u_xx": 0.4}`` -> ``"u_t = 0.4*u_xx"``."""
    if not terms:
        return "u_t = 0"
    body = " + ".join(term_text(c, n, digits) for n, c in terms.items())
    return ("u_t = " + body).replace("+ -", "- ")


def compare_terms(found: dict[str, float], truth: dict[str, float]) -> dict[str, Any]:
    """Support check and relative coefficient errors of ``found`` against ``truth``."""
    errors = {k: abs(found[k] - v) / abs(v) for k, v in truth.items() if k in found and v}
    return {"support_correct": set(found) == set(truth),
            "missing": sorted(set(truth) - set(found)),
            "spurious": sorted(set(found) - set(truth)),
            "rel_errors": errors,
            "max_rel_error": max(errors.values()) if errors and set(found) == set(truth)
            else None}
