"""GNN training speed: our Trainer step vs the plain PyG reference recipe, side by side.

    python benchmarks/gnn_speed.py                               # CPU, batches 64 and 1024
    python benchmarks/gnn_speed.py --device cuda --batches 64 65536

Both train the reference OGN (n = 4 bodies in 2-D, 3 x 300 ReLU MLPs, 100 message channels,
standard variant) on the same random tensors of the dataset's shapes (speed does not depend on the
values): ours is :class:`physdistill.nbody.train.Trainer` (each repeat is a fresh ``fit`` of two
epochs; the second is timed, from its own clock), the baseline is
:class:`ogn_baseline.BaselineTrainer` (``Data`` graphs, ``DataLoader`` collation, generic
gather/scatter, one host sync per step), timed over the same number of steps. Each repeat also
times a 2048 x 2048 fp32 matrix product, and ours, the baseline and the matrix product take turns,
so a busy machine slows all three alike. Printed: medians over the repeats of graphs/s, the
speed-up, the achieved GFLOP/s (nominal FLOPs of
:func:`physdistill.nbody.model.flops_per_graph`, the same for both) and the fraction of the
matrix-product rate.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ogn_baseline import BaselineOGN, BaselineTrainer, make_graphs

from physdistill.nbody.model import OGN, OGNConfig, flops_per_graph
from physdistill.nbody.train import TrainConfig, Trainer

N, DIM = 4, 2


def matmul_gflops(device: torch.device, size: int = 2048, reps: int = 5) -> float:
    """fp32 ``size x size`` matrix product rate (median of ``reps``), GFLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    times = []
    for i in range(reps + 2):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(times) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours(x: torch.Tensor, y: torch.Tensor, batch: int, steps: int, device: str,
         tf32: bool, amp: str = "none") -> float:
    """Graphs/s of the trainer's second epoch of ``steps`` steps."""
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=2, batch=batch, steps_per_epoch=steps, device=device, tf32=tf32,
                      amp=amp)
    trainer = Trainer(cfg, progress=False).fit(OGN(OGNConfig(dim=DIM)), (x, y))
    return trainer.history_["graphs_per_s"][-1]


def baseline(graphs: list, batch: int, steps: int, device: torch.device) -> float:
    """Graphs/s of the reference loop over ``steps`` steps after 2 warm-up steps."""
    torch.manual_seed(0)
    trainer = BaselineTrainer(BaselineOGN(), graphs, batch=batch, total_steps=steps + 3,
                              device=device)
    trainer.step()
    trainer.step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def default_batches(device: torch.device) -> list[int]:
    """Graphs per step measured by default: a small batch and a large one."""
    return [64, 65536] if device.type == "cuda" else [64, 1024]


def default_steps(batch: int, device: torch.device) -> int:
    """Our timed steps per repeat for ``batch`` by default (about 2048 graphs on the CPU)."""
    if device.type == "cuda":
        return 300 if batch <= 1024 else 10
    return max(2, 2048 // batch)


def measure(batch: int, steps: int, repeats: int, device: torch.device, tf32: bool = False,
            mm_size: int = 2048, amp: str = "none") -> dict[str, float]:
    """Medians over ``repeats`` of ours, the baseline (graphs/s) and the matrix product
    (GFLOP/s, ``mm_size`` squared), taking turns in each repeat; ``base_steps``: the
    baseline's timed steps (``steps`` on the CPU, a tenth on CUDA, where it is slow).
    ``amp="bf16"`` runs ours under bf16 autocast (the baseline stays fp32)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch * steps, N, 2 * DIM + 2, generator=g)
    y = torch.randn(batch * steps, N, DIM, generator=g)
    base_steps = max(2, steps // 10) if device.type == "cuda" else steps
    graphs = make_graphs(x[: batch * base_steps], y[: batch * base_steps])
    rates: dict[str, list[float]] = {"ours": [], "base": [], "mm": []}
    for _ in range(repeats):
        rates["ours"].append(ours(x, y, batch, steps, str(device), tf32, amp))
        rates["base"].append(baseline(graphs, batch, base_steps, device))
        rates["mm"].append(matmul_gflops(device, mm_size))
    return {**{k: statistics.median(v) for k, v in rates.items()}, "base_steps": base_steps}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--batches", type=int, nargs="+",
                    help="graphs per step (default: 64 1024 on the CPU, 64 65536 on CUDA)")
    ap.add_argument("--steps", type=int, nargs="+",
                    help="our timed steps per repeat, one per batch size (the baseline runs as "
                         "many on the CPU, a tenth on CUDA; shown as ours/baseline)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--tf32", action="store_true", help="TF32 matrix products (CUDA), all runs")
    ap.add_argument("--amp", default="none", choices=("none", "bf16"),
                    help="bf16 autocast for ours (the baseline stays fp32)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
    cuda = device.type == "cuda"
    batches = args.batches or default_batches(device)
    steps = args.steps or [default_steps(b, device) for b in batches]
    if len(steps) != len(batches):
        ap.error("give one --steps value per batch size")
    flops = flops_per_graph(OGNConfig(dim=DIM), N)
    name = torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu"
    print(f"torch {torch.__version__}, device {device} ({name}), threads "
          f"{torch.get_num_threads()}, tf32 {args.tf32}, amp {args.amp}, repeats {args.repeats}")
    print(f"reference OGN (n={N}, dim={DIM}, 3x300, msg 100): {flops / 1e6:.2f} MFLOP per graph "
          "per training step (nominal)")
    header = (f"{'batch':>6} {'steps':>9} {'ours g/s':>10} {'base g/s':>10} {'speed-up':>8} "
              f"{'ours GF/s':>9} {'base GF/s':>9} {'mm GF/s':>8} {'ours/mm':>7} {'base/mm':>7}")
    print(header)
    for batch, n_steps in zip(batches, steps, strict=True):
        med = measure(batch, n_steps, args.repeats, device, args.tf32, amp=args.amp)
        o, b = med["ours"] * flops / 1e9, med["base"] * flops / 1e9
        steps_text = f"{n_steps}/{med['base_steps']}"
        print(f"{batch:>6} {steps_text:>9} {med['ours']:>10.0f} {med['base']:>10.0f} "
              f"{med['ours'] / med['base']:>7.1f}x {o:>9.1f} {b:>9.1f} {med['mm']:>8.0f} "
              f"{o / med['mm']:>7.0%} {b / med['mm']:>7.0%}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
