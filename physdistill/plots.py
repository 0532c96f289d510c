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
