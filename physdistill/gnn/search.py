"""The searches of a message distillation: the central-force step first, one search per channel
as the fallback (or alone, with no direction features)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from physdistill.gnn.options import DistillOptions
from physdistill.symbolic.central import find_norm, fit_central
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.front import ParetoFront
from physdistill.symbolic.regress import regress_columns


def search_channels(messages: np.ndarray, values: Mapping[str, np.ndarray],
                    directions: Sequence[str], config: SRConfig, options: DistillOptions
                    ) -> tuple[list[ParetoFront], dict[str, Any]]:
    """One front per column of ``messages [E, k]`` in the features ``values``.

    With ``directions`` (the displacement features) and at least as many channels as
    directions, :func:`~physdistill.symbolic.central.fit_central` is tried on the scalars (the
    other features), regressing the magnitude ``s |d|`` when a feature is the length of the
    directions (:func:`~physdistill.symbolic.central.find_norm`); messages it finds not
    central are searched channel by channel.

    Returns:
        The fronts, and a record of what was done (``path``: ``"central"`` or
        ``"unstructured"``, the centrality score, the reason for a fallback).
    """
    names = list(values)
    info: dict[str, Any]
    scalars = {n: values[n] for n in names if n not in directions}
    if directions and messages.shape[1] >= len(directions) and scalars:
        d = np.column_stack([values[n] for n in directions])
        fit = fit_central(messages, d, scalars, direction_names=list(directions),
                          norm=find_norm(d, scalars), config=options.central, sr=options.scalar_config or config,
                          rule=options.rule, factor=options.factor, backend=options.backend)
        info = {"centrality": fit.score, "centrality_all": fit.alignment.score_all,
                "central": fit.central, "min_centrality": fit.meta["min_score"]}
        if fit.central:
            return list(fit.fronts), {"path": "central", **info, **fit.to_dict(),
                                      "searches": fit.scalar_front.meta.get("searches"),
                                      "scalar_front": fit.scalar_front.to_dict()}
        info["reason"] = f"not central (score {fit.score:.4f} < {fit.meta['min_score']})"
    elif directions and not scalars:
        info = {"centrality": None, "reason": "no scalar features besides the directions"}
    elif directions:
        info = {"centrality": None, "reason": f"{messages.shape[1]} channels kept, fewer than "
                                              f"the {len(directions)} directions"}
    else:
        info = {"centrality": None, "reason": "structure off"}
    X = np.column_stack([values[n] for n in names])
    fronts = regress_columns(X, messages, names, config=config, backend=options.backend,
                             rule=options.rule, factor=options.factor, n_jobs=options.n_jobs)
    return fronts, {"path": "unstructured", **info}
