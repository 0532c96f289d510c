"""n-body figures: messages against the fitted force, residual panels, and a grid's recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from physdistill.plots.style import (
    COLORS,
    HELD_OUT,
    OOD,
    _band,
    _plt,
    _ref,
    _styled,
    _symlog_y,
    save_figure,
)


@_styled
def identity_scatter(panels: list[dict[str, Any]], path: str | Path,
                     title: str = "message vs fitted force") -> Path:
    """One scatter per panel of ``y`` against ``x`` with the identity line.

    Each panel is ``{"x", "y", "title", "xlabel", "ylabel"}`` and optionally ``"outlier"`` (a
    boolean mask, drawn as crosses: the points a robust fit left out) and ``"label"`` (the
    legend of the other points, default "kept by the fit"). ``x`` must be the
    prediction of the fit the panel's title reports, so a good fit lies on the identity line.
    The axes show the 0.5-99.5 % range of the kept points; the figure states how many points
    lie outside.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 4.3), squeeze=False)
    for ax, p in zip(axes[0], panels):
        x, y = np.asarray(p["x"], float), np.asarray(p["y"], float)
        out = np.asarray(p.get("outlier", np.zeros(x.size, bool)), bool)
        kept = np.concatenate([x[~out], y[~out]])
        lo, hi = np.nanpercentile(kept, [0.5, 99.5])
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
        if out.any():
            ax.scatter(x[out], y[out], s=8, marker="x", lw=0.6, color=COLORS["vermillion"],
                       rasterized=True, label=f"left out by the robust fit ({int(out.sum())})")
        ax.scatter(x[~out], y[~out], s=2, alpha=0.3, color=HELD_OUT, rasterized=True,
                   label=f"{p.get('label', 'kept by the fit')} ({int((~out).sum())})")
        _ref(ax.plot([lo, hi], [lo, hi], "-", color=COLORS["black"], lw=1, label="identity")[0])
        outside = int((~((x >= lo) & (x <= hi) & (y >= lo) & (y <= hi))).sum())
        ax.set(xlim=(lo, hi), ylim=(lo, hi), title=p.get("title", ""),
               xlabel=p.get("xlabel", "x"), ylabel=p.get("ylabel", "y"))
        ax.set_aspect("equal", adjustable="box")
        ax.legend(loc="upper left", markerscale=3)
        ax.text(0.98, 0.02, f"axes: 0.5-99.5 % of kept points\n{outside} points outside",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3")
    fig.suptitle(title)
    return save_figure(fig, path)


@_styled
def residual_panels(rows: list[dict[str, Any]], path: str | Path,
                    title: str = "equation minus network") -> Path:
    """Residuals of an equation against the network it was distilled from, against ``r``.

    One row per entry of ``rows``, with ``r``, ``resid`` (equation - network) and ``scale``
    (per point, the denominator of the relative residual) on held-out edges, the same with an
    ``ood_`` prefix on out-of-distribution edges, and a ``title``. Left: the absolute residual
    on a symmetric-log axis; right: the relative residual ``resid / scale`` in %. Both show
    every point faintly, and binned medians with 5-95 % bands per set; the ``r`` range outside
    the held-out one is shaded.
    """
    plt = _plt()
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 3.6 * len(rows)), squeeze=False)
    for (a_abs, a_rel), row in zip(axes, rows):
        r, ood_r = np.asarray(row["r"], float), np.asarray(row["ood_r"], float)
        sets = [("held-out", r, np.asarray(row["resid"], float),
                 np.asarray(row["scale"], float), HELD_OUT),
                ("out of distribution", ood_r, np.asarray(row["ood_resid"], float),
                 np.asarray(row["ood_scale"], float), OOD)]
        for ax, rel in ((a_abs, False), (a_rel, True)):
            for name, rr, res, scale, color in sets:
                v = 100 * res / scale if rel else res
                ax.scatter(rr, v, s=1, alpha=0.08, color=color, rasterized=True, zorder=1)
                _band(ax, rr, v, color, name, log=True)
            _ref(ax.axhline(0, color=COLORS["black"], lw=0.8))
            ax.set_xscale("log")
            ax.set_xlabel("pair distance r [simulation units]")
            lo_in, hi_in = np.nanmin(r), np.nanmax(r)
            if ood_r.size and np.nanmax(ood_r) > hi_in:
                ax.axvspan(hi_in, np.nanmax(ood_r), color=OOD, alpha=0.08, lw=0)
            if ood_r.size and np.nanmin(ood_r) < lo_in:
                ax.axvspan(np.nanmin(ood_r), lo_in, color=OOD, alpha=0.08, lw=0)
        all_abs = np.concatenate([s[2] for s in sets])
        all_rel = np.concatenate([100 * s[2] / s[3] for s in sets])
        rule = _symlog_y(a_abs, all_abs)
        a_abs.set_ylabel("equation - network")
        a_abs.set_title(f"{row.get('title', '')}\nabsolute; y: {rule}")
        rule = _symlog_y(a_rel, all_rel, " %")
        a_rel.set_ylabel("(equation - network) / scale [%]")
        a_rel.set_title(f"relative; scale: {row.get('scale_label', 'per point')}\ny: {rule}")
        a_abs.legend(loc="lower left", fontsize=7, ncols=2)
    fig.suptitle(f"{title} (shaded: r outside the held-out range)")
    return save_figure(fig, path)


@_styled
def gain_panels(rows: list[dict[str, Any]], features: list[tuple[str, str]], path: str | Path,
                tol: float, title: str = "where the messages carry the law") -> Path:
    """Each channel's gain against its force fit per bin of each feature (see
    :func:`physdistill.gnn.linfit.binned_gain`), one panel per feature on a log x axis, with
    the band ``1 +- tol`` in which a bin counts as carrying the law.

    Args:
        rows: ``{"label", "gains": {feature: bins}}`` per channel.
        features: ``(name, axis label)`` per panel, e.g. ``("r", "pair distance r")``.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(features), figsize=(5.2 * len(features), 3.9),
                             squeeze=False, sharey=True)
    for ax, (name, label) in zip(axes[0], features):
        ax.axhspan(1 - tol, 1 + tol, color="0.85", lw=0, label=f"gain 1 +- {tol:g}: law carried")
        _ref(ax.axhline(1, color=COLORS["black"], lw=0.8))
        _ref(ax.axhline(0, color="0.5", lw=0.8, ls=":"))
        for row, color in zip(rows, (HELD_OUT, OOD, COLORS["vermillion"])):
            g = row["gains"][name]
            ax.plot([b["median"] for b in g], [b["gain"] for b in g], "o-", ms=4, color=color,
                    label=row["label"])
            ax.hlines([b["gain"] for b in g], [b["lo"] for b in g], [b["hi"] for b in g],
                      color=color, lw=0.8, alpha=0.5)
        ax.set_xscale("log")
        ax.set(xlabel=f"{label} (bins: quantiles, finer in the tails)")
    axes[0][0].set_ylabel("gain: message / force fit")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


@_styled
def recovery_grid(entries: list[dict[str, Any]], rows: list[str], cols: list[str],
                  path: str | Path, title: str = "force-law recovery") -> Path:
    """A grid's recovery at a glance: left, the fraction of message channels recovered per
    (row, column) entry, annotated ``k/n``; right, the median robust R² of the force fit,
    annotated with the published value beneath it where there is one.

    Args:
        entries: dicts with ``law``, ``reg`` (row and column names), ``recovered``,
            ``channels``, ``r2_robust`` (list) and ``reference`` (published pair, or None).
    """
    plt = _plt()
    by = {(e["law"], e["reg"]): e for e in entries}
    frac = np.full((len(rows), len(cols)), np.nan)
    r2 = np.full_like(frac, np.nan)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            e = by.get((r, c))
            if e and e["channels"]:
                frac[i, j] = e["recovered"] / e["channels"]
            if e and e["r2_robust"]:
                r2[i, j] = float(np.median(e["r2_robust"]))
    fig, axes = plt.subplots(1, 2, figsize=(3.0 + 1.6 * len(cols), 1.2 + 0.6 * len(rows)))
    for ax, data, label in ((axes[0], frac, "channels recovered"),
                            (axes[1], r2, "median robust R²\n(SymTorch's in brackets)")):
        im = ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), rows)
        ax.grid(False)
        ax.set_title(label)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                e = by.get((r, c))
                if not e:
                    continue
                if np.isnan(data[i, j]):
                    text = "no result"
                elif data is frac:
                    text = f"{e['recovered']}/{e['channels']}"
                else:
                    text = f"{data[i, j]:.3f}"
                    if e.get("reference"):
                        text += f"\n({float(np.mean(e['reference'])):.2f})"
                v = data[i, j]
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="black" if np.isnan(v) or v > 0.6 else "white")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    return save_figure(fig, path)
