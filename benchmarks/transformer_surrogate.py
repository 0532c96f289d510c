"""Symbolic surrogates for all-MiniLM-L6-v2's MLP blocks: speed and fidelity side by side.

    python benchmarks/transformer_surrogate.py                         # the default study
    python benchmarks/transformer_surrogate.py --sizes 32x8 --max-blocks 1 --sr-time 2
    OMP_NUM_THREADS=1 python benchmarks/transformer_surrogate.py --threads 1 --rounds 5

Runs ``physdistill transformer`` (same options, :mod:`physdistill.transformer.cli`) into
``--out`` (default ``runs/transformer-bench``) and prints the figures of its report: the
side-by-side table (original, hybrid, both controls) of the headline configuration, the
trade-off curve, and the table beside the published Qwen2.5-1.5B figures. Needs the optional
extra ``pip install 'physdistill[transformer]'``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physdistill.transformer.cli import config_from_args, register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transformer_surrogate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["transformer", *(sys.argv[1:] if argv is None else argv)])
    if args.out == "runs/transformer":
        args.out = "runs/transformer-bench"
    from physdistill.transformer.pipeline import run_transformer
    from physdistill.transformer.report import curve_table, published_table, side_by_side

    start = time.perf_counter()
    metrics = run_transformer(args.out, config_from_args(args), force=args.force,
                              cache=args.cache)
    head = metrics["headline"]
    print(f"\nmodel {metrics['model']}, device {metrics['device']}, hardware "
          f"{metrics['hardware']}; corpus: {metrics['corpus']['name']} "
          f"({metrics['corpus']['n_fit']} fitting, {metrics['corpus']['n_eval']} held-out)")
    print(f"\nheadline: {head['n_blocks']} block(s) {head['blocks']}, PCA {head['k_in']} in, "
          f"{head['k_out']} out; target met: {head['meets_target']}\n")
    print("\n".join(side_by_side(metrics)))
    print("\ntrade-off curve:\n")
    print("\n".join(curve_table(metrics)))
    print("\nbeside the published figures (model, metric and hardware differ):\n")
    print("\n".join(published_table(metrics)))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; report: {Path(args.out) / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
