r"""Central-force structure: rotate vector messages into the edge frame, regress one scalar.

Assumption (stated, and checked on the data): the messages :math:`m_e \in \mathbb R^k` of an
edge ``e`` with displacement :math:`d_e \in \mathbb R^{dim}` are a fixed affine map of a
*central* vector, one along the edge,

.. math::
    m_e = A\, s(x_e)\, d_e + c, \qquad A \in \mathbb R^{k \times dim},

where the scalar :math:`s` depends only on edge scalars :math:`x_e` (distance, masses,
charges, ...), not on the direction of :math:`d_e`. Every pairwise central interaction has this
form; a message that also carries a component across the edge (a torque, a velocity-dependent
drag, a curl) does not.

Steps (:func:`fit_central`):

1. **Alignment** (:func:`align`), a linear fit that makes no reference to any law: find ``W``
   ``[dim, k]`` and ``b`` ``[dim]`` such that :math:`v_e = W m_e - b` is parallel to
   :math:`d_e` on every edge. The part of :math:`v_e` across the edge, :math:`(I - \hat d_e
   \hat d_e^T) v_e`, is linear in ``(W, b)``, so minimising its energy relative to the energy
   of :math:`v_e` is a generalised symmetric eigenproblem; its smallest eigenvalue is the
   fraction of the energy across the edge. Edges are trimmed by that residual and the fit is
   repeated (a robust fit: a network's worst messages are its rare extreme ones). The
   **centrality score** is ``1 - `` that fraction on the kept edges (1: exactly central).
2. **Not central**: below ``min_score`` the step says so and fits nothing
   (``CentralFit.central`` is false); the caller keeps its unstructured search.
3. **Scalar**: :math:`s_e = v_e \cdot d_e / |d_e|^2`, regressed on the edge scalars with
   :func:`~physdistill.symbolic.regress` (a smaller search than one per vector component,
   in which softened forms such as ``m1 m2 / (r (r + 0.01)**2)`` are reachable). When ``s`` is
   zero on one side of a threshold of one scalar and jumps at it (a force with a cut-off), the
   threshold is located first, the regression sees the other side only, and the scalar is
   written ``f(x) (1 +- (x - t) / |x - t|) / 2``. Sign scalars (values +-1, such as charges)
   whose product makes ``s`` smooth in the other scalars are factored out first
   (:func:`sign_factors`), so that ``q1 q2 h(r)`` is searched as ``h(r)``. A scalar of one
   variable that the search does not fit to round-off is also searched as its antiderivative
   (the potential, :mod:`~physdistill.symbolic.pooled`), whose candidates' derivatives join
   its front.
4. **Channels**: for each candidate scalar :math:`\hat s` of the front, ``A`` and ``c`` are
   refitted by least squares of ``m`` on ``[s d, 1]``, so channel ``j``'s equation is
   :math:`\hat s(x) \sum_i A_{ji} d_i + c_j` with its own front (same complexities, channel
   losses): callers that compare per-channel equations keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy
from scipy import linalg

from physdistill.errors import PhysDistillError
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.front import ParetoFront, build_front
from physdistill.symbolic.pooled import with_antiderivative, with_reciprocal
from physdistill.symbolic.scalar_shape import Step, find_step, separable_factor, sign_factors

#: below this centrality score the messages are "not central" and no scalar is fitted: a
#: trained network's messages of a central force score >= 0.99 and a curl of 10 % of the force
#: scores below 0.99 (tests/symbolic/test_central.py, benchmarks/sr_recovery.py).
CENTRAL_MIN = 0.95


@dataclass(frozen=True)
class CentralConfig:
    """Settings of the central-force structure step.

    Args:
        trim: fraction of the edges left out of the alignment fit, those with the largest
            part across the edge (refitted ``rounds`` times).
        rounds: trim-and-refit rounds of the alignment.
        min_score: centrality score below which the messages are reported not central.
        step_tol: a scalar counts as zero where ``|s| <= step_tol RMS(s)`` (cut-off search).
        min_step_fraction: a zero region must hold at least this fraction of the edges.
        antiderivative: when the scalar is a function of one variable and its search does
            not fit to ``sr.stop_loss``, also search its :func:`antiderivative` (the
            potential, for a force magnitude) and pool the negated derivatives of those
            candidates, their constants refitted on the scalar.
        separable_r2: when ``s / p`` for a monomial ``p`` of the one-signed scalars is a
            function of one scalar alone to this R^2 (:func:`~physdistill.symbolic.
            scalar_shape.separable_factor`), that one-variable function is searched instead
            (``m1 m2 h(r)`` as ``h(r)``); 1 turns the test off.
        reciprocal: when the search of the scalar does not fit to ``sr.stop_loss``, also
            search its reciprocal and pool the reciprocals of those candidates (scored on the
            scalar): a softened inverse power is a polynomial there (``(r + eps)**2`` for the
            magnitude ``1/(r + eps)**2``, which the direct search confuses with the alias
            ``1/(r (r + 2 eps))`` once the close encounters are trimmed).
        reciprocal_below: ... but only where the scalar's most accurate candidate already
            fits to this fraction of its variance (near-exact data). The alias differs from
            the softened law by about ``(eps / r)**2``, far below what noisy or learned data
            resolve (a trained network's messages fit to 1e-4 of their variance at best), where
            the reciprocal's searches would only double the step's time.
    """

    trim: float = 0.1
    rounds: int = 10
    min_score: float = CENTRAL_MIN
    step_tol: float = 1e-3
    min_step_fraction: float = 0.05
    reciprocal: bool = True
    reciprocal_below: float = 1e-6
    antiderivative: bool = True
    separable_r2: float = 0.999

    def __post_init__(self) -> None:
        if not 0 <= self.trim < 0.5:
            raise PhysDistillError(f"CentralConfig.trim must be in [0, 0.5), got {self.trim!r}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise PhysDistillError(f"CentralConfig.rounds must be an integer >= 1, got "
                                   f"{self.rounds!r}")
        if not 0 < self.min_score <= 1:
            raise PhysDistillError(f"CentralConfig.min_score must be in (0, 1], got "
                                   f"{self.min_score!r}")
        if not 0 <= self.reciprocal_below <= 1:
            raise PhysDistillError(f"CentralConfig.reciprocal_below must be in [0, 1], got "
                                   f"{self.reciprocal_below!r}")


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align`: ``v = messages @ W.T - b`` is (nearly) parallel to ``d``.

    Attributes:
        W: ``[dim, k]``. b: ``[dim]``.
        score: centrality score on the kept edges (1 - energy fraction across the edge).
        score_all: the same on every edge.
        kept: mask of the edges the final fit used.
    """

    W: np.ndarray
    b: np.ndarray
    score: float
    score_all: float
    kept: np.ndarray

    def vectors(self, messages: np.ndarray) -> np.ndarray:
        """``v = W m - b`` per edge, ``[E, dim]``."""
        return np.asarray(messages, np.float64) @ self.W.T - self.b

    def scalar(self, messages: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """``s = v . d / |d|^2`` per edge, ``[E]``."""
        d = np.asarray(directions, np.float64)
        return np.sum(self.vectors(messages) * d, 1) / np.sum(d * d, 1)

    def magnitude(self, messages: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """``f = v . d / |d| = s |d|`` per edge, ``[E]``: the signed size of the central
        vector (``v = f d / |d|``)."""
        d = np.asarray(directions, np.float64)
        return np.sum(self.vectors(messages) * d, 1) / np.linalg.norm(d, axis=1)


def _check(messages: Any, directions: Any) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(messages, np.float64)
    d = np.asarray(directions, np.float64)
    if m.ndim != 2 or d.ndim != 2 or m.shape[0] != d.shape[0]:
        raise PhysDistillError(f"messages must be [E, k] and directions [E, dim] with the same "
                               f"E, got {m.shape} and {d.shape}")
    if m.shape[1] < d.shape[1]:
        raise PhysDistillError(f"need at least dim = {d.shape[1]} message channels to align "
                               f"with the edges, got {m.shape[1]}")
    if m.shape[0] < 4 * d.shape[1] * (m.shape[1] + 1):
        raise PhysDistillError(f"{m.shape[0]} edges are too few to align {m.shape[1]} channels "
                               f"in {d.shape[1]}-D")
    return m, d


def _energies(Z: np.ndarray, u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P``, ``Q`` with ``theta^T P theta`` = the energy of ``v`` across the edges and
    ``theta^T Q theta`` its total energy (``v_i = Z @ theta[i]``, rows weighted by ``w``)."""
    dim = u.shape[1]
    Zw = Z * w[:, None]
    G = Zw.T @ Z
    Q = np.kron(np.eye(dim), G)
    P = Q.copy()
    n = Z.shape[1]
    for i in range(dim):
        for j in range(dim):
            P[i * n:(i + 1) * n, j * n:(j + 1) * n] -= (Zw * (u[:, i] * u[:, j])[:, None]).T @ Z
    return P, Q


def align(messages: Any, directions: Any, config: CentralConfig | None = None) -> Alignment:
    """Fit ``W, b`` so that ``W m - b`` is parallel to ``d`` on every edge (module docstring,
    step 1). Shapes: ``messages [E, k]``, ``directions [E, dim]`` with ``k >= dim``."""
    config = config or CentralConfig()
    m, d = _check(messages, directions)
    norm = np.linalg.norm(d, axis=1)
    ok = np.isfinite(m).all(1) & np.isfinite(d).all(1) & (norm > 0)
    # whitened principal components of the messages: well conditioned, and channels that are
    # combinations of others (k > dim) drop out instead of making the problem singular
    mu = m[ok].mean(0)
    _, sv, vt = np.linalg.svd((m[ok] - mu) / np.sqrt(ok.sum()), full_matrices=False)
    rank = int(np.sum(sv > 1e-9 * sv[0])) if sv.size and sv[0] > 0 else 0
    if rank < d.shape[1]:
        raise PhysDistillError(f"the messages span {rank} dimensions, fewer than the "
                               f"{d.shape[1]} of the edge vectors: they cannot hold a force")
    proj = vt[:rank].T / sv[:rank]  # [k, rank]: m -> whitened coordinates
    Z = np.column_stack([(m - mu) @ proj, -np.ones(len(m))])
    Z[~ok] = 0.0
    u = np.where(ok[:, None], d / np.where(norm > 0, norm, 1.0)[:, None], 0.0)
    w = ok.astype(np.float64)
    n, dim = Z.shape[1], d.shape[1]
    theta = None
    for _ in range(config.rounds):
        P, Q = _energies(Z, u, w)
        Q = Q + 1e-12 * np.trace(Q) / len(Q) * np.eye(len(Q))
        _, vecs = linalg.eigh(P, Q)
        theta = vecs[:, 0].reshape(dim, n)
        if config.trim == 0:
            break
        v = Z @ theta.T
        across = np.sum(v * v, 1) - np.sum(v * u, 1) ** 2
        across[~ok] = np.inf
        cut = np.quantile(across[ok], 1 - config.trim)
        new = (ok & (across <= cut)).astype(np.float64)
        if np.array_equal(new, w):
            break
        w = new
    v = Z @ theta.T
    tot = np.sum(v * v, 1)
    across = tot - np.sum(v * u, 1) ** 2
    keep = w > 0

    def score(mask: np.ndarray) -> float:
        t = float(tot[mask].sum())
        return float(1 - across[mask].sum() / t) if t > 0 else 0.0

    Wt, bt = theta[:, :-1], theta[:, -1]
    W = Wt @ proj.T
    b = bt + W @ mu
    scale = np.sqrt(np.mean(tot[keep])) or 1.0
    return Alignment(W / scale, b / scale, score(keep), score(ok), keep)


@dataclass(frozen=True)
class CentralFit:
    """Result of :func:`fit_central`.

    Attributes:
        alignment: the :class:`Alignment` (its ``score`` is the centrality score).
        central: whether the score reached ``min_score``.
        scalar_front: the Pareto front of the scalar ``s`` (``None`` when not central).
        fronts: one front per message channel (``None`` when not central).
        step: the cut-off found, if any.
        meta: numbers for the record (score, edges, step).
    """

    alignment: Alignment
    central: bool
    scalar_front: ParetoFront | None = None
    fronts: tuple[ParetoFront, ...] | None = None
    step: Step | None = None
    meta: dict = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.alignment.score

    def to_dict(self) -> dict[str, Any]:
        return {"central": self.central, "score": self.alignment.score,
                "score_all": self.alignment.score_all,
                "scalar": None if self.scalar_front is None else
                self.scalar_front.expression.text(),
                "step": None if self.step is None else
                {"variable": self.step.variable, "threshold": self.step.threshold,
                 "below": self.step.below}, **self.meta}


def channel_front(scalar_front: ParetoFront, messages: np.ndarray, directions: np.ndarray,
                  env: Mapping[str, np.ndarray], direction_names: Sequence[str],
                  channel: int, factor: sympy.Expr | None, names: Sequence[str],
                  rule: str, sel_factor: float) -> ParetoFront:
    """Channel ``channel``'s front: each scalar candidate ``s`` (times ``factor``) as
    ``s (A d) + c`` with ``A, c`` fitted by least squares to that channel's messages."""
    y = messages[:, channel]
    items = []
    chosen = None
    for i, cand in enumerate(scalar_front.candidates):
        e = cand.expression.sympy() * (factor if factor is not None else 1)
        expr = Expression(e, list(names))
        s = expr.evaluate(env)
        X = np.column_stack([s[:, None] * directions, np.ones(len(y))])
        ok = np.isfinite(X).all(1)
        if ok.sum() < X.shape[1] + 1:
            continue
        coef, *_ = np.linalg.lstsq(X[ok], y[ok], rcond=None)
        big = np.max(np.abs(coef[:-1])) if coef.size > 1 else 0.0
        coef[:-1][np.abs(coef[:-1]) < 1e-9 * big] = 0.0  # round-off of an exact map
        if abs(coef[-1]) < 1e-9 * float(np.sqrt(np.mean(y * y))):
            coef[-1] = 0.0
        lin = sum(sympy.Float(float(a), 6) * sympy.Symbol(n)
                  for a, n in zip(coef[:-1], direction_names))
        full = Expression(e * lin + sympy.Float(float(coef[-1]), 6), list(names))
        pred = full.evaluate(env)
        loss = float(np.mean((pred - y) ** 2)) if np.isfinite(pred).all() else float("inf")
        items.append((full, loss))
        if i == scalar_front.chosen_index:
            chosen = (full, loss)
    front = build_front(items, float(np.var(y)), rule, factor=sel_factor,
                        backend=scalar_front.backend, meta={"structure": "central"})
    if chosen is None:
        return front
    # every channel takes the scalar the scalar's own front chose (the choice is made where
    # the scalar is fitted, on the trimmed rows; on a channel's raw messages a network's
    # worst edges could make a simpler, wrong scalar dominate it)
    same = [i for i, c in enumerate(front.candidates) if str(c.expression) == str(chosen[0])]
    if not same:  # leave out the simpler candidates that dominate the choice on this channel
        c0, l0 = chosen[0].complexity, chosen[1]
        front = build_front([(e, loss) for e, loss in items if e is chosen[0]
                             or e.complexity > c0 or (e.complexity < c0 and loss > l0)],
                            float(np.var(y)), rule,
                            factor=sel_factor, backend=scalar_front.backend,
                            meta={"structure": "central", "dominated_choice": True})
        same = [i for i, c in enumerate(front.candidates)
                if str(c.expression) == str(chosen[0])]
    return replace(front, chosen_index=same[0]) if same else front


def find_norm(directions: Any, scalars: Mapping[str, Any]) -> str | None:
    """The name of the first scalar that equals ``|d|`` on every edge (the ``norm`` of
    :func:`fit_central`), or ``None``."""
    d = np.asarray(directions, np.float64)
    size = np.linalg.norm(d, axis=1)
    for name, v in scalars.items():
        v = np.asarray(v, np.float64).reshape(-1)
        if v.shape == size.shape and np.allclose(v, size, rtol=1e-6, atol=1e-12):
            return name
    return None


def fit_central(messages: Any, directions: Any, scalars: Mapping[str, Any], *,
                direction_names: Sequence[str], norm: str | None = None,
                config: CentralConfig | None = None, sr: SRConfig | None = None,
                rule: str = "best", factor: float = 10.0, backend: str = "operon"
                ) -> CentralFit:
    """The central-force structure step (module docstring).

    Args:
        messages: ``[E, k]`` message channels.
        directions: ``[E, dim]`` edge displacement vectors.
        scalars: edge scalars ``name -> [E]`` the scalar ``s`` may depend on.
        direction_names: the names of the ``dim`` displacement components (e.g. ``dx, dy``).
        norm: the name of the scalar that equals ``|d|`` (e.g. ``r``), or ``None``. Given,
            the regressed quantity is the magnitude ``f = s |d|`` and the scalar is written
            ``f / norm``: a central force's own magnitude (``-U'(r)``) is the shorter
            expression (``m1 m2 / (r + eps)**2`` instead of ``m1 m2 / (r (r + eps)**2)``), and
            a noise of fixed size on the messages is a noise of fixed size on ``f`` (on ``s``
            it grows as ``1 / |d|``), so the least-squares search weighs the edges evenly.
        config: the step's settings; sr: the scalar search's :class:`SRConfig`.
        rule, factor: selection on the fronts (:mod:`~physdistill.symbolic.selection`).
        backend: symbolic-regression engine.

    Returns:
        A :class:`CentralFit`; its ``fronts`` are in the variables ``direction_names`` and the
        scalars' names.
    """
    from physdistill.symbolic.regress import regress

    config = config or CentralConfig()
    m, d = _check(messages, directions)
    if len(direction_names) != d.shape[1]:
        raise PhysDistillError(f"expected {d.shape[1]} direction names, got "
                               f"{list(direction_names)}")
    cols = {k: np.asarray(v, np.float64).reshape(-1) for k, v in scalars.items()}
    for k, v in cols.items():
        if v.shape[0] != m.shape[0]:
            raise PhysDistillError(f"scalar {k!r} has {v.shape[0]} values, expected "
                                   f"{m.shape[0]} (one per edge)")
    if norm is not None:
        if norm not in cols:
            raise PhysDistillError(f"norm {norm!r} is not one of the scalars {list(cols)}")
        size = np.linalg.norm(d, axis=1)
        fin = np.isfinite(size) & np.isfinite(cols[norm])
        if not np.allclose(cols[norm][fin], size[fin], rtol=1e-6, atol=1e-12):
            raise PhysDistillError(f"scalar {norm!r} is not the length of the directions "
                                   f"{list(direction_names)}")
    al = align(m, d, config)
    meta: dict[str, Any] = {"edges": int(m.shape[0]), "min_score": config.min_score,
                            "regressed": "s" if norm is None else f"s*{norm}"}
    if al.score < config.min_score:
        return CentralFit(al, False, meta=meta)
    s = al.scalar(m, d) if norm is None else al.magnitude(m, d)
    ok = np.isfinite(s) & np.all([np.isfinite(v) for v in cols.values()], axis=0)
    step = find_step(s[ok], {k: v[ok] for k, v in cols.items()}, step_tol=config.step_tol,
                     min_fraction=config.min_step_fraction)
    rows = ok if step is None else ok & step.active(cols[step.variable])
    signs = sign_factors(s[rows], {k: v[rows] for k, v in cols.items()})
    p = np.prod([cols[k] for k in signs], axis=0) if signs else np.ones_like(s)
    sep = separable_factor((s * p)[rows], {k: v[rows] for k, v in cols.items()},
                           min_r2=config.separable_r2) if config.separable_r2 < 1 else None
    mono = sympy.Integer(1)
    names = list(cols)
    if sep is not None:
        names = [sep[0]]
        for k, e in sep[1].items():
            p = p / cols[k] ** e
            mono *= sympy.Symbol(k) ** e
    X = np.column_stack([cols[k][rows] for k in names])
    sr = sr or SRConfig()
    y = (s * p)[rows]
    scalar_front = regress(X, y, names, config=sr, rule=rule, factor=factor, backend=backend)
    var = float(np.var(y))
    stop = (sr.stop_loss or 0.0) * var
    if config.reciprocal and stop < scalar_front.candidates[-1].loss <= \
            config.reciprocal_below * var:
        scalar_front = with_reciprocal(scalar_front, X, y, names, sr, rule, factor, backend)
    if config.antiderivative and len(names) == 1 and \
            stop < min(c.loss for c in scalar_front.candidates):
        scalar_front = with_antiderivative(scalar_front, X, y, names, sr, rule, factor,
                                           backend)
    env = {**cols, **{n: d[:, i] for i, n in enumerate(direction_names)}}
    all_names = [*direction_names, *cols]
    meta["separable"] = None if sep is None else {"variable": sep[0], "monomial": str(mono)}
    fac = mono * sympy.Mul(*(sympy.Symbol(k) for k in signs)) * \
        (sympy.Integer(1) if step is None else step.factor())  # p = 1/p for signs
    if norm is not None:
        fac = fac / sympy.Symbol(norm)
    meta["sign_factors"] = list(signs)
    fronts = tuple(channel_front(scalar_front, m, d, env, direction_names, j, fac, all_names,
                                 rule, factor) for j in range(m.shape[1]))
    return CentralFit(al, True, scalar_front, fronts, step, meta)
