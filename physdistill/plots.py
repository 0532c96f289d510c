"""The one plotting module. Every figure the package draws is a function here.

Functions take plain arrays (numpy) and a path, draw with matplotlib's Agg backend (no screen
needed) in one house style (:data:`STYLE`: constrained layout, so labels never overlap;
the Okabe-Ito colour-blind-safe palette :data:`COLORS`; one font size), and write the PNG and an
SVG beside it (same name, ``.svg``) atomically. They return the PNG's path.

Residual figures show the bulk and the tails: symmetric-log axes (linear within a stated
threshold), quantile-clipped colour scales and axis ranges whose clipping is written on the
figure, and binned medians with 5-95 % bands. :func:`axis_coverage` measures how much of each
axis the data fill; the tests use it to catch degenerate plots (a cloud collapsed on a line).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from physdistill._io import atomic_write_bytes

#: Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies
COLORS = {"blue": "#0072B2", "orange": "#E69F00", "vermillion": "#D55E00",
          "green": "#009E73", "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442",
          "black": "#000000"}
#: the rcParams every figure is drawn with
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.titlesize": 10,
         "figure.constrained_layout.use": True, "axes.grid": True, "grid.alpha": 0.25,
         "axes.prop_cycle": None, "svg.fonttype": "none", "image.cmap": "viridis"}
#: (held-out, out-of-distribution) colours of the residual figures
HELD_OUT, OOD = COLORS["blue"], COLORS["orange"]
#: reference artists (identity lines, zero lines) carry this gid; axis_coverage skips them
REFERENCE = "reference"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _styled(fn: Callable[..., Path]) -> Callable[..., Path]:
    """Draw ``fn``'s figure under :data:`STYLE`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Path:
        plt = _plt()
        from cycler import cycler

        order = ("blue", "vermillion", "green", "orange", "purple", "sky", "black", "yellow")
        cycle = cycler(linestyle=["-", "--", ":"]) * cycler(color=[COLORS[c] for c in order])
        style = {**STYLE, "axes.prop_cycle": cycle}  # 8 colours, then dashed, then dotted
        with plt.rc_context(style):
            return fn(*args, **kwargs)

    return wrapper


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG at ``path`` and as SVG beside it (atomically), close it, and return
    the PNG's path."""
    plt = _plt()
    path = Path(path)
    for suffix, kw in ((".png", {"dpi": dpi}), (".svg", {})):
        buf = io.BytesIO()
        fig.savefig(buf, format=suffix[1:], **kw)
        atomic_write_bytes(path.with_suffix(suffix), buf.getvalue())
    plt.close(fig)
    return path


def _ref(artist: Any) -> Any:
    artist.set_gid(REFERENCE)
    return artist


def axis_coverage(ax: Any, q: float = 1.0) -> tuple[float, float] | None:
    """Fractions of the x and y axis that the central ``100 - 2q`` % of the data span.

    Data are the points of lines, scatters, bands and meshes on ``ax``, mapped to axes
    coordinates (so log and symlog scales count as drawn), clipped to the axes; artists with
    gid :data:`REFERENCE` (identity or zero lines) and shaded spans are not data. ``None`` when
    ``ax`` holds no data (a colour bar).
    """
    pts = []
    for line in ax.get_lines():
        if line.get_gid() != REFERENCE:
            pts.append(np.column_stack(line.get_data()).astype(float))
    for coll in ax.collections:
        if coll.get_gid() == REFERENCE:
            continue
        if hasattr(coll, "get_coordinates"):  # QuadMesh
            pts.append(np.ma.filled(np.ma.asarray(coll.get_coordinates(), float), np.nan)
                       .reshape(-1, 2))
        elif coll.get_offsets() is not None and len(coll.get_offsets()) > 1:
            pts.append(np.asarray(coll.get_offsets(), float))
        else:
            pts += [p.vertices for p in coll.get_paths()]
    for im in ax.get_images():
        x0, x1, y0, y1 = im.get_extent()
        pts.append(np.array([[x0, y0], [x1, y1]], float))
    pts = [p for p in pts if p.size]
    if not pts:
        return None
    xy = np.concatenate(pts)
    xy = xy[np.isfinite(xy).all(1)]
    if not len(xy):
        return None
    frac = ax.transAxes.inverted().transform(ax.transData.transform(xy))
    frac = np.clip(frac[np.isfinite(frac).all(1)], 0.0, 1.0)
    lo, hi = np.percentile(frac, [q, 100 - q], axis=0)
    return float(hi[0] - lo[0]), float(hi[1] - lo[1])


def binned_quantiles(x: Any, y: Any, bins: int = 20, log: bool = False,
                     min_count: int = 10) -> dict[str, np.ndarray]:
    """Median and 5 / 95 % quantiles of ``y`` in ``bins`` equal-width (``log``: log-width) bins
    of ``x``; bins with fewer than ``min_count`` points are dropped.

    Returns ``{"x", "median", "q05", "q95", "count"}`` (bin centres and per-bin values).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log else True)
    x, y = x[ok], y[ok]
    empty = {k: np.zeros(0) for k in ("x", "median", "q05", "q95", "count")}
    if x.size < min_count:
        return empty
    tx = np.log(x) if log else x
    edges = np.linspace(tx.min(), tx.max(), bins + 1)
    which = np.clip(np.digitize(tx, edges) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        yb = y[which == b]
        if yb.size >= min_count:
            c = 0.5 * (edges[b] + edges[b + 1])
            rows.append((np.exp(c) if log else c, *np.percentile(yb, [50, 5, 95]), yb.size))
    if not rows:
        return empty
    a = np.array(rows)
    return dict(zip(("x", "median", "q05", "q95", "count"), a.T))


def _band(ax: Any, x: Any, y: Any, color: str, label: str, log: bool = False) -> None:
    b = binned_quantiles(x, y, log=log, min_count=30)
    if b["x"].size:
        ax.fill_between(b["x"], b["q05"], b["q95"], color=color, alpha=0.3, lw=1,
                        edgecolor=color, zorder=2, label=f"{label}: 5-95 %")
        ax.plot(b["x"], b["median"], color=color, lw=1.8, zorder=3,
                label=f"{label}: median")


def _symlog_y(ax: Any, values: np.ndarray, unit: str = "") -> str:
    """Symmetric-log y axis, linear within the median |value| (shaded grey), ticks at zero and
    whole decades outside the linear range; returns the rule, for the title."""
    a = np.abs(values[np.isfinite(values)])
    lin = float(np.median(a)) if a.size else 1.0
    lin = lin if lin > 0 else (float(a.max()) if a.size and a.max() > 0 else 1.0)
    top = max(float(a.max()) * 1.3 if a.size else 1.0, 2 * lin)
    ax.set_yscale("symlog", linthresh=lin)
    ax.set_ylim(-top, top)
    ax.axhspan(-lin, lin, color="0.85", alpha=0.4, lw=0, zorder=0)
    ks = list(range(int(np.floor(np.log10(lin))) + 1, int(np.floor(np.log10(top))) + 1))
    ks = ks[::max(1, -(-len(ks) // 4))]
    if ks:
        ticks = [-(10.0 ** k) for k in ks[::-1]] + [0.0] + [10.0 ** k for k in ks]
        labels = [f"$-10^{{{k}}}$" for k in ks[::-1]] + ["0"] + [f"$10^{{{k}}}$" for k in ks]
    else:
        ticks, labels = [-lin, 0.0, lin], [f"{-lin:.2g}", "0", f"{lin:.2g}"]
    ax.set_yticks(ticks, labels=labels)
    return f"symlog, linear within ±{lin:.2g}{unit} (grey) = median |.|"


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


# --- n-body -----------------------------------------------------------------------------------


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


def curves(series: dict[str, Any], x: Any, path: str | Path, *, xlabel: str, ylabel: str,
           title: str = "", logy: bool = True) -> Path:
    """Named curves ``series[name]`` against ``x`` on one axis; :func:`curves_vs_step`'s
    figure."""
    return curves_vs_step(list(x), series, path, title, ylabel, logy, xlabel=xlabel)


# ---------------------------------------------------------------------------------------------
# heat equation (physdistill.heat)


def _clipped_scale(v: np.ndarray, q: float = 99.0) -> tuple[float, float]:
    """(colour limit at the ``q`` % quantile of |v|, max |v|) of a difference field."""
    a = np.abs(v[np.isfinite(v)])
    if not a.size:
        return 1.0, 0.0
    m = float(a.max())
    c = float(np.percentile(a, q))
    return (c if c > 0 else (m or 1.0)), m


@_styled
def heat_maps(x: Any, t: Any, maps: dict[str, Any], path: str | Path, title: str = "",
              difference: bool = False) -> Path:
    """One panel per named field on an ``(x, t)`` grid.

    Args:
        x, t: grid axes, shapes ``(nx,)`` and ``(nt,)``.
        maps: name -> array of shape ``(nt, nx)``.
        path: PNG to write.
        title: figure title.
        difference: the fields are differences: each panel gets its own diverging colour
            scale, symmetric about zero and clipped at the 99 % quantile of |.| (stated in the
            panel's title with the maximum |.|), so the bulk is visible beside the peaks.
            Otherwise all panels share one scale (for comparing solutions).
    """
    plt = _plt()
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(3.9 * n, 3.5), squeeze=False)
    values = [np.asarray(v, dtype=float) for v in maps.values()]
    finite = [v[np.isfinite(v)] for v in values]
    lo = min((f.min() for f in finite if f.size), default=0.0)
    hi = max((f.max() for f in finite if f.size), default=1.0)
    for ax, name, v in zip(axes[0], maps, values):
        if difference:
            c, m = _clipped_scale(v)
            im = ax.pcolormesh(x, t, v, cmap="RdBu_r", vmin=-c, vmax=c, shading="auto",
                               rasterized=True)
            ax.set_title(f"{name}\ncolour clipped at 99 % of |.| = {c:.2e}; max {m:.2e}")
            fig.colorbar(im, ax=ax, extend="both" if m > c else "neither", format="%.1e")
        else:
            im = ax.pcolormesh(x, t, v, vmin=lo, vmax=hi, shading="auto", rasterized=True)
            ax.set_title(name)
            fig.colorbar(im, ax=ax)
        ax.set_xlabel("x")
        ax.grid(False)
    axes[0][0].set_ylabel("t")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


@_styled
def field_residuals(x: Any, t: Any, fields: dict[str, Any], path: str | Path,
                    title: str = "", horizon: float | None = None) -> Path:
    """Residual fields over ``(x, t)`` with their profiles: one column per named field.

    Row 1: the field as a heat map (diverging, colour clipped at the 99 % quantile of |.|,
    stated); rows 2 and 3: its median and 5-95 % band against ``x`` (over t) and against
    ``t`` (over x), on symmetric-log axes. Fields sharing a column layout can be compared
    at a glance: e.g. the PDE residual of the network under the true PDE and under the found
    one.

    Args:
        x, t: grid axes, shapes ``(nx,)`` and ``(nt,)``.
        fields: name -> array of shape ``(nt, nx)``.
        horizon: the end of the training time range when ``t`` extends beyond it: the
            points with ``t > horizon`` are out of distribution (extrapolation), marked by a
            dashed line on the maps, shaded on the t profiles, and given their own band on
            the x profiles.
    """
    plt = _plt()
    n = len(fields)
    fig, axes = plt.subplots(3, n, figsize=(max(4.0 * n, 5.0), 8.4), squeeze=False,
                             height_ratios=[1.2, 1, 1])
    x, t = np.asarray(x, float), np.asarray(t, float)
    X, T = np.meshgrid(x, t)
    ood = T > horizon if horizon is not None else np.zeros(T.shape, bool)
    colors = [COLORS["blue"], COLORS["vermillion"], COLORS["green"], COLORS["purple"]]
    for k, (name, v) in enumerate(fields.items()):
        v = np.asarray(v, float)
        c, _ = _clipped_scale(v[~ood])  # the colours follow the held-out points
        m = float(np.nanmax(np.abs(v)))
        where = "" if not ood.any() else " (held-out)"
        ax = axes[0][k]
        im = ax.pcolormesh(x, t, v, cmap="RdBu_r", vmin=-c, vmax=c, shading="auto",
                           rasterized=True)
        fig.colorbar(im, ax=ax, extend="both" if m > c else "neither", format="%.1e")
        ax.set(title=f"{name}\ncolour clipped at 99 % of |.|{where} = {c:.2e}\n"
                     f"max |.| = {m:.2e}", xlabel="x", ylabel="t")
        ax.grid(False)
        if ood.any():
            _ref(ax.axhline(horizon, color=COLORS["black"], ls="--", lw=1))
        color = colors[k % len(colors)] if not ood.any() else HELD_OUT
        sets = [("", ~ood, color)] if not ood.any() else [
            ("held-out ", ~ood, HELD_OUT), (f"t > {horizon:g} (OOD) ", ood, OOD)]
        for ax, coord, label in ((axes[1][k], X, "x"), (axes[2][k], T, "t")):
            ends = []
            for tag, mask, col in (sets if label == "x" else [("", np.ones_like(ood), color)]):
                flat = coord[mask]
                b = binned_quantiles(flat, v[mask], bins=min(40, len(np.unique(flat))),
                                     min_count=1)
                ax.fill_between(b["x"], b["q05"], b["q95"], color=col, alpha=0.3, lw=0,
                                label=f"{tag}5-95 %")
                ax.plot(b["x"], b["median"], color=col, lw=1.5, label=f"{tag}median")
                ends += [b["q05"], b["q95"]]
            if label == "t" and ood.any():
                ax.axvspan(horizon, t.max(), color=OOD, alpha=0.15, lw=0,
                           label="beyond training (OOD)")
            _ref(ax.axhline(0, color=COLORS["black"], lw=0.8))
            rule = _symlog_y(ax, np.concatenate(ends))
            short = len(name) < 22 and not set(name) & {":", "\n"}
            ax.set(xlabel=label, ylabel=name if short else "residual",
                   title=f"against {label} (over all {'t' if label == 'x' else 'x'})\n"
                         f"y: {rule}")
            ax.legend(loc="best", fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


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
                            (axes[1], r2, "median robust R² (SymTorch's below)")):
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
