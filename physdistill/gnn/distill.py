r"""``distill_messages``: distil one ``MessagePassing`` layer of any PyG model into equations.

Steps (each a strategy the caller chooses; the layer is never edited):

1. **Record** the layer's messages once, over the user's graphs
   (:func:`~physdistill.gnn.record.record`, PyG message hooks): the ``message()`` arguments and
   outputs of a uniform sample of edges.
2. **Rank** the channels (``"std"``, ``"kl"``, ``"all"``, or a callable ``messages [E, C] ->
   scores [C]``) and keep the best ``k`` (:meth:`~physdistill.messages.MessageSample.top`).
3. **Features**: the named edge scalars of :mod:`~physdistill.gnn.features` on the recorded
   edges.
4. **Search**: with ``structure="central"`` and direction features (``dx, dy, [dz]``), the
   central-force step (:func:`~physdistill.symbolic.central.fit_central`: one scalar search,
   checked on the data, falling back to step 4b when the messages are not central); with
   ``structure="none"``, or as that fallback, one search per kept channel
   (:func:`~physdistill.symbolic.regress.regress_columns`).
5. **Reference** (optional): the same recording feeds the linear fit of each channel by the
   reference's components (:mod:`~physdistill.gnn.linfit`) and the comparison of each
   channel's equation with :math:`\sum_k a_k F_k + b` (:func:`~physdistill.symbolic.compare`).

The result (:class:`~physdistill.gnn.result.MessageDistillation`) holds the fronts and the
equations; :func:`~physdistill.gnn.switch.use_equations` puts them in the layer's place, and
``out=`` writes a run folder with a report and plots (:mod:`~physdistill.gnn.report`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.gnn.features import FeatureSet, FeatureSpec
from physdistill.gnn.options import DistillOptions
from physdistill.gnn.record import Forward, record
from physdistill.gnn.reference import Reference
from physdistill.gnn.result import MessageDistillation
from physdistill.gnn.search import search_channels
from physdistill.messages import RANKINGS, find_message_layer
from physdistill.symbolic.config import SRConfig

STRUCTURES = ("central", "none")
#: direction features looked for when ``structure="central"`` and none are named
DEFAULT_DIRECTIONS = ("dx", "dy", "dz")


def _check_k(k: Any) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise PhysDistillError(f"k must be a positive integer (channels to keep) or None (all), "
                               f"got {k!r}")


def _directions(feats: FeatureSet, directions: Sequence[str] | None, structure: str
                ) -> tuple[str, ...]:
    if structure == "none":
        return ()
    if directions is None:
        found = tuple(n for n in DEFAULT_DIRECTIONS if n in feats)
        if not found:
            raise PhysDistillError(f"structure='central' needs the displacement features; none "
                                   f"of {list(DEFAULT_DIRECTIONS)} is among the features "
                                   f"{feats.names}: pass directions=(...) or structure='none'")
        return found
    directions = tuple(directions)
    unknown = [d for d in directions if d not in feats]
    if unknown or not directions:
        raise PhysDistillError(f"directions {list(directions)} must name features; unknown: "
                               f"{unknown}; the features are {feats.names}")
    return directions


def distill_messages(model: nn.Module, data: Any, features: Mapping[str, FeatureSpec], *,
                     layer: nn.Module | None = None, k: int | None = None,
                     rank: str | Callable[[np.ndarray], Any] = "std",
                     reference: Any = None, config: SRConfig | None = None,
                     structure: str = "central", directions: Sequence[str] | None = None,
                     forward: Forward | None = None, options: DistillOptions | None = None,
                     out: str | Path | None = None, force: bool = False
                     ) -> MessageDistillation:
    """Distil the messages of ``layer`` (inside ``model``) into one equation per kept channel.

    Args:
        model: the user's model (any ``nn.Module``); it runs in eval mode, without gradients.
        data: a PyG ``DataLoader``, a list of ``Data`` (any sizes, with ``edge_attr`` or not)
            or one ``Data``.
        features: name -> callable of the ``message()`` arguments, or formula of earlier
            features (:mod:`~physdistill.gnn.features`).
        layer: the ``MessagePassing`` layer to distil (default: the only one in ``model``).
        k: channels to keep (default: all).
        rank: channel ranking, ``"std"``, ``"kl"``, ``"all"`` or a callable.
        reference: a known law (:class:`~physdistill.gnn.reference.Reference`, or its
            components as formula text / sympy in the feature names).
        config: the searches' :class:`~physdistill.symbolic.SRConfig`.
        structure: ``"central"`` (try the central-force step first) or ``"none"``.
        directions: the displacement features of the central step (default: those of
            ``dx, dy, dz`` that exist).
        forward: ``forward(model, batch)``, how to call the model (default: by its signature,
            :func:`~physdistill.gnn.record.default_forward`).
        options: :class:`~physdistill.gnn.options.DistillOptions`.
        out: a run folder to write (``distill.json``, ``equations.json``, plots, ``report.md``,
            ``index.html``); ``force=True`` empties an existing one.

    Returns:
        A :class:`~physdistill.gnn.result.MessageDistillation`.

    Raises:
        PhysDistillError: bad arguments (checked before the model runs), messages or features
            that are not finite, or a layer that was never called.
    """
    options = options if options is not None else DistillOptions()
    if not isinstance(options, DistillOptions):
        raise PhysDistillError(f"options must be a DistillOptions, got {type(options).__name__}")
    config = config if config is not None else SRConfig()
    if not isinstance(config, SRConfig):
        raise PhysDistillError(f"config must be an SRConfig, got {type(config).__name__}")
    if structure not in STRUCTURES:
        raise PhysDistillError(f"structure must be one of {STRUCTURES}, got {structure!r}")
    if not callable(rank) and rank not in RANKINGS:
        raise PhysDistillError(f"rank must be one of {RANKINGS} or a callable messages [E, C] "
                               f"-> scores [C], got {rank!r}")
    _check_k(k)
    if not isinstance(model, nn.Module):
        raise PhysDistillError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layer = layer if layer is not None else find_message_layer(model)
    if not any(m is layer for m in model.modules()):
        raise PhysDistillError(f"the {type(layer).__name__} given as layer= is not a submodule "
                               f"of the {type(model).__name__} model")
    feats = FeatureSet(features)
    dirs = _directions(feats, directions, structure)
    ref = Reference.of(reference, feats.names) if reference is not None else None
    settings = {"layer": type(layer).__name__, "k": k,
                "rank": rank if isinstance(rank, str) else getattr(rank, "__name__", "key"),
                "structure": structure, "directions": list(dirs), "config": config.to_dict(),
                "features": feats.names,
                "reference": None if ref is None else list(ref.components)}
    with contextlib.ExitStack() as stack:
        run = None
        if out is not None:  # an occupied folder is refused before the work
            from physdistill.runs import RunFolder

            run = stack.enter_context(RunFolder(out, "gnn", force=force, config=settings))
        result = _distill(model, layer, data, feats, dirs, ref, k, rank, config, forward,
                          options)
        if run is not None:
            from physdistill.gnn.report import write_run

            write_run(result, run)
    return result


def _distill(model: nn.Module, layer: nn.Module, data: Any, feats: FeatureSet,
             dirs: tuple[str, ...], ref: Reference | None, k: int | None,
             rank: str | Callable[[np.ndarray], Any], config: SRConfig,
             forward: Forward | None, options: DistillOptions) -> MessageDistillation:
    """Steps 1-5 of the module docstring on checked arguments."""
    sample = record(model, layer, data, forward=forward, max_edges=options.max_edges,
                    seed=options.seed, batch_size=options.batch_size)
    feats.check_arguments(list(sample.inputs))
    bad = ~np.isfinite(sample.messages)
    if bad.any():
        rows = int(bad.any(axis=1).sum())
        raise PhysDistillError(f"{type(layer).__name__}'s messages are NaN or infinite on {rows} "
                               f"of {len(sample)} recorded edges (channels "
                               f"{sorted(set(np.nonzero(bad)[1].tolist()))}); the network "
                               "diverged or its inputs hold NaN: fix the model or the data")
    width = sample.messages.shape[1]
    if k is not None and k > width:
        raise PhysDistillError(f"k={k} channels asked for; {type(layer).__name__}'s messages "
                               f"have {width}")
    top = sample.top(k if k is not None else width, by=rank)
    values = feats.numpy(top.inputs)
    fronts, info = search_channels(top.messages, values, dirs, config, options)
    result = MessageDistillation(
        layer_type=type(layer).__name__, channels=list(top.channels),
        scores=[float(s) for s in top.scores], rank_by=str(top.rank_by), width=width,
        feature_names=list(feats.names), derived=feats.derived,
        fronts=dict(zip(top.channels, fronts)), structure=info,
        n_seen=int(sample.n_seen), n_kept=len(sample),
        means=[float(v) for v in sample.messages.mean(axis=0)], arguments=list(sample.inputs),
        messages=top.messages, values=values, inputs=top.inputs, features=feats,
        reference=ref)
    if ref is not None:
        result.compare_with_reference()
    return result
