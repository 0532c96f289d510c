"""repeat_edges batches copies of one graph exactly as PyG's Batch does."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from physdistill.errors import PhysDistillError
from physdistill.graphs import repeat_edges


def test_repeat_edges_matches_pyg_batch():
    ei = torch.tensor([[0, 1, 2, 2], [1, 0, 0, 1]])
    want = Batch.from_data_list([Data(edge_index=ei, num_nodes=3)] * 4).edge_index
    assert torch.equal(repeat_edges(ei, 4, 3), want)
    with pytest.raises(PhysDistillError, match=r"shape \[2, E\], got \(4,\)"):
        repeat_edges(ei[0], 2, 3)
