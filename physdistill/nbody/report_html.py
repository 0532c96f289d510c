"""``index.html`` of an n-body run and of an ``nbody-table`` grid, built from the page helpers
of :mod:`physdistill.report_html` (which know no domain)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sympy as sp

from physdistill.gnn.linfit import GAIN_TOL
from physdistill.nbody.forcefit import edge_variable_names
from physdistill.report_html import (
    Raw,
    esc,
    figures,
    fmt,
    mathml,
    table,
    verdict,
    write_page,
)

# --- n-body run -------------------------------------------------------------------------------

NBODY_CAPTIONS = {
    "messages": "Messages against the robust force fit (the fit whose R² the title reports); "
                "crosses: the edges that fit left out",
    "residuals": "Equation minus network against r: absolute and relative, binned median and "
                 "5-95 % band, held-out and out-of-distribution edges",
    "law_carried": "Where the messages carry the law: each channel's gain against its robust "
                   "force fit by pair distance and by receiver mass (1: carried)",
    "loss": "Training curves", "rollout_held_out": "Rollout error, held-out systems",
    "rollout_ood": "Rollout error, out-of-distribution systems"}


def write_nbody_html(folder: str | Path, m: dict[str, Any], distill: dict[str, Any],
                     figs: dict[str, str], law_force: Sequence[sp.Expr]) -> Path:
    """``index.html`` of an n-body run from its metrics, ``distill.json``, plots (key -> file)
    and the law's exact pair-force components (sympy, as the simulator computes them)."""
    folder = Path(folder)
    axes = ("x", "y", "z")
    eqs = ["<h2>Equations</h2>", "<p>True pair force, as the simulator computes it (r: the "
           "distance; the simulator's softening included):</p>"]
    eqs += [f'<div class="eq">{mathml(f, f"F_{axes[k]}")}</div>' for k, f in
            enumerate(law_force)]
    rows = []
    for c, cm in zip(distill["channels"], m["channels"]):
        cmp = c["comparison"]
        checks = Raw("<br>".join([
            f"<b>recovered: {fmt(c['recovered'])}</b>",
            f"symbolic match: {fmt(cmp['symbolic_match'])}",
            f"max rel. error: {fmt(cmp['in_distribution']['max_rel_error'])} (held-out), "
            f"{fmt(cmp['out_of_distribution']['max_rel_error'])} (OOD)",
            f"law form: {esc(cm['law_form'])}"]))
        rows.append([c["index"], mathml(c["expression"], f"phi_{c['index']}"),
                     mathml(cmp["fitted_reference"]), checks])
    dims = " + ".join(f"{a} F_{x}" for a, x in zip("abc", axes[:len(law_force)]))
    what = "force" if m["target"] == "force" else "acceleration (F / m1)"
    eqs.append(table(["channel", "found equation", f"true pair {what} fitted to it: {dims} + d",
                      "verdict"], rows))
    detail = [f"channel {c['index']}: {c['comparison'].get('symbolic_detail', '')}"
              for c in distill["channels"] if c["comparison"].get("symbolic_detail")]
    if detail:
        eqs.append("<p>" + "<br>".join(esc(d) for d in detail) + "</p>")
    rule = (f"{m['recovery_rule']}. The run is recovered when every kept channel is. Law form: "
            "'softened' matched the simulator's force, 'unsoftened' its eps -> 0 limit.")
    head = [f"<p>Potential <code>{esc(m['potential'])}</code>, n = {m['n']}, dim = "
            f"{m['dim']}, regulariser {esc(m['regulariser'])}, preset {esc(m['preset'])}, "
            f"seed {m['seed']}; messages fitted by the pair {esc(m['target'])}.</p>",
            verdict(m["recovered"], f"Recovered: {fmt(m['recovered'])}", rule)]
    metrics = ["<h2>Metrics</h2>", table(
        ["channel", "R² force fit (all edges)", "R² force fit (robust, kept 90 %)",
         "R² equation vs message", "complexity"],
        [[c["index"], fmt(a), fmt(b), fmt(c["r2_vs_message"]), c["complexity"]]
         for c, a, b in zip(m["channels"], m["message_r2_all"], m["message_r2_robust"])]),
        table(["quantity", "value"], [["final train loss", fmt(m["train_loss"])],
                                      ["validation MAE", fmt(m["val_loss"])]]
              + [[f"{k} stage [s]", f"{v:.1f}"] for k, v in m["timings"].items()])]
    if m.get("rollout"):
        metrics += ["<p>Rollouts: median over systems of the mean position error divided by "
                    "the initial spread.</p>", table(
                        ["initial states", "truth (finer step)", "GNN", "symbolic"],
                        [[{"held_out": "held-out", "ood": "out-of-distribution"}.get(s, s),
                          fmt(r["truth"]), fmt(r["gnn"]),
                          fmt(r["symbolic"])] for s, r in m["rollout"].items()])]
    caps = {**NBODY_CAPTIONS, **{k: f"Pareto front, channel {k[6:]}" for k in figs
                                 if k.startswith("pareto")}}
    plots = ["<h2>Plots</h2>", figures(folder, figs, caps)]
    return write_page(folder, f"n-body force-law recovery: {m['law']} / {m['regulariser']}",
                  head + eqs + metrics + plots)


# --- n-body table -----------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    """``median [min, max]`` of ``values`` to 3 decimals (``-`` if none; the value alone if one)."""
    if not values:
        return "-"
    v = sorted(values)
    med = v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])
    return f"{med:.3f}" if len(v) == 1 else f"{med:.3f} [{v[0]:.3f}, {v[-1]:.3f}]"


def write_table_html(out_dir: str | Path,
                     rows_or_json: dict[str, Any] | list[dict[str, Any]] | str | Path) -> Path:
    """``OUT/index.html`` of an ``nbody-table`` grid.

    Args:
        out_dir: the table's folder (each cell's run in ``OUT/NAME``, linked when its
            ``index.html`` exists; ``recovery.png`` shown when there).
        rows_or_json: ``table.json``'s content (``{"entries", "cells"}``, as
            :func:`~physdistill.nbody.table.run_table` writes it), its path, or the list of
            cells alone. A cell has ``law``, ``reg``, ``seed``, ``name`` (its folder) and
            ``metrics`` (a run's metrics, or ``{"error": text}``); an entry (one per law and
            regulariser) has ``recovered``, ``channels``, ``r2_robust``, ``r2_all``,
            ``reference`` and ``errors``.
    """
    out_dir = Path(out_dir)
    data = rows_or_json
    if isinstance(data, (str, Path)):
        from physdistill._io import read_json

        data = read_json(data, "n-body table")
    entries, cells = (data.get("entries", []), data.get("cells", [])) \
        if isinstance(data, dict) else ([], data)
    parts = []
    if entries:
        parts += ["<h2>Entries</h2>", table(
            ["law", "regulariser", "seeds", "channels recovered", "R² robust (ours)",
             "R² robust (SymTorch)", "R² all (ours)", "law carried", "errors"],
            [[e["law"], e["reg"], len(e.get("seeds", [])), f"{e['recovered']}/{e['channels']}",
              spread(e["r2_robust"]), " / ".join(f"{x:.3f}" for x in e["reference"])
              if e.get("reference") else "-", spread(e["r2_all"]),
              spread(e.get("law_carried", [])),
              "; ".join(e.get("errors", []))] for e in entries])]
        parts.append("<p>R² and law carried: median [min, max] over seeds and channels. Law "
                     "carried: the share of a channel's edges whose messages follow its robust "
                     f"force fit within {GAIN_TOL:.0%}, in bins of pair distance and of receiver "
                     "mass (the smaller share).</p>")
    if (out_dir / "recovery.png").is_file():
        parts.append(figures(out_dir, {"recovery": "recovery.png"},
                             {"recovery": "Recovery per entry beside the published robust R²"}))
    body, rule = [], ""
    for r in cells:
        m = r["metrics"]
        folder = r.get("name") or f"{r['law']}-{r['reg']}"
        page_ = out_dir / folder / "index.html"
        name = Raw(f'<a href="{esc(folder)}/index.html">{esc(folder)}</a>' if page_.is_file()
                   else esc(folder))
        if "error" in m:
            body.append([name, f"error: {m['error']}", "", "", ""])
            continue
        rule = rule or m.get("recovery_rule", "")
        names = edge_variable_names(m["dim"])
        eqs = Raw("".join(mathml(c["expression"], f"phi_{c['index']}", 3, names)
                          for c in m["channels"]))
        body.append([name, f"{sum(c['recovered'] for c in m['channels'])}/"
                           f"{len(m['channels'])}",
                     " / ".join(fmt(x, 3) for x in m["message_r2_robust"]),
                     " / ".join(fmt(x, 3) for x in m["message_r2_all"]), eqs])
    parts += ["<h2>Runs</h2>", table(["run", "channels recovered", "R² robust", "R² all",
                                      "equations"], body)]
    if rule:
        parts.append(f'<p class="rule"><b>Rule.</b> {esc(rule)} A run is recovered when '
                     "every kept channel is.</p>")
    return write_page(out_dir, "n-body force-law table", parts)
