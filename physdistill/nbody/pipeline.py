r"""``physdistill nbody``: force-law recovery end to end, into one run folder.

Stages (each recorded in ``run.json`` when it finishes, so ``--resume`` skips it):

1. ``data``: simulate the law (or reuse a dataset folder given with ``data=``);
2. ``train``: train the OGN variant (checkpoint in ``model/``, resumable mid-training);
3. ``distill``: record messages on test graphs (:class:`~physdistill.messages.MessageRecorder`),
   keep the top ``dim`` channels, fit each as a linear combination of the true force
   (:mod:`~physdistill.nbody.forcefit`), distil each kept channel of the edge model into an
   equation of ``dx, dy, [dz], r, m1, m2, q1, q2`` (:class:`~physdistill.symbolic.SymbolicModel`
   wrapped around the edge MLP), and compare it with the law's pair force
   (:func:`~physdistill.symbolic.compare`, free coefficients
   :math:`a F_x + b F_y [+ c F_z] + d`);
4. ``rollout``: switch the edge model to the equations and roll out trajectories from held-out
   and out-of-distribution initial states (:mod:`~physdistill.nbody.rollout`);
5. ``report``: ``metrics.json``, ``equations.json``, plots and ``report.md``
   (:mod:`~physdistill.nbody.report`; ``physdistill report RUN`` redraws them).

Presets: ``quick`` is sized for a 2-core laptop CPU (<= 10 minutes per law); ``full`` follows the
published recipe (10,000 systems, 3 x 300 MLPs, batch 64, 30 epochs of up to 5,000 steps) and is
meant for a GPU. Any preset value can be overridden.
"""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
import torch

from physdistill import __version__
from physdistill._io import load_state, save_state
from physdistill.devices import resolve_device
from physdistill.errors import PhysDistillError
from physdistill.graphs import repeat_edges
from physdistill.runs import RunFolder, check_not_inside, fingerprint
from physdistill.symbolic.bounded import bounded

PRESETS: dict[str, dict[str, Any]] = {
    # sized so that each of spring, r1, r2, charge runs in <= 10 min on a 2-core CPU
    "quick": {"sims": 2000, "steps": 500, "epochs": 20, "hidden": 128, "batch": 64,
              "lr": 3e-3, "steps_per_epoch": None, "sr_seconds": 120.0, "sr_samples": 2000,
              "sr_restarts": 4},
    # Cranmer et al. 2020 (reference.md §1); for GPUs
    "full": {"sims": 10_000, "steps": 500, "epochs": 30, "hidden": 300, "batch": 64,
             "lr": 1e-3, "steps_per_epoch": 5000, "sr_seconds": 240.0, "sr_samples": 5000,
             "sr_restarts": 4},
}
#: operators of every force-law search: the built-in laws' pair forces are rational functions of
#: the edge variables (softening included), so these suffice; :func:`force_operators` adds the
#: functions a user potential's force contains.
BASE_FORCE_OPERATORS = ("+", "-", "*", "/")
_FUNCTION_OPERATORS = {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos"}
STAGES = ("data", "train", "distill", "rollout", "report")
#: the n-body recovery rule (passed to :func:`~physdistill.symbolic.compare`): after fitting
#: a F_x + b F_y [+ c F_z] + d to the equation, every term left over has an RMS <= 1 % of the
#: force's (a structural match up to the precision a trained network allows), and the maximum
#: error is < 5 % of max(|F|, 0.3 RMS(F)) on held-out and on out-of-distribution edges. The
#: floor keeps forces that cross zero (the spring's at r' = 1) from turning a small constant
#: error into an unbounded relative one: a spring equation whose softening constant 0.99 came out
#: as 0.986 (0.4 % off) has a 2.5 % maximum error near the crossing.
MATCH_TOL, REL_TOL, REL_FLOOR = 1e-2, 5e-2, 0.3
#: the selection rule's loss window on each channel's Pareto front (the symbolic layer's default
#: is 10). A trained network's messages carry small systematic errors that symbolic regression
#: models with extra terms: on three quick-preset spring runs, the exact spring force sat 10.1x
#: above the lowest loss of its front in one channel, behind a 4-node longer candidate with a
#: spurious `(11.4 - 0.2 m1)` factor. With 50 the rule picked the spring law in all 6 channels
#: (10: 4 of 6, 20: 5 of 6); on r1 and r2 fronts no member is the law at any window.
SELECTION_FACTOR = 50.0
#: fraction of the recorded edges each channel's search leaves out: those whose message is
#: farthest from the channel's median (:attr:`~physdistill.symbolic.SRConfig.trim`). Close
#: encounters give the largest forces and the least reliable messages (few training edges);
#: fitted in squared error they dominate the search, which then bends the law to fit them. On
#: a quick-preset r2 run, searches on all edges found no r2 form in either channel, and with 10 %
#: trimmed both channels came out as ``m2 (a dx + b dy) / r**3 + c`` (the unsoftened law, see
#: :func:`judge_force`), as with the edges the reference's trimmed force fit keeps. Uses no
#: knowledge of the law.
SR_TRIM = 0.1
#: evaluation budget of each of a channel's searches; the clock (``sr_seconds / sr_restarts``,
#: 30 s in the quick preset) is only a safety net. An evaluation budget ends a search at the same
#: point on any machine, so the equations found from given messages do not depend on the
#: machine's speed. 300,000 evaluations on 2,000 edges take about 17 s on one core (a 2-D run's
#: two channels search at once, one core each on a 2-core machine), 8.5 s on two. On one
#: quick-preset charge network, single searches of this size found the law in 3 of 16 (channel,
#: seed) pairs and settled in ``q1 q2 dy / r**2`` or similar in the rest; searches 3x longer
#: (1e6 evaluations, or 80 s) ended in the same forms. Pooled over seeds 0-1 (and every longer
#: prefix of 0-7), both channels were the law.
SR_EVALUATIONS = 300_000


@dataclass(frozen=True)
class NBodyConfig:
    """Settings of one ``physdistill nbody`` run. ``None`` fields take the preset's value.

    Args:
        law: built-in law name, or ``None`` with ``potential``.
        potential: a user pair potential in ``r, m1, m2, q1, q2``.
        reg: OGN variant (``standard``, ``bottleneck``, ``l1``, ``kl``, ``pruning``).
        preset: ``quick`` (2-core CPU) or ``full`` (published recipe).
        n, dim: particles per system and spatial dimension.
        sims, steps: simulated systems and integration steps (every 5th state kept).
        epochs, hidden, batch, lr, steps_per_epoch: training (see :class:`TrainConfig`).
        sr_seconds: time budget of each channel's symbolic regression.
        sr_samples: recorded edges given to each regression.
        sr_restarts: independent searches per channel, pooled into one front
            (:attr:`~physdistill.symbolic.SRConfig.restarts`); each gets ``sr_seconds /
            sr_restarts`` and :data:`SR_EVALUATIONS` evaluations, whichever ends first.
        rollout_systems: systems per rollout set (held-out and out-of-distribution).
        seed: seed of everything.
        device: ``auto``, ``cpu`` or ``cuda``.
        tf32: TF32 matrix products in training on CUDA (about 1.5x the graphs/s on an H200;
            ignored on the CPU). Off by default: the published recipe's losses were measured
            in float32.
        data: an existing dataset folder to use instead of simulating.
        model: a trained checkpoint folder (``physdistill train``'s output) to analyse instead
            of training.
    """

    law: str | None = "r2"
    potential: str | None = None
    reg: str = "bottleneck"
    preset: str = "quick"
    n: int = 4
    dim: int = 2
    sims: int | None = None
    steps: int | None = None
    epochs: int | None = None
    hidden: int | None = None
    batch: int | None = None
    lr: float | None = None
    steps_per_epoch: int | None = None
    sr_seconds: float | None = None
    sr_samples: int | None = None
    sr_restarts: int | None = None
    rollout_systems: int = 32
    seed: int = 0
    device: str = "auto"
    tf32: bool = False
    data: str | None = None
    model: str | None = None

    def resolved(self) -> NBodyConfig:
        """A copy with the preset's values filled in, checked."""
        if self.preset not in PRESETS:
            raise PhysDistillError(f"unknown preset {self.preset!r}; choose one of "
                                   f"{sorted(PRESETS)}")
        if (self.law is None) == (self.potential is None):
            raise PhysDistillError("give either a law name or a potential, not both or neither")
        from physdistill.nbody.model import VARIANTS

        if self.reg not in VARIANTS:
            raise PhysDistillError(f"unknown regulariser {self.reg!r}; choose one of "
                                   f"{', '.join(VARIANTS)}")
        fill = {k: v for k, v in PRESETS[self.preset].items() if getattr(self, k) is None}
        cfg = replace(self, **fill)
        for name in ("n", "dim", "sims", "steps", "epochs", "hidden", "batch", "sr_samples",
                     "sr_restarts", "rollout_systems"):
            v = getattr(cfg, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"{name} must be a positive integer, got {v!r}")
        if cfg.n < 2 or cfg.dim not in (2, 3):
            raise PhysDistillError(f"need n >= 2 and dim 2 or 3, got n={cfg.n}, dim={cfg.dim}")
        for name in ("lr", "sr_seconds"):
            v = getattr(cfg, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise PhysDistillError(f"{name} must be a positive number, got {v!r}")
        if cfg.data is None and cfg.sims - round(0.8 * cfg.sims) - round(0.1 * cfg.sims) < 1:
            raise PhysDistillError(f"sims={cfg.sims} leaves no test systems in the 80/10/10 "
                                   "split, and the distillation reads messages on test "
                                   "graphs; use --sims 3 or more")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NBodyConfig:
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise PhysDistillError(f"unknown n-body run settings {bad}")
        return cls(**data)


def _law(cfg: NBodyConfig):
    from physdistill.nbody.laws import get_law

    return get_law(cfg.law, potential=cfg.potential)


def _log(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def input_names(dim: int) -> list[str]:
    """Column names of the edge MLP's input ``[x_receiver, x_sender]`` (suffix 1, 2)."""
    node = [*("x", "y", "z")[:dim], *("vx", "vy", "vz")[:dim], "q", "m"]
    return [f"{c}1" for c in node] + [f"{c}2" for c in node]


def edge_transforms(dim: int) -> dict[str, str]:
    """``dx, dy, [dz], r`` as formulas of the edge MLP's input columns."""
    axes = ("x", "y", "z")[:dim]
    t = {f"d{a}": f"{a}1 - {a}2" for a in axes}
    t["r"] = "sqrt(" + " + ".join(f"({a}1 - {a}2)**2" for a in axes) + ")"
    return t


def force_reference(law, dim: int, target: str = "force") -> tuple[sp.Expr, list[str]]:
    """``a0 F_x + a1 F_y [+ a2 F_z] + b``: the law's pair force with free coefficients
    (``target="acceleration"``: the pair force divided by the receiver's mass ``m1``)."""
    comps = [without_piecewise(c) for c in law.pair_force(dim)]
    if target == "acceleration":
        comps = [c / sp.Symbol("m1") for c in comps]
    coefs = [f"a{k}" for k in range(dim)] + ["b"]
    ref = sum(sp.Symbol(c) * f for c, f in zip(coefs, comps)) + sp.Symbol("b")
    return ref, coefs


def without_piecewise(expr: sp.Expr) -> sp.Expr:
    """``Piecewise((a, lhs < rhs), (b, True))`` written as ``a H + b (1 - H)`` with the step
    ``H = (1 + g/|g|)/2``, ``g = rhs - lhs``: the form the expression layer can hold and the
    central-force step writes a cut-off in (the discontinuous law's force)."""
    def step(pw: sp.Piecewise) -> sp.Expr:
        if len(pw.args) != 2 or pw.args[1][1] is not sp.true or \
                not isinstance(pw.args[0][1], (sp.StrictLessThan, sp.LessThan,
                                               sp.StrictGreaterThan, sp.GreaterThan)):
            raise PhysDistillError(f"cannot compare with the piecewise force {pw}: only one "
                                   "threshold condition is supported")
        (a, cond), (b, _) = pw.args
        g = cond.rhs - cond.lhs if cond.rel_op in ("<", "<=") else cond.lhs - cond.rhs
        mag = sp.Abs(g)
        inner = mag.args[0] if isinstance(mag, sp.Abs) else g  # sympy's orientation of |g|
        h = (1 + sp.simplify(g / inner) * inner / mag) / 2  # x / |x| with x as |x| holds it
        return a * h + b * (1 - h)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), step)


def receiver_gauge(eq: sp.Expr, receiver: str = "m1") -> tuple[sp.Expr, sp.Expr] | None:
    """Split ``eq = g(m1) * rest + c`` into ``(g, rest + c)``, with ``g`` the product of the
    factors of ``eq - c`` that depend on the receiver's mass alone, or ``None`` when there is
    no such factor (or ``eq`` is too large to factor quickly)."""
    m1 = sp.Symbol(receiver)
    const = sum((t for t in sp.Add.make_args(eq) if not t.free_symbols), sp.Integer(0))
    body = eq - const
    if m1 not in body.free_symbols or sp.count_ops(body) > 80:
        return None
    g, rest = sp.Integer(1), sp.Integer(1)
    factored = bounded(lambda e: sp.factor(sp.together(e)), body, max_ops=None)
    if factored is None:  # too slow to factor: no gauge is claimed
        return None
    for f in sp.Mul.make_args(factored):
        if f.free_symbols == {m1}:
            g *= f
        else:
            rest *= f
    if g == 1 or m1 in rest.free_symbols:
        return None
    return g, rest + const


def _cut_off_symbols(law, inputs: dict[str, np.ndarray], derived: dict[str, str], dim: int):
    """For a law whose force jumps at ``r' = t + eps``: the sign ``(r - t)/|r - t|`` as one
    input ``cut_k`` (values +-1), so that ``compare`` expands a step ``(1 + sign)/2`` as one
    term instead of ``r/|r - t|`` and ``t/|r - t|``, which cancel only up to round-off that
    the singular ``1/|r - t|`` magnifies. An ``Abs(r - t')`` in an expression is replaced only
    when ``t'`` equals ``t`` to 1e-6 (6 significant digits, as equations are written; another
    threshold is another law). Returns the extended
    inputs and derived formulas and the substitution."""
    r = sp.Symbol("r")
    dist = "sqrt(" + " + ".join(f"d{a}**2" for a in ("x", "y", "z")[:dim]) + ")"
    subs: list[tuple[float, sp.Symbol]] = []
    inputs, derived = dict(inputs), dict(derived)
    for k, b in enumerate(law.breaks):
        t = float(b) - law.eps
        name = f"cut{k}"
        subs.append((t, sp.Symbol(name)))
        inputs[name] = np.sign(inputs["r"] - t)
        derived[name] = f"({dist} - {t!r})/Abs({dist} - {t!r})"

    def canon(e: sp.Expr) -> sp.Expr:
        def one(a: sp.Abs) -> sp.Expr:
            arg = sp.expand(a.args[0])
            if arg.free_symbols == {r} and arg.is_polynomial(r) and sp.degree(arg, r) == 1:
                c1, c0 = sp.Poly(arg, r).all_coeffs()
                for t, sym in subs:
                    if abs(float(-c0 / c1) - t) <= 1e-6 * max(1.0, abs(t)):
                        return a.args[0] * sp.sign(c1) * sym  # |x| = x sign(x)
            return a
        return e.replace(lambda x: isinstance(x, sp.Abs), one) if subs else e

    return inputs, derived, canon


def force_operators(law, dim: int) -> tuple[str, ...]:
    """:data:`BASE_FORCE_OPERATORS` plus the functions in the law's pair force (``exp``,
    ``log``, ``sin``, ``cos``; ``sqrt`` for half-integer powers)."""
    ops = list(BASE_FORCE_OPERATORS)
    for comp in law.pair_force(dim):
        for f, name in _FUNCTION_OPERATORS.items():
            if comp.has(f) and name not in ops:
                ops.append(name)
        if any(p.exp.is_Rational and p.exp.q == 2 for p in comp.atoms(sp.Pow)) \
                and "sqrt" not in ops:
            ops.append("sqrt")
    return tuple(ops)


def compare_force(eq, law, inputs: dict[str, np.ndarray], dim: int, target: str = "force",
                  seed: int = 0):
    """:func:`judge_force`'s comparison alone (``recovered`` under either form of the law)."""
    return judge_force(eq, law, inputs, dim, target, seed)[0]


def judge_force(eq, law, inputs: dict[str, np.ndarray], dim: int, target: str = "force",
                seed: int = 0) -> tuple[Any, str]:
    """:func:`~physdistill.symbolic.compare` of one channel's equation with the law's pair force
    (or acceleration) under the n-body recovery rule (``MATCH_TOL``, ``REL_TOL``,
    ``REL_FLOOR``); ``inputs`` are the edge variables ``dx, dy, [dz], r, m1, m2, q1, q2``.

    Returns the comparison and the form of the law it matched: ``"softened"`` (the
    simulator's force, distance ``r + eps``) or, when that fails, ``"unsoftened"`` (its limit
    ``eps -> 0``, the physical law; e.g. ``m1 m2 dx / r**3`` for r2), or ``"receiver-gauge"``:
    the law times a function of the receiver's mass, ``g(m1) F`` (:func:`receiver_gauge`). The
    node model sees ``m1`` and can undo any such factor, so the messages may carry one; that
    is not the law, and the returned comparison then says ``recovered = False`` (its detail
    names ``g``). The softening
    (``eps = 0.01``) is a numerical regulariser of the simulator; it changes the inverse-power
    forces by about ``2 eps / r`` (2 % at ``r = 1``), finer than a trained network's messages
    resolve, and the published recoveries state the unsoftened laws. When neither form matches, the
    softened comparison is returned.

    For charged laws the charges are signs (+-1), on which ``q**k`` and ``q**(k mod 2)`` (so
    ``q`` and ``1/q``) are the same function and no data can tell them apart: the equation is
    compared with its powers of ``q1, q2`` reduced that way, and the out-of-distribution points
    keep the charges at +-1."""
    from physdistill.symbolic import Expression, compare, parse_expression

    derived = {"r": "sqrt(" + " + ".join(f"d{a}**2" for a in ("x", "y", "z")[:dim]) + ")"}
    keep: tuple[str, ...] = ()
    if law.charged:
        keep = ("q1", "q2")
        charges = {sp.Symbol(k) for k in keep}
        eq = eq.sympy() if isinstance(eq, Expression) else parse_expression(str(eq), list(inputs))
        eq = eq.replace(lambda e: e.is_Pow and e.base in charges and e.exp.is_Integer,
                        lambda e: e.base ** (int(e.exp) % 2))
    forms = [("softened", law)] + ([("unsoftened", replace(law, eps=0.0))] if law.eps > 0
                                   else [])
    if law.breaks:
        eq = eq.sympy() if isinstance(eq, Expression) else parse_expression(str(eq), list(inputs))
    inputs, derived, canon = _cut_off_symbols(law, inputs, derived, dim)
    eq = canon(eq)
    first = None
    for form, variant in forms:
        ref, coefs = force_reference(variant, dim, target)
        ref = canon(ref)
        cmp = compare(eq, ref, inputs, coefficients=coefs, derived=derived, keep=keep,
                      match_tol=MATCH_TOL, rel_tol=REL_TOL, rel_floor=REL_FLOOR, seed=seed)
        if cmp.recovered:
            return cmp, form
        if first is None:
            first = cmp
    eq_sym = eq.sympy() if isinstance(eq, Expression) else parse_expression(str(eq), list(inputs))
    split = receiver_gauge(eq_sym)
    m1 = sp.Symbol("m1")
    for form, variant in forms if split is not None else ():
        ref, coefs = force_reference(variant, dim, target)
        ref = canon(ref)
        ratio = ref.subs(sp.Symbol("b"), 0) / ref.subs({sp.Symbol("b"): 0, m1: 1})
        law_m1 = bounded(sp.simplify, ratio, max_ops=None)
        if law_m1 is None or law_m1.free_symbols - {m1}:
            break  # the law's dependence on m1 is not a factor: "law x g(m1)" is undefined
        cmp = compare(split[1], ref.subs(m1, 1), inputs, coefficients=coefs, derived=derived,
                      keep=keep, match_tol=MATCH_TOL, rel_tol=REL_TOL, rel_floor=REL_FLOOR,
                      seed=seed)
        if cmp.recovered:
            gauge = bounded(sp.nsimplify, split[0] / law_m1, rational=False,
                            max_ops=None) or split[0] / law_m1
            return replace(cmp, recovered=False, symbolic_detail=(
                f"receiver gauge: the {form} law times g(m1) = {gauge}; not counted as "
                f"recovered. {cmp.symbolic_detail}")), "receiver-gauge"
    return first, "none"


def judge_targets(eq, law, inputs: dict[str, np.ndarray], dim: int, target: str = "force",
                  seed: int = 0) -> tuple[Any, str, str]:
    """:func:`judge_force` against ``target`` and, when the law is not found there, against
    the other target (pair force ``F`` or pair acceleration ``F / m1``); returns the
    comparison, the law form and the target judged.

    Why: which of the two a network's messages encode is chosen from linear fits on all
    edges, whose R^2 the close encounters dominate, so the choice can miss; the equation
    itself says which it is (``m2 / r**2`` is the r2 acceleration, not its force). Either is
    the law: the node model sums the messages and, with ``F / m1``, needs no division."""
    cmp, form = judge_force(eq, law, inputs, dim, target, seed)
    if cmp.recovered:
        return cmp, form, target
    other = "acceleration" if target == "force" else "force"
    cmp2, form2 = judge_force(eq, law, inputs, dim, other, seed)
    if cmp2.recovered or (form == "none" and form2 != "none"):
        return cmp2, form2, other
    return cmp, form, target


# ---------------------------------------------------------------------------------------------
# stages


def simulation_device(device: str) -> str:
    """Where a run's dataset is simulated: on the GPU when the run trains there, else the CPU."""
    return "cuda" if resolve_device(device).type == "cuda" else "cpu"


def law_record(law) -> str:
    """How provenance records name a law (a :class:`ForceLaw` or its ``to_dict()``)."""
    d = law if isinstance(law, dict) else law.to_dict()
    return f"{d.get('name')}: U = {d.get('potential')} (eps {d.get('eps')})"


def _stage_data(run: RunFolder, cfg: NBodyConfig, law, progress: bool) -> Path:
    """Simulate (or check ``cfg.data``); record the law and the dataset's fingerprint, which
    every later stage is made from (``run.inputs``)."""
    from physdistill.nbody.dataset import load_dataset, make_dataset
    from physdistill.nbody.simulate import SimConfig

    if cfg.data is not None:
        path = Path(cfg.data)
        ds = load_dataset(path)
        if ds.law.potential != law.potential or ds.n != cfg.n or ds.dim != cfg.dim:
            raise PhysDistillError(f"dataset {cfg.data} is {ds.law.name} n={ds.n} "
                                   f"dim={ds.dim}; this run needs {law.name} n={cfg.n} "
                                   f"dim={cfg.dim}")
    else:
        path = run.file("data")
    if not run.done("data"):
        if cfg.data is None:
            _log(progress, f"[1/5] simulating {cfg.sims} {law.name} systems x {cfg.steps} "
                           "steps")
        with run.stage("data", {"law": law_record(law)}) as info:
            if cfg.data is None:
                make_dataset(law, SimConfig(n=cfg.n, dim=cfg.dim, sims=cfg.sims,
                                            steps=cfg.steps, seed=cfg.seed,
                                            device=simulation_device(cfg.device)),
                             path, force=True, progress=progress)
            info["path"] = str(path)
            run.inputs["dataset"] = fingerprint(path)
    if "dataset" not in run.inputs:  # a finished data stage: the dataset as it is now
        run.inputs["dataset"] = fingerprint(path)
    run.inputs["law"] = law_record(law)
    return path


def _stage_train(run: RunFolder, cfg: NBodyConfig, data: Path, progress: bool, resume: bool):
    from physdistill.nbody.dataset import load_dataset
    from physdistill.nbody.model import OGN, OGNConfig
    from physdistill.nbody.train import TrainConfig, Trainer, load_checkpoint

    folder = run.file("model")
    if run.done("train"):
        return load_checkpoint(folder)[0]
    if cfg.model is not None:  # trained elsewhere (e.g. with torchrun): analyse that model
        with run.stage("train", {"model": fingerprint(Path(cfg.model) / "checkpoint.safetensors")
                                 }) as info:
            model, meta = load_checkpoint(cfg.model)
            if meta["model"]["variant"] != cfg.reg or meta["model"]["dim"] != cfg.dim:
                raise PhysDistillError(f"model {cfg.model} is a {meta['model']['variant']} OGN "
                                       f"in {meta['model']['dim']}-D; this run needs {cfg.reg} "
                                       f"in {cfg.dim}-D")
            from physdistill._io import read_json

            run.write_json("history.json", read_json(Path(cfg.model) / "history.json",
                                                     "training history"))
            folder.mkdir(parents=True, exist_ok=True)
            save_state(folder / "checkpoint.safetensors", load_state(
                Path(cfg.model) / "checkpoint.safetensors"))
            run.write_json("model/checkpoint.json", meta)
            info["from"] = str(cfg.model)
        return model
    ds = load_dataset(data)
    _log(progress, f"[2/5] training the {cfg.reg} OGN ({cfg.epochs} epochs, "
                   f"hidden {cfg.hidden}, batch {cfg.batch})")
    with run.stage("train") as info:
        with torch.random.fork_rng(devices=[]):  # the initial weights follow the run's seed only
            torch.manual_seed(cfg.seed)
            model = OGN(OGNConfig(dim=cfg.dim, variant=cfg.reg, hidden=cfg.hidden))
        tcfg = TrainConfig(epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr,
                           steps_per_epoch=cfg.steps_per_epoch, seed=cfg.seed,
                           device=cfg.device, tf32=cfg.tf32)
        val = ds.graphs("val")  # a small dataset may have no validation systems
        trainer = Trainer(tcfg, out=folder, resume=resume, progress=progress).fit(
            model, ds.graphs("train"), val if val[0].shape[0] else None)
        run.write_json("history.json", trainer.history_)
        info["device"] = str(trainer.device_)
        info["graphs_per_s"] = trainer.history_["graphs_per_s"][-1]
    return trainer.model_


def force_symbolic_model(edge_fn, cfg: NBodyConfig, law):
    """The :class:`~physdistill.symbolic.SymbolicModel` the distillation stage puts around an
    edge function ``[x_receiver, x_sender] -> messages``: its inputs seen as ``dx, dy, [dz], r,
    m1, m2, q1, q2``, the law's force operators and the run's SR budget (``cfg`` resolved)."""
    from physdistill.symbolic import SRConfig, SymbolicModel

    sr = SRConfig(operators=force_operators(law, cfg.dim),
                  time_limit_s=cfg.sr_seconds / cfg.sr_restarts, max_evaluations=SR_EVALUATIONS,
                  restarts=cfg.sr_restarts, max_samples=cfg.sr_samples, seed=cfg.seed,
                  max_length=30, trim=SR_TRIM)
    names = ["dx", "dy", "dz"][:cfg.dim] + ["r", "m1", "m2", "q1", "q2"]
    return SymbolicModel(edge_fn, input_names=input_names(cfg.dim),
                         transforms=edge_transforms(cfg.dim), features=names, config=sr,
                         max_samples=max(cfg.sr_samples, 4000), factor=SELECTION_FACTOR,
                         seed=cfg.seed)


def _stage_distill(run: RunFolder, cfg: NBodyConfig, law, data: Path, model,
                   progress: bool) -> dict[str, Any]:
    from physdistill.messages import MessageRecorder
    from physdistill.nbody.dataset import fully_connected, load_dataset
    from physdistill.nbody.forcefit import edge_variables, fit_channels, pair_forces
    from physdistill.nbody.structure import distill_structured

    if run.done("distill"):
        return run.read_json("distill.json")
    ds = load_dataset(data)
    x_test = ds.graphs("test")[0]
    G = min(x_test.shape[0], 20_000)
    device = next(model.parameters()).device
    _log(progress, f"[3/5] recording messages on {G} test graphs, fitting forces and "
                   f"distilling {cfg.dim} channels (pyoperon, <= {cfg.sr_seconds:g} s each)")
    with run.stage("distill") as info:
        sm = force_symbolic_model(model.edge_mlp, cfg, law)
        model.edge_mlp = sm
        one = fully_connected(ds.n)
        model.eval()
        sel = torch.randperm(x_test.shape[0], generator=torch.Generator().manual_seed(cfg.seed))
        xs = x_test[sel[:G]]
        with MessageRecorder(model, layer=model, max_edges=50_000, seed=cfg.seed) as rec, \
                sm.capture(), torch.no_grad():
            per = 4096
            for a in range(0, G, per):
                xb = xs[a:a + per]
                B = xb.shape[0]
                ei = repeat_edges(one, B, ds.n).to(device)
                model(xb.reshape(B * ds.n, -1).to(device), ei)
        sample = rec.sample()
        top = sample.top(cfg.dim)
        v = edge_variables(top.inputs["x_i"], top.inputs["x_j"], cfg.dim)
        forces = pair_forces(law, v, cfg.dim)
        # the messages may encode the pair force or the pair acceleration F / m1 (the node
        # model then only sums); fit both and analyse against the better one
        by_target = {"force": (forces, fit_channels(top.messages, forces))}
        accel = forces / v["m1"][:, None]
        by_target["acceleration"] = (accel, fit_channels(top.messages, accel))
        target = max(by_target, key=lambda t: np.mean([f.r2 for f in by_target[t][1]]))
        forces, fits = by_target[target]
        structure = distill_structured(sm, top.messages, v, list(top.channels), cfg.dim)
        sm.switch_to_symbolic()
        sr_inputs = {k: v[k] for k in sm.features}
        channels = []
        for k, ch in enumerate(top.channels):
            front = sm.fronts_[ch]
            eq = sm.equations_[ch]
            pred = eq.evaluate(sr_inputs)
            msg = top.messages[:, k]
            ss = float(((msg - msg.mean()) ** 2).sum())
            r2_msg = float(1 - ((pred - msg) ** 2).sum() / ss) if ss > 0 else float("nan")
            cmp, form, judged = judge_targets(eq, law, sr_inputs, cfg.dim, target, cfg.seed)
            channels.append({
                "index": int(ch), "score": float(top.scores[k]),
                "expression": eq.text(), "latex": eq.latex(), "complexity": eq.complexity,
                "r2_vs_message": r2_msg,
                "force_fit": fits[k].to_dict(),
                "fits": {t: f[1][k].to_dict() for t, f in by_target.items()},
                "ood_rel_error": cmp.out_of_distribution.max_rel_error,
                "id_rel_error": cmp.in_distribution.max_rel_error,
                "symbolic_match": cmp.symbolic_match, "recovered": cmp.recovered,
                "law_form": form, "judged_as": judged,
                "comparison": cmp.to_dict(),
                "front": front.to_dict(),
            })
        result = {"channels": channels, "rank_by": top.rank_by, "target": target,
                  "structure": structure,
                  "edges_seen": int(sample.n_seen), "edges_kept": len(sample),
                  "rule": channels[0]["comparison"]["rule"] if channels else ""}
        run.write_json("distill.json", result)
        # the recorded edges and the network on out-of-distribution edges, for the plots
        ood_v, ood_m = _ood_edges(sm.module, top, cfg.dim)
        save_state(run.file("messages.safetensors"), {
            "variables": _tensors(v), "messages": torch.from_numpy(top.messages.copy()),
            "forces": torch.from_numpy(forces.copy()), "ood_variables": _tensors(ood_v),
            "ood_messages": torch.from_numpy(ood_m)})
        sm.save(run.file("symbolic_edge_model.safetensors"))
        info["channels"] = [c["index"] for c in channels]
    return result


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for k, a in
            arrays.items()}


def _ood_edges(edge_mlp, top, dim: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The recorded edges with positions and masses scaled as the rollout's OOD states
    (:data:`~physdistill.nbody.rollout.OOD`), and the network's kept channels on them."""
    from physdistill.nbody.forcefit import edge_variables
    from physdistill.nbody.rollout import OOD

    ends = []
    for key in ("x_i", "x_j"):
        a = top.inputs[key].copy()
        a[:, :dim] *= OOD["position_scale"]
        a[:, 2 * dim + 1] *= math.exp(OOD["log_mass_shift"])
        ends.append(a)
    p = next(edge_mlp.parameters())
    with torch.no_grad():
        raw = edge_mlp(torch.as_tensor(np.concatenate(ends, 1), dtype=p.dtype, device=p.device))
    return edge_variables(*ends, dim), raw[:, top.channels].double().cpu().numpy()


def _stage_rollout(run: RunFolder, cfg: NBodyConfig, law, model, progress: bool
                   ) -> dict[str, Any]:
    import copy

    from physdistill.nbody.dataset import fully_connected
    from physdistill.nbody.rollout import initial_states, rollout_errors
    from physdistill.symbolic import SymbolicModel

    if run.done("rollout"):
        return run.read_json("rollout.json")
    _log(progress, f"[4/5] rolling out {cfg.rollout_systems} held-out and "
                   f"{cfg.rollout_systems} out-of-distribution systems")
    with run.stage("rollout") as info:
        neural = copy.deepcopy(model).eval()
        symbolic = copy.deepcopy(model).eval()
        edge = neural.edge_mlp.module if isinstance(neural.edge_mlp, SymbolicModel) else \
            neural.edge_mlp
        neural.edge_mlp = edge
        symbolic.edge_mlp = SymbolicModel.load(run.file("symbolic_edge_model.safetensors"),
                                               copy.deepcopy(edge)).to(
            next(model.parameters()).device)
        symbolic.edge_mlp.mode_ = "symbolic"
        one = fully_connected(cfg.n)
        steps = min(cfg.steps, 500)
        out = {}
        for split, ood in (("held_out", False), ("ood", True)):
            ic = initial_states(law, cfg.n, cfg.dim, cfg.rollout_systems,
                                seed=10_000 + cfg.seed, ood=ood)
            res = rollout_errors(law, {"gnn": neural, "symbolic": symbolic}, ic, one, steps)
            out[split] = res
        info["median"] = {s: {k: r["median"] for k, r in res.items()} for s, res in out.items()}
        result = {"steps": steps, "dt": law.dt, "systems": cfg.rollout_systems, **out}
        run.write_json("rollout.json", result)
    return result


def _load_model_for_analysis(run: RunFolder):
    from physdistill.nbody.train import load_checkpoint

    return load_checkpoint(run.file("model"))[0]


def run_nbody(cfg: NBodyConfig, out: str | Path | None = None, *, force: bool = False,
              resume: bool = False, progress: bool = True,
              analysis_device: str | None = None) -> dict[str, Any]:
    """Run every stage (see the module docstring) and return ``metrics.json``'s content.

    ``analysis_device`` overrides where a trained model is distilled and rolled out (default:
    the run's device); the grid's distillation workers analyse on the CPU."""
    from physdistill.nbody.provenance import check_model_law
    from physdistill.nbody.report import write_report

    cfg = cfg.resolved()
    law = _law(cfg)
    if cfg.model is not None:  # before the run folder exists
        check_model_law(cfg.model, law_record(law))
    out = Path(out) if out is not None else Path("runs") / f"nbody-{law.name}-{cfg.reg}"
    for given, what in ((cfg.data, "dataset"), (cfg.model, "model")) if force else ():
        if given is not None:
            check_not_inside(out, given, what)
    with RunFolder(out, "nbody", force=force, resume=resume, config=cfg.to_dict()) as run:
        data = _stage_data(run, cfg, law, progress)
        run.check_stages()  # a resumed run: every finished stage made from these inputs
        model = _stage_train(run, cfg, data, progress, resume)
        where = resolve_device(analysis_device or cfg.device)
        if run.done("train"):
            model = _load_model_for_analysis(run).to(where)
        _stage_distill(run, cfg, law, data, model, progress)
        _stage_rollout(run, cfg, law, _load_model_for_analysis(run).to(where), progress)
        _log(progress, "[5/5] writing the report")
        with run.stage("report"):
            metrics = write_report(run)
    return metrics


def collect_metrics(run: RunFolder) -> dict[str, Any]:
    """``metrics.json`` from a run folder's stage files."""
    from physdistill.nbody.provenance import check_report_inputs

    cfg = NBodyConfig.from_dict(run.meta["config"]).resolved()
    law = _law(cfg)
    check_report_inputs(run, law_record(law))
    hist = run.read_json("history.json")
    distill = run.read_json("distill.json")
    roll = run.read_json("rollout.json") if run.file("rollout.json").exists() else None
    chans = distill["channels"]
    return {
        "law": law.name, "potential": str(law.potential), "regulariser": cfg.reg,
        "preset": cfg.preset, "n": cfg.n, "dim": cfg.dim, "seed": cfg.seed,
        "train_loss": hist["train"][-1], "val_loss": hist["val"][-1],
        "target": distill["target"],
        "message_r2_all": [c["force_fit"]["r2"] for c in chans],
        "message_r2_robust": [c["force_fit"]["r2_robust"] for c in chans],
        "message_r2_all_force": [c["fits"]["force"]["r2"] for c in chans],
        "message_r2_all_acceleration": [c["fits"]["acceleration"]["r2"] for c in chans],
        "channels": [{k: c[k] for k in ("index", "expression", "latex", "complexity",
                                        "r2_vs_message", "ood_rel_error", "symbolic_match",
                                        "recovered")}
                     # runs distilled before law_form existed compared the softened law only
                     | {"law_form": c.get("law_form", "softened" if c["recovered"] else "none")}
                     for c in chans],
        "recovered": bool(chans) and all(c["recovered"] for c in chans),
        "recovery_rule": distill["rule"],
        "rollout": None if roll is None else {
            s: {k: roll[s][k]["median"] for k in roll[s]} for s in ("held_out", "ood")},
        "timings": run.timings,
        "config": cfg.to_dict(),
        "versions": {"physdistill": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    }


def load_messages(run: RunFolder) -> dict[str, Any]:
    """The recorded edges of a run (variables, kept messages, the true pair force or pair
    acceleration they were fitted with) as numpy."""
    state = load_state(run.file("messages.safetensors"))
    return {k: ({n: a.numpy() for n, a in v.items()} if isinstance(v, dict) else v.numpy())
            for k, v in state.items()}
