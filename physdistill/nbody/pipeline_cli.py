"""``physdistill nbody`` and ``physdistill nbody-table``. Parsers import no torch."""

from __future__ import annotations

import argparse

from physdistill.nbody.cli import LAW_NAMES

REGS = ("bottleneck", "pruning", "l1", "standard", "kl")  # the published table's order


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick",
                   help="laptop recipe, <= 10 min on a 2-core CPU (default)")
    g.add_argument("--full", dest="preset", action="store_const", const="full",
                   help="the published recipe (10k systems, 3x300 MLPs, 30 epochs); for GPUs")
    p.set_defaults(preset="quick")
    p.add_argument("--n", type=int, default=4, help="particles per system (default 4)")
    p.add_argument("--dim", type=int, default=2, choices=(2, 3))
    for name, typ, what in (("sims", int, "simulated systems"),
                            ("epochs", int, "training epochs"),
                            ("hidden", int, "MLP width"), ("batch", int, "graphs per step"),
                            ("lr", float, "peak learning rate"),
                            ("sr-seconds", float, "symbolic-regression seconds per channel"),
                            ("sr-restarts", int, "pooled searches per channel")):
        p.add_argument(f"--{name}", type=typ, help=f"{what} (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+",
                   help="run each cell once per seed (models of one recipe train as one stack)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--tf32", action="store_true",
                   help="TF32 matrix products in training on CUDA (faster; off by default)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nbody", help="recover a force law end to end: simulate, train, distil, compare",
        description="Simulate an n-body law, train a message-passing GNN, distil its messages "
                    "into equations, compare them with the true force, roll out, and write a "
                    "run folder (metrics.json, equations.json, plots, report.md).")
    p.add_argument("law", nargs="?", help=f"built-in law: {', '.join(LAW_NAMES)} "
                                          "(omit with --potential)")
    p.add_argument("--potential", help='user pair potential in r, m1, m2, q1, q2')
    p.add_argument("--reg", default="bottleneck", choices=REGS,
                   help="message regulariser (default bottleneck)")
    _common(p)
    p.add_argument("--data", help="use this dataset folder instead of simulating")
    p.add_argument("--model", help="analyse this trained model folder ('physdistill train' "
                                   "output, e.g. from torchrun) instead of training")
    p.add_argument("--out", help="run folder (default runs/nbody-LAW-REG)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its last finished stage")
    p.set_defaults(func=run_nbody_cmd)

    t = sub.add_parser(
        "nbody-table", help="run the law x regulariser grid and write a Markdown table",
        description="Run `physdistill nbody` for each law and regulariser and write "
                    "OUT/table.md beside the published numbers (SymTorch's reproduction).")
    t.add_argument("--laws", nargs="+", default=["spring", "r1", "r2", "charge"],
                   choices=LAW_NAMES)
    t.add_argument("--regs", nargs="+", default=list(REGS), choices=REGS)
    _common(t)
    t.add_argument("--out", default="runs/nbody-table", help="folder of the grid's runs")
    t.set_defaults(func=run_table_cmd)


def _config(args: argparse.Namespace, **extra):
    from physdistill.nbody.pipeline import NBodyConfig

    return NBodyConfig(preset=args.preset, n=args.n, dim=args.dim, sims=args.sims,
                       epochs=args.epochs, hidden=args.hidden, batch=args.batch, lr=args.lr,
                       sr_seconds=args.sr_seconds, sr_restarts=args.sr_restarts,
                       seed=args.seed, device=args.device, tf32=args.tf32, **extra)


def run_nbody_cmd(args: argparse.Namespace) -> int:
    from physdistill.errors import PhysDistillError
    from physdistill.nbody.pipeline import run_nbody

    if args.law is None and args.potential is None:
        raise PhysDistillError("give a law name (e.g. 'physdistill nbody r2') or --potential")
    if args.law is not None and args.potential is not None:
        raise PhysDistillError(f"give either a law name ({args.law!r}) or --potential, not both")
    if args.law is not None and args.law not in LAW_NAMES:
        from physdistill.nbody.laws import get_law

        get_law(args.law)  # raises the unknown-law error with a suggestion
    cfg = _config(args, law=args.law, potential=args.potential, reg=args.reg, data=args.data,
                  model=args.model)
    if args.seeds:
        return _run_seeds(cfg, args)
    m = run_nbody(cfg, args.out, force=args.force, resume=args.resume,
                  progress=not args.quiet)
    print(summary(m))
    return 0


def _run_seeds(cfg, args: argparse.Namespace) -> int:
    """``physdistill nbody ... --seeds S1 S2 ...``: one run per seed, as a grid of one cell
    (``OUT/LAW-REG-sSEED``), then each run's summary and the recovered channels over seeds."""
    from dataclasses import replace
    from pathlib import Path

    from physdistill.errors import PhysDistillError
    from physdistill.nbody.grid import run_grid
    from physdistill.nbody.pipeline import _law

    if args.model is not None or args.force:
        raise PhysDistillError("--seeds trains one model per seed: it takes no --model or "
                               "--force (finished seeds are kept; remove OUT to start over)")
    out = Path(args.out or f"runs/nbody-{_law(cfg.resolved()).name}-{cfg.reg}-seeds")
    rows = run_grid([replace(cfg, seed=s) for s in args.seeds], out,
                    progress=not args.quiet)
    got = n = 0
    for r in rows:
        m = r["metrics"]
        if "error" in m:
            print(f"\n{r['name']}: error: {m['error']}")
            n += cfg.dim
            continue
        print(summary(m))
        got += sum(bool(c["recovered"]) for c in m["channels"])
        n += len(m["channels"])
    print(f"\nchannels recovered over seeds {' '.join(map(str, args.seeds))}: {got}/{n} "
          f"(runs in {out})")
    return 0


def summary(m: dict) -> str:
    """The closing table of a run."""
    lines = [f"\n{m['law']} / {m['regulariser']}: recovered = {m['recovered']}  "
             f"(val MAE {m['val_loss']:.4g}; messages fitted by the pair {m['target']})",
             f"{'channel':>7}  {'R2 all':>7}  {'R2 robust':>9}  {'OOD rel err':>11}  "
             f"{'match':>5}  equation"]
    for c, r2, r2r in zip(m["channels"], m["message_r2_all"], m["message_r2_robust"]):
        lines.append(f"{c['index']:>7}  {r2:7.4f}  {r2r:9.4f}  {c['ood_rel_error']:11.3g}  "
                     f"{'yes' if c['symbolic_match'] else 'no':>5}  {c['expression']}")
    if m.get("rollout"):
        for split, r in m["rollout"].items():
            lines.append(f"rollout error ({split}): truth {r['truth']:.2e}  gnn {r['gnn']:.3g}  "
                         f"symbolic {r['symbolic']:.3g}")
    t = m["timings"]
    lines.append("seconds: " + "  ".join(f"{k} {v:.0f}" for k, v in t.items())
                 + f"  (total {sum(t.values()):.0f})")
    return "\n".join(lines)


def run_table_cmd(args: argparse.Namespace) -> int:
    from physdistill.nbody.table import run_table

    text = run_table(args.laws, args.regs, args.out, _config(args), seeds=args.seeds,
                     progress=not args.quiet)
    print(text)
    return 0
