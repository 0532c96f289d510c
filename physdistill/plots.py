"""The one plotting module. Every figure the package draws is a function here.

Functions take plain arrays (numpy) and a path, draw with matplotlib's Agg backend (no screen
needed), and write the PNG atomically. They return the path written.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from physdistill._io import atomic_write_bytes


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Render ``fig`` to PNG in memory, write it atomically, and close it."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def loss_curves(history: dict[str, list[float]], path: str | Path, title: str = "training",
                logy: bool = True) -> Path:
    """Plot named loss series against epoch (or step)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, values in history.items():
        if len(values):
            ax.plot(range(1, len(values) + 1), values, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def pareto_front(complexity: list[int], loss: list[float], path: str | Path,
                 chosen: int | None = None, title: str = "Pareto front") -> Path:
    """Loss vs complexity of the candidate equations; the chosen one is circled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot(complexity, loss, "o-", ms=4)
    if chosen is not None:
        ax.plot([complexity[chosen]], [loss[chosen]], "o", ms=12, mfc="none", mec="red",
                label="chosen")
        ax.legend()
    ax.set_yscale("log")
    ax.set_xlabel("complexity")
    ax.set_ylabel("loss")
    ax.set_title(title)
    return save_figure(fig, path)


# --- n-body -----------------------------------------------------------------------------------


def identity_scatter(panels: list[dict[str, Any]], path: str | Path,
                     title: str = "message vs fitted force") -> Path:
    """One scatter per panel of ``y`` against ``x`` with the identity line.

    Each panel is ``{"x", "y", "title", "xlabel", "ylabel"}`` (arrays of equal length).
    """
    import numpy as np

    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, p in zip(axes[0], panels):
        x, y = np.asarray(p["x"]), np.asarray(p["y"])
        ax.scatter(x, y, s=2, alpha=0.3, rasterized=True)
        lo, hi = np.nanpercentile(np.concatenate([x, y]), [0.5, 99.5])
        ax.plot([lo, hi], [lo, hi], "r-", lw=1, label="identity")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_title(p.get("title", ""))
        ax.set_xlabel(p.get("xlabel", "x"))
        ax.set_ylabel(p.get("ylabel", "y"))
        ax.legend(loc="upper left")
    fig.suptitle(title)
    return save_figure(fig, path)


def residual_panels(rows: list[dict[str, Any]], path: str | Path,
                    title: str = "equation minus network") -> Path:
    """Residuals of an equation against the network it was distilled from.

    One row of two panels per entry of ``rows``: residual against ``r`` and against the
    equation's value, for in-distribution points (``r``, ``pred``, ``resid``) and
    out-of-distribution points (``ood_r``, ``ood_pred``, ``ood_resid``); the range of ``r``
    outside the in-distribution one is shaded as the OOD band.
    """
    import numpy as np

    plt = _plt()
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 3.4 * len(rows)), squeeze=False)
    for (a_r, a_p), row in zip(axes, rows):
        r, ood_r = np.asarray(row["r"]), np.asarray(row["ood_r"])
        for ax, key in ((a_r, "r"), (a_p, "pred")):
            ax.scatter(row[f"ood_{key}"], row["ood_resid"], s=2, alpha=0.3, c="tab:orange",
                       label="out of distribution", rasterized=True)
            ax.scatter(row[key], row["resid"], s=2, alpha=0.3, c="tab:blue",
                       label="in distribution", rasterized=True)
            ax.axhline(0, color="k", lw=0.8)
            ax.set_ylabel("equation - message")
        a_r.set_title(row.get("title", ""), fontsize=9)
        hi_r = np.nanmax(ood_r) if ood_r.size else np.nanmax(r)
        a_r.axvspan(np.nanmax(r), hi_r, color="tab:orange", alpha=0.1, label="OOD band")
        if ood_r.size and np.nanmin(ood_r) < np.nanmin(r):
            a_r.axvspan(np.nanmin(ood_r), np.nanmin(r), color="tab:orange", alpha=0.1)
        a_r.set_xscale("log")
        a_r.set_xlabel("r")
        a_p.set_xlabel("equation value")
        a_r.legend(loc="best", markerscale=4, fontsize=8)
        lim = np.nanpercentile(np.abs(np.concatenate([row["resid"], row["ood_resid"]])), 99)
        if np.isfinite(lim) and lim > 0:
            for ax in (a_r, a_p):
                ax.set_ylim(-1.5 * lim, 1.5 * lim)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def curves(series: dict[str, Any], x: Any, path: str | Path, *, xlabel: str, ylabel: str,
           title: str = "", logy: bool = True) -> Path:
    """Named curves ``series[name]`` against ``x`` on one axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, y in series.items():
        ax.plot(x, y, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# heat equation (physdistill.heat)


def heat_maps(x: Any, t: Any, maps: dict[str, Any], path: str | Path, title: str = "",
              difference: bool = False) -> Path:
    """One panel per named field on an ``(x, t)`` grid.

    Args:
        x, t: grid axes, shapes ``(nx,)`` and ``(nt,)``.
        maps: name -> array of shape ``(nt, nx)``.
        path: PNG to write.
        title: figure title.
        difference: the fields are differences: each panel gets its own colour scale,
            symmetric about zero, and its largest absolute value in the title. Otherwise all
            panels share one scale (for comparing solutions).
    """
    import numpy as np

    plt = _plt()
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(3.9 * n, 3.4), squeeze=False,
                             layout="constrained")
    values = [np.asarray(v, dtype=float) for v in maps.values()]
    finite = [v[np.isfinite(v)] for v in values]
    lo = min((f.min() for f in finite if f.size), default=0.0)
    hi = max((f.max() for f in finite if f.size), default=1.0)
    for ax, (name, v), f in zip(axes[0], zip(maps, values), finite):
        if difference:
            m = float(np.abs(f).max()) if f.size else 1.0
            m = m or 1.0
            im = ax.pcolormesh(x, t, v, cmap="RdBu_r", vmin=-m, vmax=m, shading="auto")
            ax.set_title(f"{name}\nmax |.| = {m:.2e}", fontsize=9)
        else:
            im = ax.pcolormesh(x, t, v, cmap="viridis", vmin=lo, vmax=hi, shading="auto")
            ax.set_title(name, fontsize=9)
        ax.set_xlabel("x")
        fig.colorbar(im, ax=ax)
    axes[0][0].set_ylabel("t")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def curves_vs_step(step: list[float], series: dict[str, list[float]], path: str | Path,
                   title: str = "training", ylabel: str = "loss", logy: bool = True,
                   marks: dict[str, float] | None = None, truth: float | None = None) -> Path:
    """Named series against the training step (log scale unless ``logy`` is false).

    Args:
        step: the step of each entry.
        series: name -> values (same length as ``step``; empty series are skipped).
        path: PNG to write.
        marks: label -> step, drawn as dashed vertical lines (e.g. where L-BFGS starts).
        truth: a horizontal reference line (e.g. the true alpha).
    """
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, values in series.items():
        if len(values):
            v = np.abs(values) if logy else np.asarray(values)
            ax.plot(step[:len(v)], v, label=name)
    for label, s in (marks or {}).items():
        ax.axvline(s, color="gray", ls="--", lw=0.8)
        ax.annotate(label, (s, 1), xycoords=("data", "axes fraction"), fontsize=8,
                    ha="left", va="top", rotation=90)
    if truth is not None:
        ax.axhline(truth, color="black", ls=":", lw=1, label="truth")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
