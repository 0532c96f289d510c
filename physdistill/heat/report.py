"""The report of a heat run, from its ``metrics.json`` alone: ``report.md`` and ``index.html``.

:func:`summary_rows` (the headline figures) feeds both pages and the CLI's summary. The page
helpers (MathML, tables, verdicts, figures) are the shared ones of :mod:`physdistill.report_html`;
:mod:`~physdistill.heat.pipeline` writes these files at the end of a run, and
``physdistill report`` rewrites them from the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sympy as sp

from physdistill.report_html import esc, figures, fmt, mathml, table, verdict, write_page
from physdistill.runs import RunFolder
from physdistill.symbolic import parse_expression


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}e}" if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4) \
            else f"{v:.{digits + 3}g}"
    return str(v)


def summary_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    """The headline figures of a run as ``(name, value)`` rows."""
    rows = [("mode", m["mode"]), ("initial condition", m["problem"]["ic"]),
            ("reference", m["problem"]["reference"]), ("alpha (true)", _fmt(m["alpha_true"])),
            ("rel. L2 network vs reference", _fmt(m["rel_l2_network"]))]
    if "alpha_learned" in m:
        rows += [("alpha learned (inverse)", _fmt(m["alpha_learned"])),
                 ("  rel. error", _fmt(m["alpha_learned_rel_error"]))]
    if "solution" in m:
        s = m["solution"]
        rows += [("distilled solution", s["expression"]),
                 ("  rel. L2 vs reference", _fmt(s["rel_l2_vs_exact"])),
                 ("  rel. L2 vs network", _fmt(s["rel_l2_vs_network"])),
                 ("  max constant rel. error", _fmt(s["max_constant_rel_error"]))]
        rows += [(f"  {c['name']}", (f"{_fmt(c['found'])} vs {_fmt(c['exact'])} "
                                     f"(rel. error {_fmt(c['rel_error'])})"))
                 for c in s["constants"]]
    if "pde" in m:
        for label, p in (("PDE (sparse regression)", m["pde"]),
                         ("PDE (symbolic regression)", m["pde"]["symbolic_regression"])):
            if p["identifiable"]:
                rows += [(label, p["expression"]), ("  alpha rel. error", _fmt(p["rel_error"]))]
            elif not p["dependencies"]:  # nothing found, or not comparable
                rows += [(label, f"{p['candidate']} ({'; '.join(p['warnings'])})")]
            else:
                rows += [(label, (f"NOT IDENTIFIABLE: {'; '.join(p['dependencies']) or '-'} "
                                  f"(candidate {p['candidate']})"))]
    if "discovery" in m:
        d = m["discovery"]
        rows += [("discovered PDE", d["expression"]), ("  noise", _fmt(d["noise"])),
                 ("  alpha rel. error", _fmt(d["rel_error"])),
                 ("  correct terms only", str(d["correct_terms"]))]
    rows.append(("wall time [s]", f"{m['timings']['total']:.1f} ("
                 + ", ".join(f"{k} {v:.1f}" for k, v in m["timings"].items() if k != "total")
                 + ")"))
    return rows


def report_markdown(m: dict[str, Any]) -> str:
    """``report.md``: the summary table, warnings, and the plots."""
    lines = ["# Heat equation run", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k.strip()} | {v.replace('|', '/')} |" for k, v in summary_rows(m)]
    warnings = [w for p in (m.get("pde"), (m.get("pde") or {}).get("symbolic_regression"))
                if p for w in p.get("warnings", [])]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in dict.fromkeys(warnings)]
    if "solution" in m:
        lines += ["", "## Distilled solution", "", f"$$u(x, t) = {m['solution']['latex']}$$"]
    lines += ["", "## Plots", ""]
    lines += [f"![{k}]({v})" for k, v in m.get("plots", {}).items()]
    return "\n".join(lines) + "\n"


HEAT_CAPTIONS = {
    "solution": "u(x, t): network, distilled equation and reference",
    "errors": "u(x, t) residuals over (x, t), with medians and 5-95 % bands against x and t",
    "pde_residual": "PDE residual of the network under the true PDE and under the found ones",
    "loss": "Training curves", "alpha": "Learned alpha", "pareto": "Solution distillation: "
    "Pareto front", "coefficients": "Normalised coefficients of the discovery PINN"}
HEAT_RULE = ("A found PDE counts as recovered when the data identify it (no term of the "
             "model is, within the collinearity tolerance, a combination of other library "
             "terms) and its terms are exactly {u_xx}; the relative error of its alpha is "
             "reported beside it, not judged. The discovery PINN's result is not checked for "
             "identifiability: its verdict is its terms alone.")


def _pde_expr(terms: dict[str, float]) -> sp.Expr:
    return sum((c * parse_expression(n) for n, c in terms.items()), sp.Integer(0))


def write_heat_html(folder: str | Path, m: dict[str, Any]) -> Path:
    """``index.html`` of a heat run from its ``metrics.json`` content (plots as listed there)."""
    folder = Path(folder)
    eqs = ["<h2>Equations</h2>", "<p>True PDE:</p>",
           f'<div class="eq">{mathml(sp.Symbol("alpha") * sp.Symbol("u_xx"), "u_t")}</div>',
           f"<p>with alpha = {fmt(m['alpha_true'])}; initial condition "
           f"<code>{esc(m['problem']['ic'])}</code>.</p>"]
    if "solution" in m:
        eqs += ["<p>Distilled solution:</p>", f'<div class="eq">'
                f'{mathml(m["solution"]["expression"], "u", variables=["x", "t"])}</div>']
    found = []
    if "pde" in m:
        found = [("sparse regression", m["pde"]),
                 ("symbolic regression", m["pde"]["symbolic_regression"])]
    if "discovery" in m:
        found = [("discovery PINN", m["discovery"])]
    rows = []
    for label, p in found:
        checked = "identifiable" in p  # the discovery PINN has no identifiability check
        ok = bool(p.get("identifiable", True) and p.get("correct_terms"))
        expr = mathml(_pde_expr(p["terms"]), "u_t") if p.get("terms") else "-"
        rows.append([label, expr, fmt(p["identifiable"]) if checked else "not checked",
                     fmt(p.get("correct_terms")), fmt(p.get("rel_error")), fmt(ok)])
    parts = []
    if rows:
        eqs.append(table(["method", "found PDE (candidate)", "identifiable", "terms exactly "
                          "{u_xx}", "alpha rel. error", "recovered"], rows))
        ok = any(r[-1] == "yes" for r in rows)
        parts.append(verdict(ok, f"PDE recovered: {'yes' if ok else 'no'} "
                                 f"({sum(r[-1] == 'yes' for r in rows)} of {len(rows)} "
                                 "methods)", HEAT_RULE))
    warns = [w for p in (m.get("pde"), (m.get("pde") or {}).get("symbolic_regression")) if p
             for w in p.get("warnings", [])]
    if warns:
        eqs.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{esc(w)}</li>"
                                                       for w in dict.fromkeys(warns)) + "</ul>")
    metrics = ["<h2>Metrics</h2>", table(["quantity", "value"], summary_rows(m))]
    plots = ["<h2>Plots</h2>", figures(folder, m.get("plots", {}), HEAT_CAPTIONS)]
    return write_page(folder, f"Heat equation run ({m['mode']})", parts + eqs + metrics + plots)


def write_report(run: RunFolder) -> dict[str, Any]:
    """Rewrite a heat run's ``report.md`` and ``index.html`` from its ``metrics.json`` (its
    plots stay as drawn): ``physdistill report`` for a heat run."""
    run.check_stages()  # every finished stage made with the settings in run.json
    metrics = run.read_json("metrics.json")
    run.write_text("report.md", report_markdown(metrics))
    write_heat_html(run.path, metrics)
    return metrics
