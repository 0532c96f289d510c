"""The trade-off figure of the transformer case study (drawn in the house style of
:mod:`physdistill.plots`, whose styling and atomic PNG + SVG writer it uses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from physdistill.plots import COLORS, _plt, _ref, _styled, save_figure

_KIND_STYLE = {"equations": ("-", "o", "equations (PCA, linear + SR)"),
               "linear": ("--", "s", "control: PCA, linear map"),
               "pca_mlp": (":", "^", "control: PCA, original MLP")}
_SIZE_COLORS = ("blue", "vermillion", "green", "orange", "purple", "sky")


@_styled
def tradeoff(curve: list[dict[str, Any]], path: str | Path, *, target_cosine: float,
             target_speedup: float, title: str = "") -> Path:
    """Left: mean cosine similarity against the number of blocks replaced, one colour per PCA
    size, one line style per variant. Right: the hybrid's mean cosine against its measured
    throughput gain, each point labelled with its blocks; the target corner is shaded."""
    fig, (left, right) = _plt().subplots(1, 2, figsize=(10, 4))
    sizes = list(dict.fromkeys((e["k_in"], e["k_out"]) for e in curve))
    for i, size in enumerate(sizes):
        color = COLORS[_SIZE_COLORS[i % len(_SIZE_COLORS)]]
        rows = sorted((e for e in curve if (e["k_in"], e["k_out"]) == size),
                      key=lambda e: e["n_blocks"])
        n = [e["n_blocks"] for e in rows]
        for kind, (ls, marker, label) in _KIND_STYLE.items():
            left.plot(n, [e[kind]["mean_cosine"] for e in rows], ls=ls, marker=marker, ms=4,
                      color=color, label=f"{size[0]}->{size[1]} {label}" if kind == "equations"
                      else (label if i == 0 else None))
        xs = [100 * e["speedup"] for e in rows]
        ys = [e["equations"]["mean_cosine"] for e in rows]
        right.plot(xs, ys, "o-", ms=4, color=color, label=f"PCA {size[0]} in, {size[1]} out")
        for e, x, y in zip(rows, xs, ys):
            right.annotate(f"{e['n_blocks']}", (x, y), textcoords="offset points",
                           xytext=(4, 4), fontsize=7, color=color)
    _ref(left.axhline(target_cosine, color=COLORS["black"], ls="-.", lw=0.8,
                      label=f"target cosine {target_cosine}"))
    left.set(xlabel="MLP blocks replaced", ylabel="mean cosine similarity to the original",
             title="fidelity (held-out sentences)")
    left.set_xticks(sorted({e["n_blocks"] for e in curve}))
    left.legend(fontsize=6.5)
    _ref(right.axhline(target_cosine, color=COLORS["black"], ls="-.", lw=0.8))
    _ref(right.axvline(100 * target_speedup, color=COLORS["black"], ls="-.", lw=0.8))
    lo, hi = right.get_xlim()
    ylo, yhi = right.get_ylim()
    right.axvspan(100 * target_speedup, max(hi, 100 * target_speedup + 1),
                  ymin=max(0.0, min(1.0, (target_cosine - ylo) / (yhi - ylo or 1))),
                  color=COLORS["green"], alpha=0.08, label="target region")
    right.set_xlim(min(lo, 0), max(hi, 100 * target_speedup + 1))
    right.set(xlabel="throughput gain over the original (%, wall clock)",
              ylabel="mean cosine similarity (equations)",
              title="trade-off (labels: blocks replaced)")
    right.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
