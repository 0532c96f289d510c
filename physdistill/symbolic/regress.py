r"""``regress``: one symbolic-regression run, from data to a Pareto front with a chosen law.

Pipeline:

1. check the data (finite, shapes, weights >= 0) and the names;
2. leave out the ``config.trim`` fraction of rows whose target is farthest from its median,
   then subsample to ``config.max_samples`` rows (seeded) if there are more;
3. run the backend (pyoperon by default) ``config.restarts`` times with seeds ``seed, seed + 1,
   ...`` and read each front through the safe parser (the candidates are pooled); with
   ``config.stop_loss``, stop once a cleaned candidate (step 4) fits to that normalised loss;
4. clean every candidate: cheap sympy rewrites when they give a simpler supported form
   (:func:`~physdistill.symbolic.sympy_tools.tidy`); re-fit
   its constants in float64 with the sample weights (``config.refine_constants``); round the
   constants to 6 significant digits (``1.0000002*x`` -> ``x``) and drop additive terms that
   contribute almost nothing, each only if the loss does not rise by more than 0.1 % (or by
   more than a tenth of the selection floor); its loss is the weighted MSE

   .. math:: L = \sum_i w_i (f(x_i) - y_i)^2 \Big/ \sum_i w_i ;

5. keep the non-dominated candidates and choose one (:mod:`~physdistill.symbolic.selection`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import check_name
from physdistill.symbolic.backends import SRBackend, get_backend
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.expr import SYMPY_LOCK, Expression
from physdistill.symbolic.fit import fit_coefficients, parametrize, weighted_mse
from physdistill.symbolic.front import ParetoFront, build_front
from physdistill.symbolic.selection import DEFAULT_FACTOR, DEFAULT_FLOOR, check_rule
from physdistill.symbolic.sympy_tools import round_constants, tidy


def to_numpy(a: Any, what: str) -> np.ndarray:
    """Array-like or torch tensor (any device) -> float64 numpy array."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PhysDistillError(f"{what} must be numeric, got {type(a).__name__} ({exc})") from None


def check_data(X: Any, y: Any, names: Sequence[str] | None = None,
               sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, list[str],
                                                   np.ndarray | None]:
    """Validate ``X (n, d)``, ``y (n,)``, names and weights; return them as numpy."""
    X = to_numpy(X, "X")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise PhysDistillError(f"X must have shape (n_samples, n_features), got {X.shape}")
    y = to_numpy(y, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise PhysDistillError(f"y must have shape ({X.shape[0]},) to match X {X.shape}, got "
                               f"{y.shape}; fit one output at a time")
    if X.shape[0] < 3:
        raise PhysDistillError(f"need at least 3 samples, got {X.shape[0]}")
    for arr, what in ((X, "X"), (y, "y")):
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise PhysDistillError(f"{what} has {int(bad.sum())} non-finite values (first in "
                                   f"row {row}); drop or impute those rows")
    if names is None:
        names = [f"x{i}" for i in range(X.shape[1])]
    names = [check_name(n) for n in names]
    if len(names) != X.shape[1] or len(set(names)) != len(names):
        raise PhysDistillError(f"expected {X.shape[1]} unique names for the columns of X, got "
                               f"{names}")
    w = None
    if sample_weight is not None:
        w = to_numpy(sample_weight, "sample_weight").reshape(-1)
        if w.shape[0] != X.shape[0]:
            raise PhysDistillError(f"sample_weight has {w.shape[0]} entries, expected "
                                   f"{X.shape[0]} (one per row of X)")
        if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise PhysDistillError("sample_weight must be finite, >= 0, and not all zero")
    return X, y, names, w


def weighted_variance(y: np.ndarray, w: np.ndarray | None) -> float:
    if w is None:
        return float(np.var(y))
    mean = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mean) ** 2) / np.sum(w))


class _Cleaner:
    """Step 4 of the pipeline for one data set."""

    def __init__(self, X, y, names, w, variance, config: SRConfig, floor: float):
        self.env = {n: X[:, j] for j, n in enumerate(names)}
        self.names = names
        self.y, self.w, self.n = y, w, len(y)
        self.config = config
        self.slack = 0.1 * floor * (variance if variance > 0 else 1.0)
        self.rms_y = float(np.sqrt(np.mean(y * y))) or 1.0

    def loss(self, e: sympy.Expr) -> float:
        try:
            pred = Expression(e, self.names).evaluate(self.env)
        except PhysDistillError:
            return float("inf")
        return weighted_mse(pred, self.y, self.w)

    def accept(self, new: float, old: float) -> bool:
        return new <= old * (1 + 1e-3) + self.slack

    def __call__(self, expr: Expression) -> tuple[Expression, float]:
        e = tidy(expr.sympy(), max_ops=40)
        loss = self.loss(e)
        if self.config.refine_constants:
            e, loss = self._refit(e, loss)
        r = round_constants(e, 6)
        if r != e:
            new = self.loss(r)
            if self.accept(new, loss):
                e, loss = r, new
        chopped, loss = self._chop(e, loss)
        if chopped != e:
            e = chopped
            t = tidy(e, max_ops=40)
            if t != e:
                new = self.loss(t)
                if self.accept(new, loss):
                    e, loss = t, new
        return Expression(e, self.names), loss

    def without_offset(self, expr: Expression) -> tuple[Expression, float] | None:
        """``expr`` less its additive constant, the other constants refitted, or ``None``
        when it has none (:attr:`SRConfig.offset_variants`)."""
        e = expr.sympy()
        if not e.is_Add:
            return None
        offsets = [t for t in e.args if t.is_Number]
        if not offsets:
            return None
        r = e - sum(offsets)
        r, loss = self._refit(r, self.loss(r))
        if r.atoms(sympy.Float):
            r = round_constants(r, 6)
            loss = self.loss(r)
        try:
            return Expression(r, self.names), loss
        except PhysDistillError:
            return None

    def _refit(self, e: sympy.Expr, loss: float) -> tuple[sympy.Expr, float]:
        """``e`` with its constants refitted in float64, where that lowers the loss."""
        if not e.atoms(sympy.Float):
            return e, loss
        template, syms, vals = parametrize(e)
        theta, new = fit_coefficients(template, syms, self.env, self.y, self.w,
                                      initial=vals, max_nfev=20 * (len(syms) + 1))
        if new < loss:
            return template.xreplace({s: sympy.Float(float(t)) for s, t in zip(syms, theta)}), new
        return e, loss

    def _chop(self, e: sympy.Expr, loss: float) -> tuple[sympy.Expr, float]:
        """Drop additive terms whose RMS is below 1e-4 of RMS(y), if the loss allows."""
        if not e.is_Add:
            return e, loss
        for term in e.args:
            try:
                vals = Expression(term, self.names).evaluate(self.env)
            except PhysDistillError:
                continue
            if not np.all(np.isfinite(vals)) or np.sqrt(np.mean(vals**2)) > 1e-4 * self.rms_y:
                continue
            r = e - term
            new = self.loss(r)
            if self.accept(new, loss):
                e, loss = r, new
                if not e.is_Add:
                    break
        return e, loss


def central_rows(y: np.ndarray, trim: float) -> np.ndarray:
    """Mask of the rows kept by :attr:`SRConfig.trim`: all but the ``trim`` fraction whose
    ``|y - median(y)|`` is largest (ties at the cut are kept)."""
    dev = np.abs(y - np.median(y))
    return dev <= np.quantile(dev, 1.0 - trim)


def search_rows(y: np.ndarray, config: SRConfig) -> np.ndarray:
    """Indices of the rows a search of ``y`` sees and its front's losses are measured on: the
    rows :attr:`SRConfig.trim` keeps, then a seeded subsample of
    :attr:`SRConfig.max_samples` of them."""
    rows = np.flatnonzero(central_rows(y, config.trim)) if config.trim > 0 \
        else np.arange(len(y))
    if config.max_samples is not None and len(rows) > config.max_samples:
        rows = rows[np.sort(np.random.default_rng(config.seed).choice(
            len(rows), config.max_samples, replace=False))]
    return rows


def _agreeing(choices: list[tuple[int, np.ndarray]], scale: float) -> int:
    """How many of the restarts' choices equal the last one (``SRConfig.stop_agree``)."""
    c, v = choices[-1]
    if not np.all(np.isfinite(v)):
        return 1
    return sum(1 for ci, vi in choices if ci == c and np.all(np.isfinite(vi))
               and float(np.sqrt(np.mean((vi - v) ** 2))) <= 1e-3 * scale)


def regress(X: Any, y: Any, names: Sequence[str] | None = None, *,
            operators: Sequence[str] | None = None, config: SRConfig | None = None,
            backend: str | SRBackend = "operon", sample_weight: Any = None,
            rule: str = "best", complexity: int | None = None,
            factor: float = DEFAULT_FACTOR, floor: float = DEFAULT_FLOOR,
            **options: Any) -> ParetoFront:
    """Find closed-form expressions ``y ~ f(X)``; return the Pareto front with one chosen.

    Args:
        X: inputs, shape ``(n, d)`` (numpy, list or torch tensor on any device).
        y: target, shape ``(n,)``.
        names: the ``d`` variable names (default ``x0 .. x{d-1}``).
        operators: shortcut for ``config.operators``, e.g. ``("+", "-", "*", "/", "sin")``.
        config: an :class:`~physdistill.symbolic.config.SRConfig` (default: ``SRConfig()``).
        backend: ``"operon"`` (default), ``"pysr"``, another registered name, or an instance.
        sample_weight: non-negative weights, shape ``(n,)``.
        rule, complexity, factor, floor: how to choose on the front
            (see :mod:`physdistill.symbolic.selection`).
        **options: any other :class:`SRConfig` field, e.g. ``seed=1, time_limit_s=5``.

    Returns:
        A :class:`~physdistill.symbolic.front.ParetoFront`; ``front.expression`` is the choice.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (200, 2))
        >>> front = regress(X, X[:, 0] * X[:, 1], ["a", "b"], time_limit_s=2)
        >>> str(front.expression)
        'a*b'
    """
    config = config or SRConfig()
    if not isinstance(config, SRConfig):
        raise PhysDistillError(f"config must be an SRConfig, got {type(config).__name__}")
    if operators is not None:
        options["operators"] = tuple(operators)
    if options:
        config = config.replace(**options)
    engine = get_backend(backend)
    if complexity is None:
        check_rule(rule, factor, floor)
    X, y, names, w = check_data(X, y, names, sample_weight)
    n_total = X.shape[0]
    rows = search_rows(y, config)
    n_trimmed = int(n_total - central_rows(y, config.trim).sum()) if config.trim > 0 else 0
    X, y = X[rows], y[rows]
    w = None if w is None else w[rows]
    variance = weighted_variance(y, w)
    t0 = time.perf_counter()
    found: dict[str, Expression] = {}
    items: list[tuple[Expression, float]] = []
    clean = _Cleaner(X, y, names, w, variance, config, floor)
    searches, clean_s = 0, 0.0
    cleaned: dict[str, tuple[Expression, float]] = {}
    choices: list[tuple[int, np.ndarray]] = []  # each restart's own choice: complexity, values
    agreed = False
    for k in range(config.restarts):
        run = config if k == 0 or config.seed is None else config.replace(seed=config.seed + k)
        own = []
        t1 = time.perf_counter()
        for e in engine.search(X, y, names, run, w):
            if str(e) not in cleaned:
                with SYMPY_LOCK:
                    cleaned[str(e)] = clean(e)
                    variant = clean.without_offset(cleaned[str(e)][0]) \
                        if config.offset_variants else None
                found[str(e)] = e
                items.append(cleaned[str(e)])
                if variant is not None:
                    items.append(variant)
            own.append(cleaned[str(e)])
        searches += 1
        clean_s += time.perf_counter() - t1
        if config.stop_loss is not None and items and \
                min(loss for _, loss in items) <= config.stop_loss * max(variance, 1e-300):
            break
        if config.stop_agree is not None and own:
            with SYMPY_LOCK:
                pick = build_front(own, variance, rule, complexity=complexity, factor=factor,
                                   floor=floor).expression
                values = pick.evaluate(clean.env)
            choices.append((pick.complexity, values))
            if _agreeing(choices, clean.rms_y) >= config.stop_agree:
                agreed = True
                break
    with SYMPY_LOCK:
        meta = {"n_samples": int(X.shape[0]), "n_total": int(n_total), "n_trimmed": n_trimmed,
                "restarts": config.restarts, "searches": searches, "agreed": agreed,
                "search_seconds": round(time.perf_counter() - t0 - clean_s, 3),
                "clean_seconds": round(clean_s, 3),
                "seed": config.seed, "weighted": w is not None}
        return build_front(items, variance, rule, complexity=complexity, factor=factor,
                           floor=floor, backend=engine.name, meta=meta)


def regress_columns(X: Any, Y: Any, names: Sequence[str] | None = None, *,
                    config: SRConfig | None = None, backend: str | SRBackend = "operon",
                    rule: str = "best", factor: float = DEFAULT_FACTOR,
                    n_jobs: int | None = None, offsets: Sequence[int] | None = None
                    ) -> list[ParetoFront]:
    """:func:`regress` of every column of ``Y (n, m)`` on ``X``: column ``d`` is searched with
    seed ``config.seed + offsets[d]`` (default ``offsets[d] = d``); independent columns run in threads when the backend allows it
    (pyoperon), the cores split between them.

    Args:
        n_jobs: columns fitted at once (default ``min(m, cores)``).

    Returns:
        One front per column of ``Y``, in order.
    """
    from concurrent.futures import ThreadPoolExecutor

    cfg = config if config is not None else SRConfig()
    if not isinstance(cfg, SRConfig):
        raise PhysDistillError(f"config must be an SRConfig, got {type(cfg).__name__}")
    Y = to_numpy(Y, "Y")
    if Y.ndim != 2 or Y.shape[1] < 1:
        raise PhysDistillError(f"Y must have shape (n_samples, n_outputs), got {Y.shape}")
    engine = get_backend(backend)
    m = Y.shape[1]
    offsets = list(range(m)) if offsets is None else [int(o) for o in offsets]
    if len(offsets) != m:
        raise PhysDistillError(f"offsets has {len(offsets)} entries; Y has {m} columns")
    jobs = max(1, min(n_jobs or min(m, cfg.threads), m)) if engine.parallel_safe else 1
    threads = max(1, cfg.threads // jobs)

    def fit(d: int) -> ParetoFront:
        c = cfg.replace(n_threads=threads, seed=None if cfg.seed is None else cfg.seed + offsets[d])
        return regress(X, Y[:, d], names, config=c, backend=engine, rule=rule, factor=factor)

    if jobs > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(fit, range(m)))
    return [fit(d) for d in range(m)]
