r"""The n-body distillation's structured search: central forces first, one search per channel
as the fallback.

A pair force :math:`F = s(r, m_1, m_2, q_1, q_2)\,(x_1 - x_2)` is central, and a message
channel that learned it is a linear combination of its components plus a constant, so the kept
channels are :math:`m = A\,s\,d + c`. :func:`~physdistill.symbolic.central.fit_central` checks
that assumption on the recorded edges (the centrality score), rotates the channels into the edge
frame and regresses the one scalar :math:`s`; each channel's equation is then
:math:`s\,(A d)_j + c_j`, compared with the law as any other equation. When the messages are not
central (score below :data:`~physdistill.symbolic.central.CENTRAL_MIN`), each channel is searched
on its own (:meth:`~physdistill.symbolic.SymbolicModel.distill`), as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: added to the law's operators for the scalar search: ``square`` makes a softened
#: ``1/(r (r + eps)**2)`` two nodes shorter, within reach of the search (without it the scalar
#: search settles on ``1/(r**2 (r + 2 eps))``; benchmarks/sr_recovery.py).
CENTRAL_EXTRA_OPERATORS = ("square",)
#: restarts end once a candidate fits to this normalised loss: only exact data reach it, and no
#: further search can improve on round-off.
SR_STOP_LOSS = 1e-20
#: restarts end once this many chose the same function: independent searches that agree have
#: found what the budget finds (a network's messages never fit to round-off).
SR_STOP_AGREE = 2
#: the edge scalars the central force's magnitude may depend on.
SCALARS = ("r", "m1", "m2", "q1", "q2")


def distill_structured(sm, messages: np.ndarray, variables: dict[str, np.ndarray],
                       channels: list[int], dim: int, *, structure: str = "central"
                       ) -> dict[str, Any]:
    """Distil the kept ``channels`` of ``sm`` (the pipeline's edge
    :class:`~physdistill.symbolic.SymbolicModel`) into fronts, with the central-force step
    when the messages are central and ``structure == "central"``, else one search per channel.

    Args:
        sm: the SymbolicModel (recorded; its config gives operators, budget, seed, trim).
        messages: ``[E, len(channels)]`` the kept channels on the recorded edges.
        variables: the edge variables ``dx, dy, [dz], r, m1, m2, q1, q2`` of those edges.
        channels: the output indices of the kept channels.
        structure: ``"central"`` (default) or ``"none"`` (skip the step).

    Returns:
        ``{"path": "central" | "unstructured", "centrality": score or None, ...}``: what
        was done, for ``distill.json``; ``sm.fronts_`` holds the fronts.
    """
    from physdistill.symbolic.central import fit_central

    if structure == "none":
        sm.distill(dims=channels)
        return {"path": "unstructured", "centrality": None, "reason": "structure off"}
    names = ("dx", "dy", "dz")[:dim]
    from physdistill.symbolic import SRConfig

    base = sm.config if sm.config is not None else SRConfig()
    ops = tuple(dict.fromkeys(base.operators + CENTRAL_EXTRA_OPERATORS))
    sr = base.replace(operators=ops, stop_loss=SR_STOP_LOSS, stop_agree=SR_STOP_AGREE,
                      offset_variants=True, n_threads=None)
    d = np.column_stack([variables[n] for n in names])
    fit = fit_central(messages, d, {k: variables[k] for k in SCALARS}, direction_names=names,
                      norm="r", sr=sr, rule=sm.rule, factor=sm.factor, backend=sm.backend)
    info: dict[str, Any] = {"centrality": fit.score, "centrality_all": fit.alignment.score_all,
                            "central": fit.central, "min_centrality": fit.meta["min_score"]}
    if not fit.central:
        sm.distill(dims=channels)
        return {"path": "unstructured", **info,
                "reason": f"not central (score {fit.score:.4f} < {fit.meta['min_score']})"}
    sm.adopt_fronts(dict(zip(channels, fit.fronts)))
    return {"path": "central", **info, **fit.to_dict(),
            "searches": fit.scalar_front.meta.get("searches"),
            "scalar_front": fit.scalar_front.to_dict()}
