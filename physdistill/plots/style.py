"""The house style of every figure: colours, rcParams, saving (PNG and SVG, atomically), and the
axis helpers the figure modules share (:func:`axis_coverage`, :func:`binned_quantiles`, the
symmetric-log axis)."""

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
