"""The Pareto front of a search: candidates (complexity, loss) and the chosen one."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from physdistill.errors import PhysDistillError
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.selection import (
    DEFAULT_FACTOR,
    DEFAULT_FLOOR,
    describe,
    normalised_losses,
    scores,
    select_index,
)


@dataclass(frozen=True)
class Candidate:
    """One expression of a front.

    Attributes:
        expression: the expression.
        complexity: its node count (:func:`physdistill.symbolic.sympy_tools.complexity`).
        loss: weighted mean squared error on the data it was fitted on.
        score: PySR's score ``-dln(loss)/dcomplexity`` (see :mod:`~physdistill.symbolic.selection`).
    """

    expression: Expression
    complexity: int
    loss: float
    score: float = 0.0

    def to_dict(self) -> dict:
        return {"expression": self.expression.to_dict(), "complexity": self.complexity,
                "loss": _num_out(self.loss), "score": _num_out(self.score)}

    @classmethod
    def from_dict(cls, data: Any) -> Candidate:
        if not isinstance(data, dict) or set(data) != {"expression", "complexity", "loss",
                                                        "score"}:
            raise PhysDistillError("corrupt candidate: expected an object with expression, "
                                   "complexity, loss, score")
        expr = Expression.from_dict(data["expression"])
        c = data["complexity"]
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise PhysDistillError(f"corrupt candidate: complexity {c!r}")
        return cls(expr, c, _num_in(data["loss"]), _num_in(data["score"]))


def _num_out(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _num_in(x: Any) -> float:
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise PhysDistillError(f"corrupt candidate: expected a number, got {str(x)[:30]!r}")
    return float(x)


@dataclass(frozen=True)
class ParetoFront:
    """Candidates sorted by increasing complexity and strictly decreasing loss.

    Attributes:
        candidates: the front.
        chosen_index: index of the chosen candidate.
        rule: the selection rule, in words, with its numbers.
        target_variance: weighted variance of the target (losses are normalised by it).
        backend: name of the engine that produced the candidates.
    """

    candidates: tuple[Candidate, ...]
    chosen_index: int
    rule: str
    target_variance: float
    backend: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def chosen(self) -> Candidate:
        return self.candidates[self.chosen_index]

    @property
    def expression(self) -> Expression:
        """The chosen expression."""
        return self.chosen.expression

    @property
    def complexities(self) -> list[int]:
        return [c.complexity for c in self.candidates]

    def __len__(self) -> int:
        return len(self.candidates)

    def __iter__(self):
        return iter(self.candidates)

    def at_complexity(self, complexity: int) -> Candidate:
        return self.candidates[self.index(complexity=complexity)]

    def index(self, rule: str = "best", *, complexity: int | None = None,
              factor: float = DEFAULT_FACTOR, floor: float = DEFAULT_FLOOR) -> int:
        return select_index(self.complexities, [c.loss for c in self.candidates],
                            self.target_variance, rule, complexity=complexity, factor=factor,
                            floor=floor)

    def choose(self, rule: str = "best", *, complexity: int | None = None,
               factor: float = DEFAULT_FACTOR, floor: float = DEFAULT_FLOOR) -> ParetoFront:
        """A copy of the front with another candidate chosen (this front is unchanged)."""
        i = self.index(rule, complexity=complexity, factor=factor, floor=floor)
        return ParetoFront(self.candidates, i, describe(rule, factor, floor, complexity),
                           self.target_variance, self.backend, dict(self.meta))

    def table(self, digits: int = 4) -> str:
        """The front as a text table; ``>`` marks the chosen candidate."""
        lines = [f"  {'complexity':>10}  {'loss':>10}  {'score':>8}  expression"]
        for i, c in enumerate(self.candidates):
            mark = ">" if i == self.chosen_index else " "
            lines.append(f"{mark} {c.complexity:>10d}  {c.loss:>10.3g}  {c.score:>8.3g}  "
                         f"{c.expression.text(digits)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        return {"candidates": [c.to_dict() for c in self.candidates],
                "chosen_index": self.chosen_index, "rule": self.rule,
                "target_variance": _num_out(self.target_variance), "backend": self.backend,
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data: Any) -> ParetoFront:
        keys = {"candidates", "chosen_index", "rule", "target_variance", "backend", "meta"}
        if not isinstance(data, dict) or set(data) != keys:
            raise PhysDistillError(f"corrupt Pareto front: expected an object with keys "
                                   f"{sorted(keys)}")
        cands = data["candidates"]
        if not isinstance(cands, list) or not cands or len(cands) > 10_000:
            raise PhysDistillError("corrupt Pareto front: 'candidates' must be a non-empty list")
        candidates = tuple(Candidate.from_dict(c) for c in cands)
        i = data["chosen_index"]
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(candidates):
            raise PhysDistillError(f"corrupt Pareto front: chosen_index {i!r}")
        if not isinstance(data["rule"], str) or not isinstance(data["backend"], str) \
                or not isinstance(data["meta"], dict):
            raise PhysDistillError("corrupt Pareto front: rule/backend/meta have wrong types")
        return cls(candidates, i, data["rule"][:500], _num_in(data["target_variance"]),
                   data["backend"][:100], _plain_meta(data["meta"]))


def _plain_meta(meta: dict) -> dict:
    out = {}
    for k, v in list(meta.items())[:100]:
        if isinstance(k, str) and (v is None or isinstance(v, (bool, int, float, str))):
            out[k[:100]] = v[:1000] if isinstance(v, str) else v
    return out


def build_front(items: Iterable[tuple[Expression, float]], target_variance: float,
                rule: str = "best", *, complexity: int | None = None,
                factor: float = DEFAULT_FACTOR, floor: float = DEFAULT_FLOOR,
                backend: str = "", meta: dict | None = None) -> ParetoFront:
    """Keep the non-dominated ``(expression, loss)`` pairs and choose one.

    Candidates with a non-finite loss are dropped; for each complexity the lowest loss is
    kept (the simpler text on ties); then only candidates whose loss is strictly lower than
    every simpler one's remain.
    """
    best: dict[int, tuple[float, Expression]] = {}
    for expr, loss in items:
        if not math.isfinite(loss):
            continue
        c = expr.complexity
        cur = best.get(c)
        if cur is None or loss < cur[0] or (loss == cur[0] and str(expr) < str(cur[1])):
            best[c] = (loss, expr)
    if not best:
        raise PhysDistillError("no candidate expression could be evaluated on the data (all "
                               "gave NaN or inf); check the inputs or allow other operators")
    kept: list[tuple[int, float, Expression]] = []
    for c in sorted(best):
        loss, expr = best[c]
        if not kept or loss < kept[-1][1]:
            kept.append((c, loss, expr))
    comps = [k[0] for k in kept]
    s = scores(comps, normalised_losses([k[1] for k in kept], target_variance, floor))
    candidates = tuple(Candidate(e, c, loss, float(sc)) for (c, loss, e), sc in zip(kept, s))
    i = select_index(comps, [k[1] for k in kept], target_variance, rule,
                     complexity=complexity, factor=factor, floor=floor)
    return ParetoFront(candidates, i, describe(rule, factor, floor, complexity),
                       float(target_variance), backend, dict(meta or {}))
