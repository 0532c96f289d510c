"""The run folder of a message distillation: ``distill.json``, ``equations.json``, the recorded
edges, plots, ``report.md`` and ``index.html``.

``physdistill report RUN`` redraws the plots and pages from the files alone
(:func:`write_report`). Written with the shared run-folder writer (:class:`~physdistill.runs.RunFolder`, one stage
``distill``), the shared plots (:mod:`physdistill.plots`: a Pareto front per channel, equation
against message, and messages against the reference fit when a law was given) and the shared
HTML page (:func:`physdistill.report_html.write_gnn_html`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from physdistill import plots
from physdistill._io import load_state, save_state
from physdistill.gnn.reference import Reference
from physdistill.gnn.result import MessageDistillation
from physdistill.report_html import fmt
from physdistill.runs import RunFolder
from physdistill.symbolic.front import ParetoFront


def write_run(result: MessageDistillation, run: RunFolder) -> dict[str, Any]:
    """Write the distillation into ``run`` (stage ``distill``) and its report; return
    ``distill.json``'s content."""
    with run.stage("distill") as info:
        record = result.to_dict()
        run.write_json("distill.json", record)
        run.write_json("equations.json", {
            "variables": result.feature_names,
            "channels": {str(c): e.to_dict() for c, e in result.equations.items()}})
        save_state(run.file("messages.safetensors"), {
            "features": {k: torch.from_numpy(np.ascontiguousarray(v, np.float64))
                         for k, v in result.values.items()},
            "messages": torch.from_numpy(np.ascontiguousarray(result.messages, np.float64))})
        write_report(run)
        info["channels"] = result.channels
    return record


def write_report(run: RunFolder) -> dict[str, Any]:
    """Draw the plots, ``report.md`` and ``index.html`` from the files of the run folder
    (``physdistill report RUN`` calls this); return ``distill.json``'s content."""
    from physdistill.report_html import write_gnn_html

    record = run.read_json("distill.json")
    state = load_state(run.file("messages.safetensors"))
    values = {k: v.numpy() for k, v in state["features"].items()}
    figs = _plots(record, values, state["messages"].numpy(), run)
    run.write_text("report.md", _markdown(record, figs))
    write_gnn_html(run.path, record, figs)
    return record


def _plots(d: dict[str, Any], values: dict[str, np.ndarray], messages: np.ndarray,
           run: RunFolder) -> dict[str, str]:
    figs: dict[str, str] = {}
    panels, fit_panels = [], []
    F = None if d["reference"] is None else \
        Reference(tuple(d["reference"])).values(values)
    for k, c in enumerate(d["channels"]):
        front = ParetoFront.from_dict(c["front"])
        name = f"pareto_channel{c['index']}.png"
        plots.pareto_front([cd.complexity for cd in front.candidates],
                           [cd.loss for cd in front.candidates], run.file(name),
                           chosen=front.chosen_index, title=f"Pareto front, channel {c['index']}")
        figs[f"pareto{c['index']}"] = name
        msg = messages[:, k]
        eq = front.chosen.expression
        panels.append({"x": eq.evaluate(values), "y": msg,
                       "title": f"channel {c['index']}: {eq.text(3)}", "xlabel": "equation",
                       "label": "recorded edges",
                       "ylabel": f"message channel {c['index']}"})
        fit = c["fit"]
        if fit is not None and F is not None:
            fit_panels.append({"x": F @ np.array(fit["coef"]) + fit["intercept"], "y": msg,
                               "title": f"channel {c['index']}: R² {fit['r2']:.4f}",
                               "xlabel": "linear combination of the law's components",
                               "label": "recorded edges",
                               "ylabel": f"message channel {c['index']}"})
    if panels:
        plots.identity_scatter(panels, run.file("equations_vs_messages.png"),
                               title="equations against the recorded messages")
        figs["equations"] = "equations_vs_messages.png"
    if fit_panels:
        plots.identity_scatter(fit_panels, run.file("messages_vs_reference.png"),
                               title="messages against the least-squares fit by the law")
        figs["reference"] = "messages_vs_reference.png"
    return figs


def _markdown(d: dict[str, Any], figs: dict[str, str]) -> str:
    lines = [f"# Message distillation: {d['layer']}", "",
             f"{len(d['channels'])} of {d['width']} channels kept (ranked by {d['rank_by']}); "
             f"{d['edges_kept']} of {d['edges_seen']} recorded edges; features "
             f"{', '.join(d['features'])}; search: {d['structure'].get('path')}"
             + (f" (centrality {fmt(d['structure']['centrality'])})"
                if d["structure"].get("centrality") is not None else "") + ".", ""]
    if d["reference"] is not None:
        lines += [f"Reference components: {', '.join(f'`{c}`' for c in d['reference'])}; "
                  f"**recovered: {fmt(d['recovered'])}**.", ""]
    lines += ["| channel | equation | complexity | R² vs message | R² law fit | recovered |",
              "|---|---|---|---|---|---|"]
    for c in d["channels"]:
        fit = c["fit"]
        lines.append(f"| {c['index']} | ${c['latex']}$ | {c['complexity']} | "
                     f"{fmt(c['r2_vs_message'])} | {fmt(fit['r2'] if fit else None)} | "
                     f"{fmt(c['recovered'])} |")
    rules = {c["comparison"]["rule"] for c in d["channels"] if c["comparison"]}
    if rules:
        lines += ["", f"Rule: {rules.pop()}."]
    lines += ["", "## Plots", ""]
    for key, name in figs.items():
        lines += [f"![{key}]({name})", ""]
    return "\n".join(lines)
