"""The transformer case study's report (``report.md``) and figure, from ``metrics.json`` alone.

The published figures it is set beside (Qwen2.5-1.5B, three of 28 MLP blocks replaced, PCA 32
in and 8 out) are constants here, quoted from the issue that asked for this case study.
"""

from __future__ import annotations

from typing import Any

#: published Qwen2.5-1.5B figures: (quantity, value)
PUBLISHED = {
    "model": "Qwen2.5-1.5B (decoder, 28 MLP blocks)",
    "blocks": "3 of 28",
    "pca": "32 in, 8 out",
    "speed": "+8.3 % tokens/s",
    "latency": "209.9 -> 193.9 ms",
    "quality": "perplexity 10.62 -> 13.76",
    "pca_mlp": "+3.11 perplexity",
    "surrogate": "+3.14 perplexity",
    "control": "+6.97 perplexity",
    "hardware": "not stated",
}


def _pct(x: float) -> str:
    return f"{100 * x:+.1f} %"


def _f(x: float, d: int = 4) -> str:
    return f"{x:.{d}f}"


def side_by_side(metrics: dict[str, Any]) -> list[str]:
    head = metrics["headline"]
    t = head["table"]
    lines = ["| variant | sentences/s | throughput | throughput (CPU time) | latency / batch "
             "(ms) | mean cosine | 5th pct cosine | top-10 agreement |",
             "|---|---|---|---|---|---|---|---|"]
    names = {"original": "original", "equations": "hybrid: PCA -> equations -> PCA^-1",
             "linear": "control: PCA -> linear map -> PCA^-1",
             "pca_mlp": "control: PCA -> original MLP -> PCA^-1"}
    for k in ("original", "equations", "linear", "pca_mlp"):
        r = t[k]
        lines.append(f"| {names[k]} | {r['timing']['sentences_per_s']:.1f} | "
                     f"{_pct(r['speedup'])} | {_pct(r.get('cpu_speedup', float('nan')))} | "
                     f"{r['timing']['latency_ms']:.1f} | "
                     f"{_f(r['fidelity']['mean_cosine'])} | {_f(r['fidelity']['p05_cosine'])} | "
                     f"{_f(r['fidelity']['knn_agreement'], 3)} |")
    return lines


def published_table(metrics: dict[str, Any]) -> list[str]:
    head = metrics["headline"]
    t = head["table"]
    o, h = t["original"], t["equations"]
    hw = metrics["hardware"]
    ours_hw = (f"{metrics['device']}, {hw.get('cuda_device') or hw['cpu']}, torch "
               f"{hw['torch']}, {hw['torch_threads']} thread(s)")
    rows = [
        ("model", PUBLISHED["model"], f"{metrics['model']} (BERT encoder, "
                                      f"{metrics['n_layers']} MLP blocks)"),
        ("blocks replaced", PUBLISHED["blocks"], f"{head['n_blocks']} of {metrics['n_layers']} "
                                                 f"(blocks {head['blocks']})"),
        ("PCA", PUBLISHED["pca"], f"{head['k_in']} in, {head['k_out']} out"),
        ("speed", PUBLISHED["speed"], f"{_pct(h['speedup'])} sentences/s"),
        ("latency", PUBLISHED["latency"], f"{o['timing']['latency_ms']:.1f} -> "
                                          f"{h['timing']['latency_ms']:.1f} ms per batch of "
                                          f"{o['timing']['batch_size']}"),
        ("quality", PUBLISHED["quality"], f"mean cosine 1 -> {_f(h['fidelity']['mean_cosine'])}"
                                          f", top-10 agreement {_f(h['fidelity']['knn_agreement'], 3)}"),
        ("PCA with the original MLP", PUBLISHED["pca_mlp"],
         f"mean cosine {_f(t['pca_mlp']['fidelity']['mean_cosine'])}"),
        ("PCA with the surrogate", PUBLISHED["surrogate"],
         f"mean cosine {_f(h['fidelity']['mean_cosine'])}"),
        ("control", PUBLISHED["control"],
         f"PCA with a linear map: mean cosine {_f(t['linear']['fidelity']['mean_cosine'])}"),
        ("hardware", PUBLISHED["hardware"], ours_hw),
    ]
    lines = ["| | published (Qwen2.5-1.5B) | this run |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return lines


def curve_table(metrics: dict[str, Any]) -> list[str]:
    lines = ["| PCA in -> out | blocks | throughput | throughput (CPU time) | mean cosine: "
             "equations | linear | PCA+MLP | top-10 agreement: equations |",
             "|---|---|---|---|---|---|---|---|"]
    for e in metrics["curve"]:
        lines.append(f"| {e['k_in']} -> {e['k_out']} | {e['blocks']} | {_pct(e['speedup'])} | "
                     f"{_pct(e.get('cpu_speedup', float('nan')))} | "
                     f"{_f(e['equations']['mean_cosine'])} | {_f(e['linear']['mean_cosine'])} | "
                     f"{_f(e['pca_mlp']['mean_cosine'])} | "
                     f"{_f(e['equations']['knn_agreement'], 3)} |")
    return lines


def verdict(metrics: dict[str, Any]) -> list[str]:
    cfg = metrics["config"]
    tc, ts = cfg["target_cosine"], cfg["target_speedup"]
    curve = metrics["curve"]
    head = metrics["headline"]
    lines = []
    if head["meets_target"]:
        lines.append(f"**Target met**: {_pct(head['table']['equations']['speedup'])} "
                     f"throughput at mean cosine "
                     f"{_f(head['table']['equations']['fidelity']['mean_cosine'])} (goal: "
                     f">= {_pct(ts)} at >= {tc}).")
    else:
        lines.append(f"**Target not met** (goal: >= {_pct(ts)} throughput at >= {tc} mean "
                     "cosine).")
    sizes = list(dict.fromkeys((e["k_in"], e["k_out"]) for e in curve))
    for s in sizes:
        rows = sorted((e for e in curve if (e["k_in"], e["k_out"]) == s),
                      key=lambda e: e["n_blocks"])
        good = [e for e in rows if e["equations"]["mean_cosine"] >= tc]
        if good:
            last = good[-1]
            lines.append(f"- PCA {s[0]} -> {s[1]}: the cosine target holds up to "
                         f"{last['n_blocks']} block(s) ({_pct(last['speedup'])} throughput).")
        else:
            lines.append(f"- PCA {s[0]} -> {s[1]}: no number of blocks keeps mean cosine >= "
                         f"{tc} (one block: {_f(rows[0]['equations']['mean_cosine'])}).")
    per_block = [e["speedup"] / e["n_blocks"] for e in curve]
    if per_block:
        lines.append(f"- Each block replaced changes throughput by {_pct(sum(per_block) / len(per_block))} "
                     "on average over the curve (measured).")
    return lines


def equations_section(metrics: dict[str, Any]) -> list[str]:
    head = metrics["headline"]
    lines = [f"Each block: $z = \\mathrm{{clip}}(P_i^T (h - \\mu_i))$ ({head['k_in']} input "
             f"components), $\\hat f(h) = \\mu_o + P_o\\,(A^T z + e(z))$ ({head['k_out']} "
             "output components). The linear part $A$ and the bases are in "
             "`surrogates.safetensors`; the equations $e_j$ of the residual, found by "
             "symbolic regression (pyoperon) and kept when they lower the held-out residual "
             "error, are:", ""]
    for b, rec in metrics["equations"].items():
        lines.append(f"**Block {b}**")
        lines.append("")
        lines.append("| component | held-out R^2 linear | with equation | equation $e_j(z)$ |")
        lines.append("|---|---|---|---|")
        for j, (r_lin, r_eq) in enumerate(zip(rec["r2_linear"], rec["r2_equations"])):
            eq = rec["latex"].get(str(j))
            text = f"${eq}$" if eq else "(none kept: linear only)"
            lines.append(f"| $y_{{{j}}}$ | {_f(r_lin, 3)} | {_f(r_eq, 3)} | {text} |")
        lines.append("")
    return lines


def report_markdown(metrics: dict[str, Any]) -> str:
    head = metrics["headline"]
    cfg = metrics["config"]
    c = metrics["corpus"]
    hw = metrics["hardware"]
    lines = [
        f"# Symbolic surrogates for {metrics['model']}'s MLP blocks", "",
        f"Model: {metrics['model']} (from {metrics['model_source']}), {metrics['n_layers']} "
        f"MLP blocks. Corpus: {c['name']}; {c['n_fit']} fitting and {c['n_eval']} held-out "
        f"sentences (digest {c['digest']}). Device: {metrics['device']} ({hw['cpu']}, torch "
        f"{hw['torch']}, {hw['torch_threads']} thread(s)). Speed is the forward pass on "
        f"pre-tokenised batches of {cfg['batch_size']} sentences (tokenisation not timed); "
        "fidelity is measured on the held-out sentences only.", "",
        "## Result", "", *verdict(metrics), "",
        f"Headline configuration: {head['n_blocks']} block(s) {head['blocks']}, PCA "
        f"{head['k_in']} in, {head['k_out']} out, measured side by side in one run:", "",
        *side_by_side(metrics), "",
        "## Beside the published figures", "",
        "The model, the quality metric and the hardware all differ: the published figures are "
        "for a 1.5B-parameter decoder measured by perplexity on unstated hardware; these are "
        "for a 22M-parameter sentence encoder measured by embedding similarity on the device "
        "named above. The rows are set side by side for orientation, not as a comparison.", "",
        *published_table(metrics), "",
        "## Trade-off curve", "",
        "Blocks are added in the order "
        f"{metrics['order']}" + (" (ranked by the harm of replacing each alone, on fitting "
                                 "sentences)" if metrics.get("ranking") else " (as given)") +
        ".", "", "![trade-off](tradeoff.png)", "", *curve_table(metrics), "",
        "## Equations of the headline hybrid", "", *equations_section(metrics),
    ]
    return "\n".join(lines) + "\n"


def write_report(run: Any, metrics: dict[str, Any]) -> None:
    """Draw ``tradeoff.png`` and write ``report.md`` into the run folder (atomically)."""
    from physdistill.transformer.plot import tradeoff

    cfg = metrics["config"]
    tradeoff(metrics["curve"], run.file("tradeoff.png"), target_cosine=cfg["target_cosine"],
             target_speedup=cfg["target_speedup"],
             title=f"{metrics['model']}: MLP blocks replaced by symbolic surrogates "
                   f"({metrics['device']})")
    run.write_text("report.md", report_markdown(metrics))


def rerender(run: Any) -> dict[str, Any]:
    """Redraw ``tradeoff.png`` and rewrite ``report.md`` of a finished transformer run from its
    ``metrics.json`` (for ``physdistill report RUN``)."""
    run.require("study", fix="run `physdistill transformer` again with --force")
    run.check_stages()
    metrics = run.read_json("metrics.json")
    write_report(run, metrics)
    return metrics
