"""``index.html`` reports beside ``report.md``: the page helpers, and the pages of n-body runs,
message distillations and n-body tables (a heat run's page is :mod:`physdistill.heat.report`).

Each page is one self-contained, offline file: inline CSS, no script, no CDN. Equations are
presentation MathML printed by sympy (``sympy.printing.mathml(expr, printer="presentation")``),
which browsers render natively (MathML Core); the plots are the run's PNGs, each linked to the
SVG beside it. A page holds the equations (found and true), the verdicts with the rule that
decides them, the metrics table and the plots.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sympy as sp

from physdistill._io import atomic_write_text

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#111;background:#fff}
main{max-width:1150px;margin:0 auto;padding:1em 1.5em 3em}
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.25em;border-bottom:1px solid #ccc;
padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #bbb;padding:.25em .55em;
text-align:left;vertical-align:middle}th{background:#eef2f7}
.verdict{padding:.6em 1em;border-left:6px solid;margin:.8em 0;font-weight:600}
.yes{border-color:#009E73;background:#e6f5ef}.no{border-color:#D55E00;background:#fbece4}
.rule{font-size:.92em;color:#333;background:#f6f6f6;padding:.5em .8em;border-radius:4px}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444}math{font-size:1.1em}
.eq,.wide{overflow-x:auto;overflow-y:hidden}.eq{padding:.2em 0}
"""


class Raw(str):
    """Text already in HTML (MathML, links): inserted unescaped by :func:`table`."""


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (``Raw`` passes through)."""
    return value if isinstance(value, Raw) else html.escape(str(value))


def fmt(x: Any, digits: int = 4) -> str:
    """A table cell: ``-`` for None, yes/no for booleans, ``digits`` significant digits."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _rounded(expr: sp.Expr, digits: int) -> sp.Expr:
    return expr.xreplace({f: sp.Float(f, digits) for f in expr.atoms(sp.Float)})


def mathml(expr: sp.Expr | str, lhs: str | None = None, digits: int = 4,
           variables: Iterable[str] | None = None) -> Raw:
    """``<math display="block">`` for ``expr`` (sympy, or text parsed by the whitelist parser
    :func:`~physdistill.symbolic.parse_expression`, never evaluated), floats rounded to
    ``digits`` significant digits, optionally as ``lhs = expr``."""
    from sympy.printing.mathml import mathml as _mml

    if isinstance(expr, str):
        from physdistill.symbolic import parse_expression

        expr = parse_expression(expr, variables)
    body = _mml(_rounded(sp.sympify(expr), digits), printer="presentation")
    if lhs is not None:
        body = f"<mrow>{_mml(sp.Symbol(lhs), printer='presentation')}<mo>=</mo>{body}</mrow>"
    return Raw(f'<math display="block">{body}</math>')


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Raw:
    """An HTML table; cells are escaped unless :class:`Raw`."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return Raw(f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
               "</table></div>")


def verdict(ok: bool | None, text: str, rule: str) -> Raw:
    """A coloured verdict line and the rule that decided it, spelled out."""
    cls = "yes" if ok else "no"
    return Raw(f'<div class="verdict {cls}">{esc(text)}</div>'
               f'<p class="rule"><b>Rule.</b> {esc(rule)}</p>')


def figures(folder: Path, figs: dict[str, str], captions: dict[str, str]) -> Raw:
    """Each PNG of ``figs`` (key -> file name in ``folder``) as a figure with its caption and a
    link to the SVG beside it when there is one."""
    out = []
    for key, name in figs.items():
        cap = esc(captions.get(key, key))
        svg = Path(name).with_suffix(".svg").name
        link = f' (<a href="{esc(svg)}">SVG</a>)' if (folder / svg).is_file() else ""
        out.append(f'<figure><img src="{esc(name)}" alt="{cap}">'
                   f"<figcaption>{cap}{link}</figcaption></figure>")
    return Raw("".join(out))


def page(title: str, parts: Iterable[str]) -> str:
    """A complete HTML document of ``parts`` (HTML strings) under heading ``title``."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>"
            f"<h1>{esc(title)}</h1>\n" + "\n".join(parts) + "\n</main></body></html>\n")


def write_page(folder: str | Path, title: str, parts: Iterable[str]) -> Path:
    """Write :func:`page` as ``folder/index.html`` (atomically); return its path."""
    path = Path(folder) / "index.html"
    atomic_write_text(path, page(title, parts))
    return path


# --- n-body run -------------------------------------------------------------------------------

NBODY_CAPTIONS = {
    "messages": "Messages against the robust force fit (the fit whose R² the title reports); "
                "crosses: the edges that fit left out",
    "residuals": "Equation minus network against r: absolute and relative, binned median and "
                 "5-95 % band, held-out and out-of-distribution edges",
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


# --- message distillation (physdistill.gnn) ---------------------------------------------------

GNN_CAPTIONS = {"equations": "Each kept channel's equation against the recorded messages",
                "reference": "Messages against their least-squares fit by the law's components"}


def write_gnn_html(folder: str | Path, d: dict[str, Any], figs: dict[str, str]) -> Path:
    """``index.html`` of a message distillation from its ``distill.json`` content and plots."""
    folder = Path(folder)
    struct = d["structure"]
    head = [f"<p>{len(d['channels'])} of {d['width']} channels of {esc(d['layer'])} kept "
            f"(ranked by {esc(d['rank_by'])}), {d['edges_kept']} recorded edges, features "
            f"{esc(', '.join(d['features']))}; search: {esc(struct.get('path'))}"
            + (f", centrality {fmt(struct['centrality'])}" if struct.get("centrality")
               is not None else "") + ".</p>"]
    rules = [c["comparison"]["rule"] for c in d["channels"] if c["comparison"]]
    if d["reference"] is not None:
        head.append(verdict(d["recovered"], f"Recovered: {fmt(d['recovered'])}",
                            rules[0] if rules else "no comparison was possible"))
    rows = []
    for c in d["channels"]:
        cmp = c["comparison"]
        rows.append([c["index"], mathml(c["expression"], f"phi_{c['index']}"),
                     mathml(cmp["fitted_reference"]) if cmp else "-",
                     fmt(c["r2_vs_message"]),
                     fmt(c["fit"]["r2"]) if c["fit"] else "-", fmt(c["recovered"])])
    eqs = ["<h2>Equations</h2>", table(["channel", "found equation", "law fitted to it",
                                        "R² vs message", "R² law fit", "recovered"], rows)]
    return write_page(folder, f"Message distillation: {d['layer']}",
                  head + eqs + ["<h2>Plots</h2>", figures(folder, figs, {
                      **GNN_CAPTIONS, **{k: f"Pareto front, channel {k[6:]}" for k in figs
                                         if k.startswith("pareto")}})])


# --- n-body table -----------------------------------------------------------------------------


def _spread(values: list[float]) -> str:
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
    from physdistill.nbody.forcefit import edge_variable_names

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
              _spread(e["r2_robust"]), " / ".join(f"{x:.3f}" for x in e["reference"])
              if e.get("reference") else "-", _spread(e["r2_all"]),
              _spread(e.get("law_carried", [])),
              "; ".join(e.get("errors", []))] for e in entries])]
        parts.append("<p>R² and law carried: median [min, max] over seeds and channels. Law "
                     "carried: the share of a channel's edges (bins of pair distance) whose "
                     "messages follow its robust force fit within 10 %.</p>")
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
