"""The one plotting package. Every figure the package draws is a function here.

Functions take plain arrays (numpy) and a path, draw with matplotlib's Agg backend (no screen
needed) in one house style (:data:`STYLE`: constrained layout, so labels never overlap;
the Okabe-Ito colour-blind-safe palette :data:`COLORS`; one font size), and write the PNG and an
SVG beside it (same name, ``.svg``) atomically. They return the PNG's path.

Residual figures show the bulk and the tails: symmetric-log axes (linear within a stated
threshold), quantile-clipped colour scales and axis ranges whose clipping is written on the
figure, and binned medians with 5-95 % bands. :func:`axis_coverage` measures how much of each
axis the data fill; the tests use it to catch degenerate plots (a cloud collapsed on a line).

Modules: :mod:`~physdistill.plots.style` (house style, saving, axis helpers),
:mod:`~physdistill.plots.series` (series against the step, Pareto fronts),
:mod:`~physdistill.plots.nbody` (messages, residuals, a grid's recovery) and
:mod:`~physdistill.plots.fields` (``u(x, t)`` maps and residuals); every name is importable
from ``physdistill.plots``.
"""

from physdistill.plots.fields import field_residuals, heat_maps
from physdistill.plots.nbody import (
    gain_panels,
    identity_scatter,
    recovery_grid,
    residual_panels,
)
from physdistill.plots.series import curves, curves_vs_step, loss_curves, pareto_front
from physdistill.plots.style import (
    COLORS,
    HELD_OUT,
    OOD,
    REFERENCE,
    STYLE,
    _plt,
    _ref,
    _styled,
    axis_coverage,
    binned_quantiles,
    save_figure,
)

__all__ = [
    "COLORS", "HELD_OUT", "OOD", "REFERENCE", "STYLE", "_plt", "_ref", "_styled",
    "axis_coverage", "binned_quantiles", "curves", "curves_vs_step", "field_residuals",
    "gain_panels", "heat_maps", "identity_scatter", "loss_curves", "pareto_front", "recovery_grid",
    "residual_panels", "save_figure",
]
