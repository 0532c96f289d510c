r"""SLIME (module `local`): a local closed-form explanation of a model around one point.

Around a point :math:`x_0` the model :math:`f` is sampled at

* the ``n_neighbours`` real samples nearest to :math:`x_0`, and
* ``n_synthetic`` Gaussian points :math:`x_0 + \sigma\, s \odot \varepsilon`,
  :math:`\varepsilon \sim \mathcal N(0, I)`,

all labelled by the model. Distances are measured in units of the per-feature standard
deviation :math:`s` of the real samples, :math:`d = \lVert (x - x_0) / s \rVert`, and every
point gets the weight

.. math:: w = \exp\!\left(-\frac{d^2}{2\sigma^2}\right).

A weighted symbolic regression on these points gives an equation valid near :math:`x_0`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from physdistill.errors import PhysDistillError
from physdistill.symbolic.front import ParetoFront
from physdistill.symbolic.regress import regress, to_numpy


def slime(model_fn: Callable[[np.ndarray], Any], X: Any, x0: Any, *,
          names: Sequence[str] | None = None, n_neighbours: int = 32,
          n_synthetic: int = 256, sigma: float = 0.5,
          features: Callable[[np.ndarray], np.ndarray] | None = None,
          feature_names: Sequence[str] | None = None, seed: int = 0,
          **regress_kwargs: Any) -> ParetoFront:
    """Fit a local equation of ``model_fn`` around ``x0`` (see the module docstring).

    Args:
        model_fn: maps inputs ``(m, d)`` (float64 numpy) to outputs ``(m,)`` or ``(m, 1)``.
        X: real samples ``(n, d)``; neighbours are drawn from them and they set the scale.
        x0: the point, shape ``(d,)``.
        names: names of the ``d`` inputs (default ``x0 ..``).
        n_neighbours: nearest real samples used (at most ``n``).
        n_synthetic: Gaussian samples added.
        sigma: width of the Gaussian and of the weights, in standard deviations.
        features: optional map from inputs ``(m, d)`` to regression features ``(m, f)``
            (e.g. transforms); the equation is then in ``feature_names``.
        feature_names: names of the features (required with ``features``).
        seed: seed of the synthetic samples (and of the search, unless given).
        **regress_kwargs: passed to :func:`~physdistill.symbolic.regress.regress`
            (``operators``, ``config``, ``time_limit_s``, ...).

    Returns:
        The weighted search's :class:`~physdistill.symbolic.front.ParetoFront`.
    """
    X = to_numpy(X, "X")
    if X.ndim != 2 or X.shape[0] < 1:
        raise PhysDistillError(f"X must have shape (n, d) with n >= 1, got {X.shape}")
    x0 = to_numpy(x0, "x0").reshape(-1)
    if x0.shape[0] != X.shape[1]:
        raise PhysDistillError(f"x0 has {x0.shape[0]} entries, expected {X.shape[1]} (one per "
                               "column of X)")
    for v, what in ((n_neighbours, "n_neighbours"), (n_synthetic, "n_synthetic")):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise PhysDistillError(f"{what} must be an integer >= 0, got {v!r}")
    if n_neighbours + n_synthetic < 10:
        raise PhysDistillError("n_neighbours + n_synthetic must be at least 10 (got "
                               f"{n_neighbours + n_synthetic})")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise PhysDistillError(f"sigma must be a positive number, got {sigma!r}")
    if features is not None and feature_names is None:
        raise PhysDistillError("give feature_names with features")

    scale = X.std(axis=0)
    scale[~(scale > 0)] = 1.0
    rng = np.random.default_rng(seed)
    dist = np.linalg.norm((X - x0) / scale, axis=1)
    near = X[np.argsort(dist, kind="stable")[: min(n_neighbours, X.shape[0])]]
    synth = x0 + sigma * scale * rng.standard_normal((n_synthetic, X.shape[1]))
    Z = np.concatenate([near, synth], axis=0)
    y = to_numpy(model_fn(Z), "model output").reshape(Z.shape[0], -1)
    if y.shape[1] != 1:
        raise PhysDistillError(f"model_fn must return one value per point, got shape "
                               f"{y.shape}; pick an output dimension")
    d = np.linalg.norm((Z - x0) / scale, axis=1)
    w = np.exp(-(d**2) / (2 * sigma**2))
    F, fnames = (Z, names) if features is None else (features(Z), list(feature_names))
    if "config" not in regress_kwargs:
        regress_kwargs.setdefault("seed", seed)
    front = regress(F, y[:, 0], fnames, sample_weight=w, **regress_kwargs)
    front.meta.update({"slime_sigma": float(sigma), "slime_neighbours": int(near.shape[0]),
                       "slime_synthetic": int(n_synthetic)})
    return front
