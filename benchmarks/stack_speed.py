"""Training throughput of stacked OGNs against one OGN trained alone, side by side in one run.

Prints, for each regulariser and stack size, the aggregate graphs per second of one stack
(:class:`~physdistill.nbody.stack.StackTrainer`) and of one model trained alone
(:class:`~physdistill.nbody.train.Trainer`) on the same device, and their ratio. The data are
random graphs of the published shape (n = 4, 2-D, 6 node features); throughput does not depend
on their values. Each figure is the median over the timed epochs (the first, which captures the
CUDA graph, is left out).

    python benchmarks/stack_speed.py --device cuda --sizes 1 12 20 --regs bottleneck l1 kl
    python benchmarks/stack_speed.py --device cpu --hidden 128 --steps 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from physdistill.nbody.model import OGN, OGNConfig
from physdistill.nbody.stack import Member, StackTrainer
from physdistill.nbody.train import TrainConfig, Trainer


def _data(G: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(G, 4, 6, generator=g), torch.randn(G, 4, 2, generator=g)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--regs", nargs="+", default=["bottleneck", "l1", "kl"])
    p.add_argument("--sizes", nargs="+", type=int, default=[12])
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=500, help="steps per timed epoch")
    p.add_argument("--epochs", type=int, default=3, help="epochs (the first is not timed)")
    p.add_argument("--tf32", action="store_true")
    a = p.parse_args(argv)
    cfg = TrainConfig(epochs=a.epochs, batch=a.batch, steps_per_epoch=a.steps, device=a.device,
                      tf32=a.tf32, val_graphs=None)
    G = a.batch * a.steps
    print(f"device {a.device}, hidden {a.hidden}, batch {a.batch}, {a.steps} steps/epoch, "
          f"tf32 {a.tf32}")
    print(f"{'regulariser':<11} {'models':>6} {'stack graphs/s':>15} {'alone graphs/s':>15} "
          f"{'ratio':>6}")
    for reg in a.regs:
        ocfg = OGNConfig(variant=reg, hidden=a.hidden)
        alone = Trainer(cfg, progress=False).fit(OGN(ocfg), _data(G, 0))
        lone = statistics.median(alone.history_["graphs_per_s"][1:])
        for size in a.sizes:
            members = [Member(f"{reg}-{k}", OGN(ocfg), _data(G, k), None, k)
                       for k in range(size)]
            st = StackTrainer(replace(cfg), progress=False).fit(members)
            agg = statistics.median(st.stack_graphs_per_s_[1:])
            print(f"{reg:<11} {size:>6} {agg:>15,.0f} {lone:>15,.0f} {agg / lone:>6.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
