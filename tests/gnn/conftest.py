"""Layers the project did not write, graphs of varying size, and one shared distillation."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import MessagePassing

from physdistill.symbolic import SRConfig

#: a search budget that finds these exact laws in seconds
SMALL_SR = SRConfig(population_size=100, max_evaluations=20_000, time_limit_s=20,
                    max_samples=500)
SPRING_LAW = ["k*(r - 1)*dx/r", "k*(r - 1)*dy/r"]


class Spring(MessagePassing):
    """Springs of rest length 1 whose stiffness ``k`` is the edge attribute:
    ``m_ij = k (r - 1) (x_i - x_j) / r``."""

    def __init__(self) -> None:
        super().__init__(aggr="add")

    def forward(self, x, edge_index, edge_attr):
        return self.propagate(edge_index, x=x, edge_attr=edge_attr)

    def message(self, x_i, x_j, edge_attr):
        d = x_i[:, :2] - x_j[:, :2]
        r = d.norm(dim=1, keepdim=True)
        return edge_attr[:, :1] * (r - 1) * d / r


def complete_graphs(sizes, *, features=2, edge_dim=1, seed=0, scale=4.0):
    """Complete directed graphs of the given sizes, random positions and edge attributes."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in sizes:
        x = torch.rand(n, features, generator=g) * scale
        ei = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"))
        ei = ei.reshape(2, -1)
        ei = ei[:, ei[0] != ei[1]]
        ea = 0.5 + 1.5 * torch.rand(ei.shape[1], edge_dim, generator=g)
        out.append(Data(x=x, edge_index=ei, edge_attr=ea))
    return out


@pytest.fixture(scope="session")
def spring_graphs():
    return complete_graphs([3, 5, 8, 4, 6] * 12)


@pytest.fixture(scope="session")
def spring_run(spring_graphs, tmp_path_factory):
    """The spring layer distilled once (central step, reference law, run folder)."""
    from physdistill.gnn import column, displacement, distill_messages

    layer = Spring()
    out = tmp_path_factory.mktemp("gnn") / "spring"
    result = distill_messages(layer, spring_graphs,
                              {**displacement(2), "k": column("edge_attr", 0)},
                              reference=SPRING_LAW, config=SMALL_SR, out=out)
    return layer, result, out
