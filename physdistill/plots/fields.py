"""Field figures of ``u(x, t)`` (heat equation, any PDE): maps side by side and residuals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from physdistill.plots.style import (
    COLORS,
    HELD_OUT,
    OOD,
    _plt,
    _ref,
    _styled,
    _symlog_y,
    binned_quantiles,
    save_figure,
)


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
