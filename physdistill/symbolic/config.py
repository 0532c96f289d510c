"""Configuration of a symbolic-regression search (one frozen dataclass, shared by backends)."""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from typing import Any

from physdistill.errors import PhysDistillError
from physdistill.symbolic.operators import BASE_OPERATORS, SEARCH_OPERATORS

#: every operator a search may use (:mod:`~physdistill.symbolic.operators`); backends translate
#: them into their own names.
OPERATORS = tuple(o.name for o in SEARCH_OPERATORS)


def did_you_mean(value: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks, e.g. in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _check_int(name: str, value: Any, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        none = " or None" if allow_none else ""
        raise PhysDistillError(f"SRConfig.{name} must be an integer >= {low}{none}, "
                               f"got {value!r}")


@dataclass(frozen=True)
class SRConfig:
    """Budget and search space of one symbolic-regression run.

    Args:
        operators: the operators the search may use, from :data:`OPERATORS`:
            ``+ - * /`` and any of ``sin cos exp log sqrt pow inv square cube``.
        max_length: largest expression size, in tree nodes.
        population_size: individuals per generation (pyoperon; PySR keeps its own).
        generations: generations (pyoperon) / iterations (PySR).
        max_evaluations: stop after this many expression evaluations.
        time_limit_s: stop after this many seconds (``None``: no limit). A run stopped by the
            clock is not reproducible; for reproducible runs let ``generations`` or
            ``max_evaluations`` end the search and keep the time limit as a safety net.
        constant_iterations: local optimiser (Levenberg-Marquardt) iterations that fit the
            constants of every new individual (>= 1; pyoperon's own default 0 fits none).
        seed: random seed (``None``: a fresh one each run).
        max_samples: larger data sets are randomly subsampled to this many rows
            (``None``: use all).
        n_threads: worker threads (``None``: every core available to this process).
        refine_constants: re-fit the constants of every candidate in float64 (weighted by the
            sample weights) after the search.
        trim: fraction in ``[0, 0.5)`` of the rows to leave out of the search, those whose
            target is farthest from its median (0: keep all). A robust option for targets
            produced by a network: its worst errors sit on its extreme outputs (rare inputs,
            such as close encounters in an n-body system), and a squared-error search bends
            its equations to fit them. Needs no knowledge of the true law.
        restarts: independent searches on the same rows (seeds ``seed, seed + 1, ...``) whose
            candidates are pooled into one front; ``time_limit_s`` and ``max_evaluations``
            apply to each. Genetic programming often settles early in a local optimum (on
            n-body messages, a short form such as ``q1 q2 dy / r**2``), and a longer search of
            the same seed then only refines it; pooled restarts find the law far more often
            for the same total budget (see docs/symbolic.md).
        stop_loss: end the restarts early once a candidate's normalised loss
            ``MSE / Var(y)`` is at or below this (``None``: run them all). A form that fits to
            round-off (e.g. ``1e-20`` on exact data) cannot be improved by more searches.
        stop_agree: end the restarts early once this many of them chose the same function
            (the same complexity, predictions equal to 0.1 % of the target's RMS) on their
            own fronts (``None``: run them all). Searches from independent seeds that settle
            on one form have found what this budget finds; disagreeing ones go on.
        offset_variants: also put each candidate less its additive constant (the other
            constants refitted) on the front, for the selection rule to weigh. A search on
            a network's output keeps small constants that fit its errors, and its Pareto
            front then often lacks the same form without them.
    """

    operators: tuple[str, ...] = BASE_OPERATORS
    max_length: int = 25
    population_size: int = 500
    generations: int = 500
    max_evaluations: int = 1_000_000
    time_limit_s: float | None = 120.0
    constant_iterations: int = 10
    seed: int | None = 0
    max_samples: int | None = 5_000
    n_threads: int | None = None
    refine_constants: bool = True
    trim: float = 0.0
    restarts: int = 1
    stop_loss: float | None = None
    stop_agree: int | None = None
    offset_variants: bool = False

    def __post_init__(self) -> None:
        ops = self.operators
        if isinstance(ops, str):
            ops = tuple(o.strip() for o in ops.split(",") if o.strip())
        try:
            ops = tuple(ops)
        except TypeError:
            raise PhysDistillError(f"SRConfig.operators must be a sequence of operator names, "
                                   f"got {ops!r}") from None
        for op in ops:
            if op not in OPERATORS:
                raise PhysDistillError(f"unknown operator {op!r}; expected some of "
                                       f"{list(OPERATORS)}.{did_you_mean(op, OPERATORS)}")
        if not any(o in ops for o in ("+", "-")) or "*" not in ops:
            raise PhysDistillError(f"operators {list(ops)} must include '*' and '+' (or '-'); "
                                   "e.g. ('+', '-', '*', '/', 'sin')")
        # canonical order, no duplicates: equal configs hash equal
        object.__setattr__(self, "operators", tuple(o for o in OPERATORS if o in ops))
        _check_int("max_length", self.max_length, 3)
        _check_int("population_size", self.population_size, 2)
        _check_int("generations", self.generations, 1)
        _check_int("max_evaluations", self.max_evaluations, 1)
        _check_int("constant_iterations", self.constant_iterations, 1)
        _check_int("seed", self.seed, 0, allow_none=True)
        _check_int("max_samples", self.max_samples, 10, allow_none=True)
        _check_int("n_threads", self.n_threads, 1, allow_none=True)
        _check_int("restarts", self.restarts, 1)
        t = self.time_limit_s
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0):
            raise PhysDistillError(f"SRConfig.time_limit_s must be a positive number of seconds "
                                   f"or None, got {t!r}")
        tr = self.trim
        if isinstance(tr, bool) or not isinstance(tr, (int, float)) or not 0 <= tr < 0.5:
            raise PhysDistillError(f"SRConfig.trim must be a fraction in [0, 0.5), got {tr!r}")
        sa = self.stop_agree
        if sa is not None and (isinstance(sa, bool) or not isinstance(sa, int) or sa < 2):
            raise PhysDistillError(f"SRConfig.stop_agree must be an integer >= 2 or None, got "
                                   f"{sa!r}")
        sl = self.stop_loss
        if sl is not None and (isinstance(sl, bool) or not isinstance(sl, (int, float))
                               or not 0 <= sl < 1):
            raise PhysDistillError(f"SRConfig.stop_loss must be a normalised loss in [0, 1) or "
                                   f"None, got {sl!r}")
        if not isinstance(self.refine_constants, bool):
            raise PhysDistillError(f"SRConfig.refine_constants must be True or False, got "
                                   f"{self.refine_constants!r}")

    @property
    def threads(self) -> int:
        """``n_threads``, with ``None`` resolved to the available cores."""
        return self.n_threads or available_cores()

    def replace(self, **changes: Any) -> SRConfig:
        """A copy with some fields changed; unknown names raise a clear error."""
        names = [f.name for f in dataclasses.fields(self)]
        for k in changes:
            if k not in names:
                raise PhysDistillError(f"SRConfig has no option {k!r}; expected one of "
                                       f"{names}.{did_you_mean(k, names)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["operators"] = list(self.operators)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> SRConfig:
        if not isinstance(data, dict):
            raise PhysDistillError(f"SRConfig must be stored as an object, got "
                                   f"{type(data).__name__}")
        return cls().replace(**{k: (tuple(v) if k == "operators" else v)
                                for k, v in data.items()})
