"""The result of :func:`~physdistill.gnn.distill_messages`: fronts, equations, and how they
compare with the messages and with a reference law."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physdistill.errors import PhysDistillError
from physdistill.gnn.features import FeatureSet
from physdistill.gnn.linfit import ChannelFit, fit_channels
from physdistill.gnn.reference import Reference
from physdistill.symbolic.compare import Comparison, compare
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.front import ParetoFront


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    if ss == 0 or not np.isfinite(pred).all():
        return float("nan")
    return float(1 - ((pred - y) ** 2).sum() / ss)


@dataclass
class MessageDistillation:
    """Equations of the kept message channels of one layer.

    Attributes:
        layer_type: the layer's class name.
        channels: the kept channels (the layer's indices), best ranked first.
        scores: their ranking scores; rank_by: the ranking used.
        width: the layer's message channels in total.
        feature_names: the features the equations are written in; derived: the formula
            features as formulas of the others.
        fronts: channel -> :class:`~physdistill.symbolic.ParetoFront` (the chosen candidate is
            the equation).
        structure: what the search did (``path``, centrality score, ...).
        n_seen, n_kept: edges seen while recording, and kept in the sample.
        means: every channel's mean message over the recorded edges (the value
            :func:`~physdistill.gnn.use_equations` gives the channels that were not kept).
        arguments: the recorded ``message()`` arguments.
        messages: ``[E, len(channels)]`` the kept channels on the recorded edges; values:
            the features there; inputs: the recorded ``message()`` arguments there
            (argument -> ``[E, width]``).
        features: the :class:`~physdistill.gnn.features.FeatureSet` (to evaluate the
            equations in the layer's place).
        reference: the known law, if any; fits (channel -> linear fit of the messages by the
            law's components), comparisons (channel -> :class:`~physdistill.symbolic.
            Comparison`) and comparison_errors (channel -> why none was possible) with it.
    """

    layer_type: str
    channels: list[int]
    scores: list[float]
    rank_by: str
    width: int
    feature_names: list[str]
    derived: dict[str, str]
    fronts: dict[int, ParetoFront]
    structure: dict[str, Any]
    n_seen: int
    n_kept: int
    means: list[float]
    arguments: list[str]
    messages: np.ndarray = field(repr=False)
    values: dict[str, np.ndarray] = field(repr=False)
    inputs: dict[str, np.ndarray] = field(repr=False)
    features: FeatureSet = field(repr=False)
    reference: Reference | None = None
    fits: dict[int, ChannelFit] = field(default_factory=dict)
    comparisons: dict[int, Comparison] = field(default_factory=dict)
    comparison_errors: dict[int, str] = field(default_factory=dict)

    @property
    def equations(self) -> dict[int, Expression]:
        """channel -> the chosen equation of its front."""
        return {c: f.chosen.expression for c, f in self.fronts.items()}

    def r2(self) -> dict[int, float]:
        """channel -> :math:`R^2` of its equation against the recorded messages."""
        return {c: _r2(self.messages[:, k], self.fronts[c].chosen.expression.evaluate(
            self.values)) for k, c in enumerate(self.channels)}

    @property
    def recovered(self) -> bool | None:
        """Whether every kept channel's equation is the reference law (``None``: no
        reference)."""
        if self.reference is None:
            return None
        return bool(self.channels) and all(
            c in self.comparisons and self.comparisons[c].recovered for c in self.channels)

    def compare_with_reference(self) -> MessageDistillation:
        """Fit the messages by the reference's components and compare each equation with
        their combination (module docstring of :mod:`~physdistill.gnn.reference`)."""
        if self.reference is None:
            raise PhysDistillError("no reference law was given; pass reference=... to "
                                   "distill_messages")
        ref = self.reference
        law = ref.combination(self.feature_names)
        fits = fit_channels(self.messages, ref.values(self.values))
        self.fits = dict(zip(self.channels, fits))
        self.comparisons, self.comparison_errors = {}, {}
        for c, eq in self.equations.items():
            try:
                self.comparisons[c] = compare(
                    eq, law, self.values, coefficients=ref.coefficients(self.feature_names),
                    derived=self.derived, keep=ref.keep, match_tol=ref.match_tol,
                    rel_tol=ref.rel_tol, rel_floor=ref.rel_floor)
            except PhysDistillError as exc:  # e.g. an equation not finite on every edge
                self.comparison_errors[c] = str(exc)
        return self

    def table(self, digits: int = 4) -> str:
        """One line per kept channel: index, R² against the messages, verdict, equation."""
        r2 = self.r2()
        lines = [f"{self.layer_type}: {len(self.channels)} of {self.width} channels "
                 f"(ranked by {self.rank_by}; search: {self.structure.get('path')})"]
        for c in self.channels:
            verdict = ""
            if self.reference is not None:
                cmp = self.comparisons.get(c)
                verdict = " recovered" if cmp is not None and cmp.recovered else " not recovered"
            lines.append(f"  channel {c}: R2 {r2[c]:.6f}{verdict}  "
                         f"{self.fronts[c].chosen.expression.text(digits)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (no arrays): what ``distill.json`` holds."""
        r2 = self.r2()
        chans = []
        for k, c in enumerate(self.channels):
            eq = self.fronts[c].chosen.expression
            cmp = self.comparisons.get(c)
            chans.append({
                "index": c, "score": self.scores[k], "expression": eq.text(),
                "latex": eq.latex(), "complexity": eq.complexity,
                "r2_vs_message": r2[c], "front": self.fronts[c].to_dict(),
                "fit": None if c not in self.fits else self.fits[c].to_dict(),
                "comparison": None if cmp is None else cmp.to_dict(),
                "recovered": None if self.reference is None else bool(cmp and cmp.recovered),
                "comparison_error": self.comparison_errors.get(c)})
        return {"layer": self.layer_type, "rank_by": self.rank_by, "width": self.width,
                "features": self.feature_names, "derived": self.derived,
                "arguments": self.arguments, "structure": self.structure,
                "edges_seen": self.n_seen, "edges_kept": self.n_kept, "means": self.means,
                "reference": None if self.reference is None else
                list(self.reference.components),
                "recovered": self.recovered, "channels": chans}
