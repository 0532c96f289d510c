"""Bad input gives one clear PhysDistillError, before the model runs where it can."""

from __future__ import annotations

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.gnn import column, displacement, distill_messages, use_equations
from tests.gnn.conftest import SMALL_SR, Spring, complete_graphs

FEATS = {**displacement(2), "k": column("edge_attr", 0)}


class NaNSpring(Spring):
    def message(self, x_i, x_j, edge_attr):
        out = super().message(x_i, x_j, edge_attr)
        out[::7, 1] = float("nan")
        return out


@pytest.fixture(scope="module")
def graphs():
    return complete_graphs([3, 4] * 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"directions": ("dx", "dz")}, r"directions \['dx', 'dz'\] must name features; unknown: "
                                   r"\['dz'\]"),
    ({"reference": "k*(r - 1)*dx/s"}, r"uses \['s'\], which are not features"),
    ({"features": {"u": column("x_i", 0)}}, "structure='central' needs the displacement"),
    ({"features": {**FEATS, "2x": column("x_i", 0)}}, "feature name '2x' is not usable"),
    ({"features": {"r": "sqrt(dx**2)"}}, "comes first"),
    ({"features": {"k": 3.0}}, "feature 'k' is a float"),
    ({"k": 0}, "k must be a positive integer"),
    ({"rank": "variance"}, "rank must be one of"),
    ({"structure": "radial"}, "structure must be one of"),
])
def test_bad_arguments_are_refused_before_the_model_runs(graphs, kwargs, match):
    calls = []
    layer = Spring()
    layer.register_message_forward_hook(lambda *a: calls.append(1))
    args = {"features": FEATS, "config": SMALL_SR, **kwargs}
    with pytest.raises(PhysDistillError, match=match):
        distill_messages(layer, graphs, args.pop("features"), **args)
    assert not calls


@pytest.mark.parametrize("features, match", [
    ({"d": lambda x_i, x_j: x_i[:, :2] - x_j[:, :2]}, r"feature 'd' returned shape \(\d+, 2\); "
                                                       r"expected \(\d+,\)"),
    ({"p": lambda pos_i: pos_i[:, 0]}, r"feature 'p' asks for \['pos_i'\], but the layer's "
                                       r"message\(\) receives \['x_i', 'x_j', 'edge_attr'\]"),
    ({"q": column("x_i", 5)}, "x_i has 2 columns; column 5 does not exist"),
    ({"dx": column("x_i", 0), "lr": "log(dx - 1)"}, "feature 'lr' is NaN or infinite"),
])
def test_bad_features_name_the_feature(graphs, features, match):
    with pytest.raises(PhysDistillError, match=match):
        distill_messages(Spring(), graphs, features, structure="none", config=SMALL_SR)


def test_nan_messages_and_bad_data(graphs):
    with pytest.raises(PhysDistillError, match=r"messages are NaN or infinite on \d+ of \d+ "
                                               r"recorded edges \(channels \[1\]\)"):
        distill_messages(NaNSpring(), graphs, FEATS, config=SMALL_SR)
    with pytest.raises(PhysDistillError, match=r"data\[0\] is a Tensor; expected"):
        distill_messages(Spring(), [torch.zeros(3, 2)], FEATS, config=SMALL_SR)
    with pytest.raises(PhysDistillError, match="k=3 channels asked for"):
        distill_messages(Spring(), graphs, FEATS, k=3, config=SMALL_SR)
    with pytest.raises(PhysDistillError, match="is not a submodule"):
        distill_messages(Spring(), graphs, FEATS, layer=Spring(), config=SMALL_SR)


def test_occupied_run_folder_is_refused_first(graphs, tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(PhysDistillError, match="already exists"):
        distill_messages(Spring(), graphs, FEATS, config=SMALL_SR, out=tmp_path)


def test_use_equations_checks_its_arguments(spring_run):
    layer, result, _ = spring_run
    with pytest.raises(PhysDistillError, match="distilled from a Spring"):
        use_equations(NaNSpring(), result)
    with pytest.raises(PhysDistillError, match="must be what distill_messages returned"):
        use_equations(layer, {"channels": [0]})
    with pytest.raises(PhysDistillError, match="channel"):
        use_equations(layer, result, complexity=999)
    assert "message" not in vars(layer)


def test_fused_sparse_path_is_named(graphs):
    # GINConv given a sparse adjacency runs message_and_aggregate: message() never runs
    from torch_geometric.nn import GINConv

    conv = GINConv(torch.nn.Identity())

    def sparse_forward(m, b):
        adj = torch.sparse_coo_tensor(b.edge_index.flip(0), torch.ones(b.num_edges),
                                      (b.num_nodes, b.num_nodes)).to_sparse_csr()
        return m(b.x, adj)

    with pytest.raises(PhysDistillError, match="message_and_aggregate"):
        distill_messages(conv, graphs, {"a": column("x_j", 0)}, structure="none",
                         forward=sparse_forward, config=SMALL_SR)
