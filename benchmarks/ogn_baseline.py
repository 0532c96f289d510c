"""The reference recipe: a plain PyG re-implementation of Cranmer et al.'s (2020) OGN training.

This is the yardstick that :mod:`benchmarks.gnn_speed` measures our trainer against. It is
written the way the reference (and most PyG code) does it, with no speed tricks:

- every state is a ``torch_geometric.data.Data`` graph (fully connected, directed);
- a ``torch_geometric.loader.DataLoader`` shuffles them and collates each batch into a
  ``Batch`` (on the host; the batch is then moved to the device);
- the model is a ``MessagePassing`` layer with ``aggr="add"``: the edge MLP runs on
  ``cat[x_i, x_j]`` gathered per edge, PyG's default scatter sums the messages, and the node MLP
  runs on ``cat[x, sum]`` (3 x 300 ReLU layers each, as in the reference);
- one random translation ``N(0, 3^2)`` of all positions per batch, the loss is the per-graph sum
  of absolute errors averaged over the graphs, and Adam (lr 1e-3, weight decay 1e-8) with a
  OneCycle schedule (``final_div_factor=1e5``) steps every batch; the loss is read back every
  step (``loss.item()``), as the reference's loop does to sum it up.

It imports nothing from :mod:`physdistill`, so it stays an independent reference.

    python benchmarks/ogn_baseline.py --graphs 2048 --batch 64 --steps 20
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import MessagePassing


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class BaselineOGN(MessagePassing):
    """The reference OGN: ``msg_fnc`` on ``cat[x_i, x_j]``, sum, ``node_fnc`` on ``cat[x, sum]``.

    Shapes: x ``[N, n_f]``, edge_index ``[2, E]`` -> ``[N, ndim]``.
    """

    def __init__(self, n_f: int = 6, msg_dim: int = 100, ndim: int = 2, hidden: int = 300):
        super().__init__(aggr="add")
        self.msg_fnc = _mlp(2 * n_f, msg_dim, hidden)
        self.node_fnc = _mlp(msg_dim + n_f, ndim, hidden)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.propagate(edge_index, size=(x.size(0), x.size(0)), x=x)

    def message(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        return self.msg_fnc(torch.cat([x_i, x_j], dim=1))

    def update(self, aggr_out: Tensor, x: Tensor) -> Tensor:
        return self.node_fnc(torch.cat([x, aggr_out], dim=1))


def complete_graph(n: int) -> Tensor:
    """``edge_index`` of the complete directed graph on ``n`` nodes (row 0 source)."""
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="xy")
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


def make_graphs(x: Tensor, y: Tensor) -> list[Data]:
    """One ``Data`` per state: ``x [G, n, F]``, ``y [G, n, ndim]``."""
    ei = complete_graph(x.shape[1])
    return [Data(x=xi, y=yi, edge_index=ei) for xi, yi in zip(x, y, strict=True)]


class BaselineTrainer:
    """The reference training loop (see the module docstring).

    Args:
        model: a :class:`BaselineOGN`.
        graphs: the training ``Data`` list.
        batch: graphs per step. total_steps: length of the OneCycle schedule.
    """

    def __init__(self, model: BaselineOGN, graphs: list[Data], *, batch: int = 64,
                 total_steps: int = 1000, lr: float = 1e-3,
                 device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.ndim = graphs[0].y.shape[1]
        self.loader = DataLoader(graphs, batch_size=batch, shuffle=True, drop_last=True,
                                 generator=torch.Generator().manual_seed(seed))
        self.opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-8)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=lr,
                                                         total_steps=total_steps,
                                                         final_div_factor=1e5)
        self._it = iter(self.loader)

    def _next(self):
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
            return next(self._it)

    def step(self) -> float:
        """One training step on the next batch; returns the loss (a host sync, as usual)."""
        g = self._next().to(self.device)
        x = g.x.clone()
        x[:, :self.ndim] += torch.randn(1, self.ndim, device=self.device) * 3.0
        pred = self.model(x, g.edge_index)
        loss = (pred - g.y).abs().sum() / g.num_graphs
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        return loss.item()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--graphs", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    x, y = torch.randn(args.graphs, 4, 6), torch.randn(args.graphs, 4, 2)
    trainer = BaselineTrainer(BaselineOGN(), make_graphs(x, y), batch=args.batch,
                              total_steps=args.steps + 1, device=args.device)
    trainer.step()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = trainer.step()
    seconds = time.perf_counter() - start
    print(f"{args.steps * args.batch / seconds:.0f} graphs/s (last loss {loss:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
