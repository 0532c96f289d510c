"""The ``distill`` stage of ``physdistill nbody``: messages to equations.

Records messages on test graphs (:class:`~physdistill.messages.MessageRecorder`), keeps the top
``dim`` channels, fits each as a linear combination of the true force
(:mod:`~physdistill.nbody.forcefit`), distils each kept channel of the edge model into an
equation of ``dx, dy, [dz], r, m1, m2, q1, q2`` (:class:`~physdistill.symbolic.SymbolicModel`
wrapped around the edge MLP) and judges it against the law's pair force
(:func:`~physdistill.nbody.judge.judge_targets`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
import torch

from physdistill._io import save_state
from physdistill.graphs import repeat_edges
from physdistill.nbody.config import NBodyConfig, _log
from physdistill.nbody.judge import judge_targets
from physdistill.runs import RunFolder

#: operators of every force-law search: the built-in laws' pair forces are rational functions of
#: the edge variables (softening included), so these suffice; :func:`force_operators` adds the
#: functions a user potential's force contains.
BASE_FORCE_OPERATORS = ("+", "-", "*", "/")
#: the selection rule's loss window on each channel's Pareto front (the symbolic layer's default
#: is 10): a trained network's small systematic message errors give longer candidates with
#: spurious terms a lower loss than the law, so the window is wider (benchmarks/RESULTS.md).
SELECTION_FACTOR = 50.0
#: fraction of the recorded edges each channel's search leaves out, those whose message is
#: farthest from the channel's median (:attr:`~physdistill.symbolic.SRConfig.trim`): close
#: encounters give the largest and least reliable messages, which would dominate a squared-error
#: search and bend the law to fit them. Uses no knowledge of the law (benchmarks/RESULTS.md).
SR_TRIM = 0.1
#: evaluation budget of each of a channel's searches; the clock (``sr_seconds / sr_restarts``)
#: is only a safety net. An evaluation budget ends a search at the same point on any machine, so
#: the equations found from given messages do not depend on the machine's speed
#: (benchmarks/RESULTS.md gives the sizing).
SR_EVALUATIONS = 300_000


def input_names(dim: int) -> list[str]:
    """Column names of the edge MLP's input ``[x_receiver, x_sender]`` (suffix 1, 2)."""
    node = [*("x", "y", "z")[:dim], *("vx", "vy", "vz")[:dim], "q", "m"]
    return [f"{c}1" for c in node] + [f"{c}2" for c in node]


def edge_transforms(dim: int) -> dict[str, str]:
    """``dx, dy, [dz], r`` as formulas of the edge MLP's input columns."""
    axes = ("x", "y", "z")[:dim]
    t = {f"d{a}": f"{a}1 - {a}2" for a in axes}
    t["r"] = "sqrt(" + " + ".join(f"({a}1 - {a}2)**2" for a in axes) + ")"
    return t


def force_operators(law, dim: int) -> tuple[str, ...]:
    """:data:`BASE_FORCE_OPERATORS` plus the search operators of the functions in the law's
    pair force (the operator registry's: ``exp``, ``log``, ``sin``, ``cos``; ``sqrt`` for
    half-integer powers)."""
    from physdistill.symbolic.operators import search_operators_of

    ops = list(BASE_FORCE_OPERATORS)
    for comp in law.pair_force(dim):
        ops += [name for name in search_operators_of(comp) if name not in ops]
        if any(p.exp.is_Rational and p.exp.q == 2 for p in comp.atoms(sp.Pow)) \
                and "sqrt" not in ops:
            ops.append("sqrt")
    return tuple(ops)


def force_symbolic_model(edge_fn, cfg: NBodyConfig, law):
    """The :class:`~physdistill.symbolic.SymbolicModel` the distillation stage puts around an
    edge function ``[x_receiver, x_sender] -> messages``: its inputs seen as ``dx, dy, [dz], r,
    m1, m2, q1, q2``, the law's force operators and the run's SR budget (``cfg`` resolved)."""
    from physdistill.symbolic import SRConfig, SymbolicModel

    sr = SRConfig(operators=force_operators(law, cfg.dim),
                  time_limit_s=cfg.sr_seconds / cfg.sr_restarts, max_evaluations=SR_EVALUATIONS,
                  restarts=cfg.sr_restarts, max_samples=cfg.sr_samples, seed=cfg.seed,
                  max_length=30, trim=SR_TRIM)
    names = ["dx", "dy", "dz"][:cfg.dim] + ["r", "m1", "m2", "q1", "q2"]
    return SymbolicModel(edge_fn, input_names=input_names(cfg.dim),
                         transforms=edge_transforms(cfg.dim), features=names, config=sr,
                         max_samples=max(cfg.sr_samples, 4000), factor=SELECTION_FACTOR,
                         seed=cfg.seed)


def _stage_distill(run: RunFolder, cfg: NBodyConfig, law, data: Path, model,
                   progress: bool) -> dict[str, Any]:
    """The ``distill`` stage (or its recorded result when it has finished): record messages on
    up to 20,000 test graphs, fit the kept channels to the pair force and acceleration, distil
    and judge them; writes ``distill.json``, ``messages.safetensors`` (for the plots) and
    ``symbolic_edge_model.safetensors`` (for the rollout) and returns ``distill.json``'s
    content. Leaves ``model.edge_mlp`` wrapped in the distilled symbolic model."""
    from physdistill.messages import MessageRecorder
    from physdistill.nbody.dataset import fully_connected, load_dataset
    from physdistill.nbody.forcefit import edge_variables, fit_channels, pair_forces
    from physdistill.nbody.structure import distill_structured

    if run.done("distill"):
        return run.read_json("distill.json")
    ds = load_dataset(data)
    x_test = ds.graphs("test")[0]
    G = min(x_test.shape[0], 20_000)
    device = next(model.parameters()).device
    _log(progress, f"[3/5] recording messages on {G} test graphs, fitting forces and "
                   f"distilling {cfg.dim} channels (pyoperon, <= {cfg.sr_seconds:g} s each)")
    with run.stage("distill") as info:
        sm = force_symbolic_model(model.edge_mlp, cfg, law)
        model.edge_mlp = sm
        one = fully_connected(ds.n)
        model.eval()
        sel = torch.randperm(x_test.shape[0], generator=torch.Generator().manual_seed(cfg.seed))
        xs = x_test[sel[:G]]
        with MessageRecorder(model, layer=model, max_edges=50_000, seed=cfg.seed) as rec, \
                sm.capture(), torch.no_grad():
            per = 4096
            for a in range(0, G, per):
                xb = xs[a:a + per]
                B = xb.shape[0]
                ei = repeat_edges(one, B, ds.n).to(device)
                model(xb.reshape(B * ds.n, -1).to(device), ei)
        sample = rec.sample()
        top = sample.top(cfg.dim)
        v = edge_variables(top.inputs["x_i"], top.inputs["x_j"], cfg.dim)
        forces = pair_forces(law, v, cfg.dim)
        # the messages may encode the pair force or the pair acceleration F / m1 (the node
        # model then only sums); fit both and analyse against the better one
        by_target = {"force": (forces, fit_channels(top.messages, forces))}
        accel = forces / v["m1"][:, None]
        by_target["acceleration"] = (accel, fit_channels(top.messages, accel))
        target = max(by_target, key=lambda t: np.mean([f.r2 for f in by_target[t][1]]))
        forces, fits = by_target[target]
        structure = distill_structured(sm, top.messages, v, list(top.channels), cfg.dim)
        sm.switch_to_symbolic()
        sr_inputs = {k: v[k] for k in sm.features}
        channels = []
        for k, ch in enumerate(top.channels):
            front = sm.fronts_[ch]
            eq = sm.equations_[ch]
            pred = eq.evaluate(sr_inputs)
            msg = top.messages[:, k]
            ss = float(((msg - msg.mean()) ** 2).sum())
            r2_msg = float(1 - ((pred - msg) ** 2).sum() / ss) if ss > 0 else float("nan")
            cmp, form, judged = judge_targets(eq, law, sr_inputs, cfg.dim, target, cfg.seed)
            channels.append({
                "index": int(ch), "score": float(top.scores[k]),
                "expression": eq.text(), "latex": eq.latex(), "complexity": eq.complexity,
                "r2_vs_message": r2_msg,
                "force_fit": fits[k].to_dict(),
                "fits": {t: f[1][k].to_dict() for t, f in by_target.items()},
                "ood_rel_error": cmp.out_of_distribution.max_rel_error,
                "id_rel_error": cmp.in_distribution.max_rel_error,
                "symbolic_match": cmp.symbolic_match, "recovered": cmp.recovered,
                "law_form": form, "judged_as": judged,
                "comparison": cmp.to_dict(),
                "front": front.to_dict(),
            })
        result = {"channels": channels, "rank_by": top.rank_by, "target": target,
                  "structure": structure,
                  "edges_seen": int(sample.n_seen), "edges_kept": len(sample),
                  "rule": channels[0]["comparison"]["rule"] if channels else ""}
        run.write_json("distill.json", result)
        # the recorded edges and the network on out-of-distribution edges, for the plots
        ood_v, ood_m = _ood_edges(sm.module, top, cfg.dim)
        save_state(run.file("messages.safetensors"), {
            "variables": _tensors(v), "messages": torch.from_numpy(top.messages.copy()),
            "forces": torch.from_numpy(forces.copy()), "ood_variables": _tensors(ood_v),
            "ood_messages": torch.from_numpy(ood_m)})
        sm.save(run.file("symbolic_edge_model.safetensors"))
        info["channels"] = [c["index"] for c in channels]
    return result


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for k, a in
            arrays.items()}


def _ood_edges(edge_mlp, top, dim: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The recorded edges with positions and masses scaled as the rollout's OOD states
    (:data:`~physdistill.nbody.rollout.OOD`), and the network's kept channels on them."""
    from physdistill.nbody.forcefit import edge_variables
    from physdistill.nbody.rollout import OOD

    ends = []
    for key in ("x_i", "x_j"):
        a = top.inputs[key].copy()
        a[:, :dim] *= OOD["position_scale"]
        a[:, 2 * dim + 1] *= math.exp(OOD["log_mass_shift"])
        ends.append(a)
    p = next(edge_mlp.parameters())
    with torch.no_grad():
        raw = edge_mlp(torch.as_tensor(np.concatenate(ends, 1), dtype=p.dtype, device=p.device))
    return edge_variables(*ends, dim), raw[:, top.channels].double().cpu().numpy()
