"""The message extractor on a user-defined MessagePassing layer and on the OGN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn import MessagePassing

from physdistill.errors import PhysDistillError
from physdistill.messages import MessageRecorder, find_message_layer, record_messages


class Diff(MessagePassing):
    """A user layer: message = [x_j - x_i, c, 10 * edge_attr]."""

    def __init__(self) -> None:
        super().__init__(aggr="add")
        self.c = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x, edge_index, edge_attr):
        return self.propagate(edge_index, x=x, edge_attr=edge_attr)

    def message(self, x_i, x_j, edge_attr):
        return torch.cat([x_j - x_i, torch.zeros_like(x_i[:, :1]) + self.c, 10 * edge_attr], 1)


class Wrapper(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = torch.nn.Identity()
        self.gn = Diff()

    def forward(self, x, edge_index, edge_attr):
        return self.gn(self.pre(x), edge_index, edge_attr)


def _graph(N=6, E=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 2, generator=g)
    ei = torch.randint(0, N, (2, E), generator=g)
    ea = torch.randn(E, 1, generator=g)
    return x, ei, ea


def test_user_layer_messages_match_inputs_exactly():
    model = Wrapper()
    x, ei, ea = _graph()
    with MessageRecorder(model) as rec:  # finds the one MessagePassing layer
        model(x, ei, ea)
        model(x * 2, ei, ea)  # a second call is recorded too
    s = rec.sample()
    assert s.n_seen == 40 and len(s) == 40
    assert sorted(s.inputs) == ["edge_attr", "x_i", "x_j"]
    np.testing.assert_allclose(s.messages[:, :2], s.inputs["x_j"] - s.inputs["x_i"], atol=1e-6)
    np.testing.assert_allclose(s.messages[:, 2], 0.5, atol=1e-7)
    np.testing.assert_allclose(s.messages[:, 3], 10 * s.inputs["edge_attr"][:, 0], atol=1e-5)
    # ranking by std: the constant channel comes last, the x10 edge_attr channel first
    r = s.ranked("std")
    assert r.channels[-1] == 2 and r.channels[0] == 3
    top = s.top(2, by="std")
    assert top.messages.shape == (40, 2) and 2 not in top.channels
    assert s.top(4, by="all").channels == [0, 1, 2, 3]


def test_hook_removed_and_reservoir_bounded():
    model = Wrapper()
    x, ei, ea = _graph(N=30, E=500)
    with MessageRecorder(model, max_edges=100, seed=1) as rec:
        model(x, ei, ea)
    model(x, ei, ea)  # outside the block: not recorded
    s = rec.sample()
    assert len(s) == 100 and s.n_seen == 500


def test_errors():
    with pytest.raises(PhysDistillError, match="no torch_geometric MessagePassing"):
        MessageRecorder(torch.nn.Linear(2, 2))
    two = torch.nn.Sequential(Diff(), Diff())
    with pytest.raises(PhysDistillError, match="pass layer="):
        find_message_layer(two)
    rec = MessageRecorder(Wrapper())
    with pytest.raises(PhysDistillError, match="no messages were recorded"):
        rec.sample()
    model = Wrapper()
    x, ei, ea = _graph()
    with MessageRecorder(model) as rec:
        model(x, ei, ea)
    with pytest.raises(PhysDistillError, match="k must be a positive integer"):
        rec.sample().top(0)
    with pytest.raises(PhysDistillError, match="asked for 9 channels"):
        rec.sample().top(9)
    with pytest.raises(PhysDistillError, match="unknown channel ranking"):
        rec.sample().ranked("size")


@pytest.mark.parametrize("variant,rank", [("bottleneck", "all"), ("l1", "std"), ("kl", "kl"),
                                          ("pruning", "std")])
def test_ogn_auto_ranking(variant, rank):
    from physdistill.nbody.dataset import fully_connected
    from physdistill.nbody.model import OGN, OGNConfig

    torch.manual_seed(0)
    model = OGN(OGNConfig(dim=2, variant=variant, hidden=16, msg_dim=8))
    x = torch.randn(10, 4, 6)
    s = record_messages(model, x, fully_connected(4), max_edges=1000)
    assert len(s) == 10 * 12 and s.inputs["x_i"].shape == (120, 6)
    top = s.top(2)
    assert top.rank_by == rank and top.messages.shape == (120, 2)
    if rank != "all":
        assert top.scores[0] >= top.scores[1]
    # the recorded messages are the layer's eval-mode messages of the recorded inputs
    with torch.no_grad():
        raw = model.edge_raw(torch.as_tensor(s.inputs["x_i"], dtype=torch.float32),
                             torch.as_tensor(s.inputs["x_j"], dtype=torch.float32))
        msg = model.regularizer.eval_message(raw)
    np.testing.assert_allclose(s.messages, msg.numpy(), rtol=1e-5, atol=1e-6)
