"""Curves: losses and other series against the epoch or step, and a Pareto front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from physdistill.plots.style import COLORS, HELD_OUT, _plt, _ref, _styled, save_figure


def loss_curves(history: dict[str, list[float]], path: str | Path, title: str = "training",
                logy: bool = True) -> Path:
    """Named loss series against the epoch (1, 2, ...); :func:`curves_vs_step`'s figure."""
    n = max((len(v) for v in history.values()), default=0)
    return curves_vs_step(list(range(1, n + 1)), history, path, title, "loss", logy,
                          xlabel="epoch", markers=n < 20)


@_styled
def pareto_front(complexity: list[int], loss: list[float], path: str | Path,
                 chosen: int | None = None, title: str = "Pareto front") -> Path:
    """Loss vs complexity of the candidate equations; the chosen one is circled."""
    fig, ax = _plt().subplots(figsize=(4.5, 3.5))
    ax.plot(complexity, loss, "o-", ms=4, color=HELD_OUT, label="candidates")
    if chosen is not None:
        ax.plot([complexity[chosen]], [loss[chosen]], "o", ms=12, mfc="none",
                mec=COLORS["vermillion"], mew=1.5, label="chosen")
    ax.legend()
    ax.set_yscale("log")
    ax.set(xlabel="complexity (expression nodes)", ylabel="loss (mean squared error)",
           title=title)
    return save_figure(fig, path)


def curves(series: dict[str, Any], x: Any, path: str | Path, *, xlabel: str, ylabel: str,
           title: str = "", logy: bool = True) -> Path:
    """Named curves ``series[name]`` against ``x`` on one axis; :func:`curves_vs_step`'s
    figure."""
    return curves_vs_step(list(x), series, path, title, ylabel, logy, xlabel=xlabel)


@_styled
def curves_vs_step(step: list[float], series: dict[str, list[float]], path: str | Path,
                   title: str = "training", ylabel: str = "loss", logy: bool = True,
                   marks: dict[str, float] | None = None, truth: float | None = None, *,
                   xlabel: str = "step", markers: bool = False) -> Path:
    """Named series against the training step (log scale of |.| unless ``logy`` is false).

    Args:
        step: the step of each entry.
        series: name -> values (at most as long as ``step``; empty series are skipped).
        path: PNG to write.
        marks: label -> step, drawn as dashed vertical lines (e.g. where L-BFGS starts).
        truth: a horizontal reference line (e.g. the true alpha).
        xlabel: the x axis's label; markers: draw each point (for short series).
    """
    fig, ax = _plt().subplots(figsize=(5.5, 3.5))
    for name, values in series.items():
        if len(values):
            v = np.abs(values) if logy else np.asarray(values)
            ax.plot(step[:len(v)], v, "o-" if markers else "-", ms=3, label=name)
    for label, s in (marks or {}).items():
        _ref(ax.axvline(s, color="gray", ls="--", lw=0.8))
        ax.annotate(label, (s, 1), xycoords=("data", "axes fraction"), fontsize=8,
                    ha="left", va="top", rotation=90)
    if truth is not None:
        _ref(ax.axhline(truth, color=COLORS["black"], ls=":", lw=1, label="truth"))
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    return save_figure(fig, path)
