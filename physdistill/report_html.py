"""``index.html`` reports beside ``report.md``: the page helpers, and the page of a message
distillation (an n-body run's and table's pages are :mod:`physdistill.nbody.report_html`, a heat
run's :mod:`physdistill.heat.report`).

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
