"""Plots and ``report.md`` of a ``physdistill pde`` run (plots through :mod:`physdistill.plots`).

PINN runs: ``solution.png`` (network / reference), ``errors.png`` (network - reference),
``pde_residual.png`` (residual of the network under the PDE, with its x and t profiles),
``loss.png``, ``coefficients.png`` (inverse: learned coefficients against the step, truth
dashed). Discovery runs: ``solution.png`` (data / network), ``pde_fit.png`` (the network's
:math:`u_t` against the true and the discovered right-hand sides), ``pde_residual.png``
(network residual under the true and the discovered PDE), ``fit_loss.png``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physdistill import plots


def pinn_plots(run: Any, model: Any, problem: Any, result: Any, X: np.ndarray, T: np.ndarray,
               ref: np.ndarray | None) -> list[str]:
    """Write the PINN run's PNGs; returns their names."""
    import torch

    from physdistill.pde.model import residual
    from physdistill.pde.train import predict

    out = []
    x, t = X[:, 0], T[0]
    pred = predict(model, X, T)
    maps = {"network": pred.T}
    if ref is not None:
        maps["reference"] = ref.T
    plots.heat_maps(x, t, maps, run.file("solution.png"), title=str(problem.equation))
    out.append("solution.png")
    if ref is not None:
        plots.heat_maps(x, t, {"network - reference": (pred - ref).T}, run.file("errors.png"),
                        difference=True)
        out.append("errors.png")
    Xs, Ts = problem.grid(128, 81)
    p = next(model.parameters())
    xt = torch.as_tensor(np.stack([Xs.ravel(), Ts.ravel()], 1), dtype=p.dtype)
    r = residual(model, xt).detach().double().numpy().reshape(Xs.shape)
    plots.field_residuals(Xs[:, 0], Ts[0], {"u_t - F (network)": r.T},
                          run.file("pde_residual.png"), title=f"PDE residual: {problem.equation}")
    out.append("pde_residual.png")
    h = result.history
    plots.curves_vs_step(h["step"], {k: h[k] for k in h if k not in ("step",)},
                         run.file("loss.png"), title="PINN training")
    out.append("loss.png")
    if problem.learn and result.coefficients.get("step"):
        c = result.coefficients
        for name in problem.learn:
            plots.curves_vs_step(c["step"], {name: c[name]}, run.file(f"coefficient_{name}.png"),
                                 title=f"learned {name}", ylabel=name, logy=False,
                                 truth=problem.values.get(name))
            out.append(f"coefficient_{name}.png")
    return out


def discovery_plots(run: Any, res: Any, data: Any, clean: Any, pred: np.ndarray | None,
                    truth: dict[str, float] | None) -> list[str]:
    """Write the discovery run's PNGs; returns their names."""
    from physdistill.pde.discover import network_fields

    out = []
    if data.grid is not None and pred is not None:
        x, t, U = data.grid
        plots.heat_maps(x, t, {"data": U.T, "network": pred.T}, run.file("solution.png"),
                        title=data.source)
        plots.heat_maps(x, t, {"network - clean data": (pred - clean.grid[2]).T},
                        run.file("errors.png"), difference=True)
        out += ["solution.png", "errors.png"]
    names = sorted(set(res.fit.terms) | set(truth or {}))
    order = max([1, *(n.count("x") for n in names)])
    f = network_fields(res.model, data, 4000, min(order, 4), 0.05, 7)
    cols = {n: _column(n, f) for n in names}
    found = sum((c * cols[n] for n, c in res.fit.terms.items()), np.zeros_like(f["u"]))
    panels = [{"x": found, "y": f["u_t"], "title": f"discovered: {res.fit.text(4)}",
               "xlabel": "discovered F", "ylabel": "network u_t"}]
    if truth:
        true = sum((c * cols[n] for n, c in truth.items()), np.zeros_like(f["u"]))
        panels.insert(0, {"x": true, "y": f["u_t"], "title": "true PDE",
                          "xlabel": "true F", "ylabel": "network u_t"})
    plots.identity_scatter(panels, run.file("pde_fit.png"),
                           title="network u_t against the right-hand sides")
    out.append("pde_fit.png")
    h = res.history
    if h.get("fit_step"):
        plots.curves_vs_step(h["fit_step"], {"train": h["fit_train"], "validation": h["fit_val"]},
                             run.file("fit_loss.png"), title="data fit (standardised MSE)")
        out.append("fit_loss.png")
    return out


def _column(name: str, fields: dict[str, np.ndarray]) -> np.ndarray:
    """A library term such as ``"u^2*u_xx"`` evaluated on the fields."""
    out = np.ones_like(fields["u"])
    if name == "1":
        return out
    for part in name.split("*"):
        base, _, power = part.partition("^")
        out = out * fields[base] ** (int(power) if power else 1)
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_report(run: Any, m: dict[str, Any]) -> None:
    """``report.md``: summary table, equations and the plots."""
    lines = [f"# physdistill pde: {m['mode']} run", ""]
    if "pde" in m:
        lines += [f"PDE: `{m['pde']}`", ""]
    rows: list[tuple[str, str]] = []
    if m["mode"] != "discover":
        rows.append(("network rel. L2 vs reference", _fmt(m.get("rel_l2"))))
        for c, v in (m.get("coefficients") or {}).items():
            rows.append((f"learned {c}", (f"{_fmt(v['learned'])} (true {_fmt(v['true'])}, rel. "
                                         f"error {_fmt(v['rel_error'])})")))
        rows.append(("training seconds", _fmt(m.get("train_seconds"))))
    else:
        d = m["discovery"]
        rows += [("data", (f"{m['data']['source']} ({m['data']['samples']} samples, noise "
                          f"{m['data']['noise']:g})")),
                 ("discovered (PINN)", f"`{d['expression'] or d['candidate'] + ' (not identifiable)'}`"),
                 ("before physics refinement", f"`{d['before_refinement']}`"),
                 ("coefficient std (bootstrap)", ", ".join(f"{k}: {v:.2g}"
                                                           for k, v in d["std"].items()))]
        if d.get("truth"):
            rows.append(("support correct", str(d["truth"]["support_correct"])))
            rows.append(("max coefficient rel. error", _fmt(d["truth"]["max_rel_error"])))
        if "pdefind" in m:
            pf = m["pdefind"]
            rows.append(("PDE-FIND (finite differences)", f"`{pf['expression']}`"))
            if pf.get("truth"):
                rows.append(("PDE-FIND support correct", str(pf["truth"]["support_correct"])))
        if m.get("network_rel_l2_vs_clean") is not None:
            rows.append(("network rel. L2 vs clean data", _fmt(m["network_rel_l2_vs_clean"])))
        for w in d.get("warnings", []):
            rows.append(("warning", w))
    rows.append(("stage seconds", ", ".join(f"{k} {v:.1f}" for k, v in m["timings"].items())))
    lines += ["| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
    lines += [""] + [f"![{p}]({p})" for p in m.get("plots", [])]
    run.write_text("report.md", "\n".join(lines) + "\n")
