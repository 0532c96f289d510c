"""The n-body run report: ``metrics.json``, ``equations.json``, PNG plots and ``report.md``.

Everything is drawn from the files a run folder already holds (``run.json``, ``history.json``,
``distill.json``, ``messages.safetensors``, ``rollout.json``), so ``physdistill report RUN``
re-renders a finished or interrupted run without the model.
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

from physdistill import __version__, plots
from physdistill.gnn.linfit import GAIN_TOL, binned_gain, carried
from physdistill.nbody.config import NBodyConfig, _law
from physdistill.nbody.judge import REL_FLOOR
from physdistill.nbody.laws import get_law
from physdistill.nbody.provenance import check_report_inputs, law_record
from physdistill.nbody.report_html import write_nbody_html
from physdistill.report_html import fmt as _fmt
from physdistill.runs import RunFolder
from physdistill.symbolic import Expression, ParetoFront


def write_report(run: RunFolder) -> dict[str, Any]:
    """Write metrics, equations, plots, the Markdown report and ``index.html``; return the
    metrics."""
    metrics = collect_metrics(run)
    distill = run.read_json("distill.json")
    chans = distill["channels"]
    run.write_json("equations.json", {
        "variables": Expression.from_dict(chans[0]["front"]["candidates"][0]["expression"])
        .variables if chans else [],
        "channels": {str(c["index"]): ParetoFront.from_dict(c["front"]).chosen.expression
                     .to_dict() for c in chans}})
    rec = load_messages(run)
    gains = _gains(chans, rec)
    metrics["law_carried"] = [_law_carried(c["index"], g) for c, g in zip(chans, gains)]
    figures = _plots(run, metrics, distill, rec, gains)
    run.write_json("metrics.json", metrics)
    run.write_text("report.md", _markdown(metrics, distill, figures))
    cfg = run.meta["config"]
    law = get_law(cfg.get("law"), potential=cfg.get("potential"))
    write_nbody_html(run.path, metrics, distill, figures, law.pair_force(metrics["dim"]))
    return metrics


def collect_metrics(run: RunFolder) -> dict[str, Any]:
    """``metrics.json`` from a run folder's stage files."""
    import torch

    cfg = NBodyConfig.from_dict(run.meta["config"]).resolved()
    law = _law(cfg)
    check_report_inputs(run, law_record(law))
    hist = run.read_json("history.json")
    distill = run.read_json("distill.json")
    roll = run.read_json("rollout.json") if run.file("rollout.json").exists() else None
    chans = distill["channels"]
    return {
        "law": law.name, "potential": str(law.potential), "regulariser": cfg.reg,
        "preset": cfg.preset, "n": cfg.n, "dim": cfg.dim, "seed": cfg.seed,
        "train_loss": hist["train"][-1], "val_loss": hist["val"][-1],
        "target": distill["target"],
        "message_r2_all": [c["force_fit"]["r2"] for c in chans],
        "message_r2_robust": [c["force_fit"]["r2_robust"] for c in chans],
        "message_r2_all_force": [c["fits"]["force"]["r2"] for c in chans],
        "message_r2_all_acceleration": [c["fits"]["acceleration"]["r2"] for c in chans],
        "channels": [{k: c[k] for k in ("index", "expression", "latex", "complexity",
                                        "r2_vs_message", "ood_rel_error", "symbolic_match",
                                        "recovered")}
                     # runs distilled before law_form existed compared the softened law only
                     | {"law_form": c.get("law_form", "softened" if c["recovered"] else "none")}
                     for c in chans],
        "recovered": bool(chans) and all(c["recovered"] for c in chans),
        "recovery_rule": distill["rule"],
        "rollout": None if roll is None else {
            s: {k: roll[s][k]["median"] for k in roll[s]} for s in ("held_out", "ood")},
        "timings": run.timings,
        "config": cfg.to_dict(),
        "versions": {"physdistill": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    }


def load_messages(run: RunFolder) -> dict[str, Any]:
    """The recorded edges of a run (variables, kept messages, the true pair force or pair
    acceleration they were fitted with) as numpy."""
    from physdistill._io import load_state

    state = load_state(run.file("messages.safetensors"))
    return {k: ({n: a.numpy() for n, a in v.items()} if isinstance(v, dict) else v.numpy())
            for k, v in state.items()}


#: the features a channel's gain is binned by, with their axis labels: the pair distance (where
#: close encounters and far pairs part from the law) and the receiver's mass (a network that
#: scales its messages with it, a receiver gauge, carries F g(m1) rather than F)
GAIN_FEATURES = [("r", "pair distance r [simulation units]"), ("m1", "receiver mass m1")]


def _gains(chans: list[dict], rec: dict) -> list[dict[str, list[dict[str, float]]]]:
    """Each channel's gain against its robust force fit per bin of each of
    :data:`GAIN_FEATURES`: where the network carries the law the fit found (1), falls short
    (< 1) or carries none of it (0)."""
    out = []
    for k, c in enumerate(chans):
        pred = _robust_prediction(c, rec["forces"])
        out.append({name: binned_gain(rec["messages"][:, k], pred,
                                      c["force_fit"]["robust_intercept"],
                                      rec["variables"][name]) for name, _ in GAIN_FEATURES})
    return out


def _law_carried(index: int, gains: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """``metrics.json``'s ``law_carried`` entry of one channel: per feature, the share of edges
    in bins whose gain is within ``GAIN_TOL`` of 1 and their range; ``share`` is the smaller
    share (a channel carries the law where it does so along every feature)."""
    per = {name: carried(g) for name, g in gains.items()}
    return {"index": index, "share": min(v["share"] for v in per.values()), **per}


def _plots(run: RunFolder, metrics: dict, distill: dict, rec: dict,
           gains: list[dict[str, list[dict[str, float]]]]) -> dict[str, str]:
    hist = run.read_json("history.json")
    figs = {"loss": "loss.png"}
    plots.loss_curves({"train (MAE)": hist["train"],
                       "validation (MAE)": [v for v in hist["val"] if v is not None]},
                      run.file("loss.png"), title="training")
    chans = distill["channels"]
    panels, rows = [], []
    for k, c in enumerate(chans):
        msg = rec["messages"][:, k]
        panels.append(_fit_panel(c, msg, rec["forces"], metrics["target"]))
        front = ParetoFront.from_dict(c["front"])
        idx = front.candidates.index(front.chosen)
        plots.pareto_front([cd.complexity for cd in front.candidates],
                           [cd.loss for cd in front.candidates],
                           run.file(f"pareto_channel{c['index']}.png"), chosen=idx,
                           title=f"Pareto front, channel {c['index']}")
        figs[f"pareto{c['index']}"] = f"pareto_channel{c['index']}.png"
        eq = front.chosen.expression
        ood_msg = rec["ood_messages"][:, k]
        rows.append({"r": rec["variables"]["r"], "resid": eq.evaluate(rec["variables"]) - msg,
                     "scale": _scale(msg), "ood_r": rec["ood_variables"]["r"],
                     "ood_resid": eq.evaluate(rec["ood_variables"]) - ood_msg,
                     "ood_scale": _scale(ood_msg),
                     "scale_label": f"max(|network|, {REL_FLOOR:g} RMS(network)) per set",
                     "title": f"channel {c['index']}: {eq.text(3)}"})
    if chans:
        plots.identity_scatter(panels, run.file("messages_vs_force.png"),
                               title="messages against the robust force fit")
        plots.residual_panels(rows, run.file("residuals.png"),
                              title="equation minus network on recorded edges")
        figs["messages"] = "messages_vs_force.png"
        plots.gain_panels([{"label": f"channel {c['index']}", "gains": g}
                           for c, g in zip(chans, gains)], GAIN_FEATURES,
                          run.file("law_carried.png"), GAIN_TOL,
                          title="where the messages carry the law: each channel's gain "
                                "against its robust force fit")
        figs["law_carried"] = "law_carried.png"
        figs["residuals"] = "residuals.png"
    if run.file("rollout.json").exists():
        roll = run.read_json("rollout.json")
        for split in ("held_out", "ood"):
            res = roll[split]
            T = len(res["truth"]["curve"])
            t = np.arange(T) * roll["dt"] * 5
            series = {name: np.maximum(np.array(r["curve"]), 1e-12) for name, r in res.items()}
            plots.curves(series, t, run.file(f"rollout_{split}.png"),
                         xlabel="time [simulation units]",
                         ylabel="position error / initial spread (median)",
                         title=f"rollout error, {SPLITS[split]} systems\n(floored at 1e-12 "
                               "for the log axis)")
            figs[f"rollout_{split}"] = f"rollout_{split}.png"
    return figs


SPLITS = {"held_out": "held-out", "ood": "out-of-distribution"}


def _scale(msg: np.ndarray) -> np.ndarray:
    """Per-point denominator of the relative residual: ``max(|m|, REL_FLOOR RMS(m))``, the
    recovery rule's floor, so a channel crossing zero does not blow up."""
    return np.maximum(np.abs(msg), REL_FLOOR * float(np.sqrt(np.mean(msg * msg))) or 1.0)


def _robust_prediction(c: dict, forces: np.ndarray) -> np.ndarray:
    """A channel's message as its robust (trimmed) force fit predicts it from ``forces``."""
    fit = c["force_fit"]
    return forces @ np.array(fit["robust_coef"]) + fit["robust_intercept"]


def _fit_panel(c: dict, msg: np.ndarray, forces: np.ndarray, target: str) -> dict[str, Any]:
    """The identity-scatter panel of one channel: the message against the prediction of the
    robust (trimmed) force fit, whose R² the title reports; the edges that fit left out (the
    worst ``ROBUST_DROP``) are marked."""
    from physdistill.nbody.forcefit import ROBUST_DROP

    fit = c["force_fit"]
    pred = _robust_prediction(c, forces)
    bad = np.abs(msg - pred)
    out = np.zeros(len(msg), bool)
    n_out = len(msg) - int(np.ceil((1 - ROBUST_DROP) * len(msg)))
    if n_out > 0:
        out[np.argpartition(bad, -n_out)[-n_out:]] = True
    return {"x": pred, "y": msg, "outlier": out,
            "xlabel": f"robust fit: linear combination of the pair {target} components",
            "ylabel": f"message channel {c['index']}",
            "title": f"channel {c['index']}: robust fit R² {fit['r2_robust']:.3f} on the kept "
                     f"{1 - ROBUST_DROP:.0%}\n(least squares on all edges: R² {fit['r2']:.3f})"}


def _carried_text(rows: list[dict]) -> str:
    """One sentence: per channel, the share of edges, and the range of r and of m1, where its
    messages carry the law at the robust fit's scale."""
    if not rows:
        return ""

    def part(c: dict) -> str:
        ranges = [f"{name} {c[name]['lo']:.3g}-{c[name]['hi']:.3g}" for name, _ in GAIN_FEATURES
                  if c[name]["lo"] is not None]
        return (f"channel {c['index']}: " + ", ".join(
            f"{c[name]['share']:.0%} of the edges by {name}" for name, _ in GAIN_FEATURES) +
            (f" ({', '.join(ranges)})" if ranges else ""))

    return (f"Where the messages carry the law (gain against the robust force fit within "
            f"{GAIN_TOL:g} of 1, per bin of pair distance r and of receiver mass m1): "
            f"{'; '.join(part(c) for c in rows)}. A search sees all these edges; where the gain "
            "departs from 1, the network learned another law there (by m1: it scales its "
            "messages with the receiver's mass) and an equation fitted to it follows that one.")


def _markdown(m: dict, distill: dict, figs: dict[str, str]) -> str:
    lines = [f"# n-body force-law recovery: {m['law']} / {m['regulariser']}", "",
             f"Potential `{m['potential']}`, n = {m['n']}, dim = {m['dim']}, preset "
             f"{m['preset']}, seed {m['seed']}.", "",
             f"**Recovered: {_fmt(m['recovered'])}** "
             f"(rule: {m['recovery_rule']})", "",
             "| channel | equation | complexity | R² force fit (all) | R² force fit (robust) "
             "| R² eq. vs message | OOD max rel. error | symbolic match | recovered | law form |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c, r2, r2r in zip(m["channels"], m["message_r2_all"], m["message_r2_robust"]):
        lines.append(f"| {c['index']} | ${c['latex']}$ | {c['complexity']} | {_fmt(r2)} | "
                     f"{_fmt(r2r)} | {_fmt(c['r2_vs_message'])} | {_fmt(c['ood_rel_error'])} | "
                     f"{_fmt(c['symbolic_match'])} | {_fmt(c['recovered'])} | "
                     f"{c['law_form']} |")
    what = ("pair force F" if m["target"] == "force" else
            "pair acceleration F / m1 (the network divides by the receiver's mass in its "
            "messages)")
    lines += ["", "Law form: which form of the law the equation matched, `softened` (the "
              "simulator's distance r + eps) or `unsoftened` (its limit eps -> 0).",
              "", f"R² force fit: each kept message channel fitted as a linear combination of the "
              f"components of the true {what}, plus an intercept, on all recorded test edges; the "
              "robust value drops the worst 10 % of residuals (the published number). "
              f"All-points R² against F: {', '.join(_fmt(x) for x in m['message_r2_all_force'])};"
              f" against F / m1: "
              f"{', '.join(_fmt(x) for x in m['message_r2_all_acceleration'])}.", "",
              _carried_text(m.get("law_carried", [])), "",
              f"Training: final train loss {_fmt(m['train_loss'])}, validation MAE "
              f"{_fmt(m['val_loss'])}.", ""]
    if m.get("rollout"):
        lines += ["## Rollouts", "",
                  "Median over systems of the mean position error divided by the initial spread "
                  "(truth = the law at the models' step vs a 4x finer step):", "",
                  "| initial states | truth | GNN | symbolic |", "|---|---|---|---|"]
        for split, r in m["rollout"].items():
            lines.append(f"| {split.replace('_', '-')} | {_fmt(r['truth'])} | {_fmt(r['gnn'])}"
                         f" | {_fmt(r['symbolic'])} |")
        lines.append("")
    lines += ["## Timings", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in m["timings"].items()]
    lines += ["", "## Plots", ""]
    titles = {"messages": "Messages vs best linear force combination",
              "residuals": "Equation minus network (OOD band shaded)",
              "law_carried": "Where the messages carry the law (gain by pair distance and "
                             "receiver mass)",
              "loss": "Training curves", "rollout_held_out": "Rollout error, held-out systems",
              "rollout_ood": "Rollout error, out-of-distribution systems"}
    for key, name in figs.items():
        lines += [f"### {titles.get(key, key.replace('pareto', 'Pareto front, channel '))}", "",
                  f"![{key}]({name})", ""]
    return "\n".join(lines)
