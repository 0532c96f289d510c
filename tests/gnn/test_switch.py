"""use_equations puts the equations in the layer's place (differentiably) and use_network
puts the network back."""

from __future__ import annotations

import copy

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.gnn import SymbolicMessage, column, distill_messages, use_equations, use_network
from tests.gnn.conftest import SMALL_SR, complete_graphs
from tests.gnn.test_distill import TwoLayer


def test_switch_and_back(spring_run, spring_graphs):
    layer, result, _ = spring_run
    layer = copy.deepcopy(layer)
    g = spring_graphs[2]
    x = g.x.clone().requires_grad_()
    want = layer(x, g.edge_index, g.edge_attr)
    (grad_want,) = torch.autograd.grad(want.square().sum(), x)

    module = use_equations(layer, result)
    assert isinstance(module, SymbolicMessage) and layer.symbolic_message is module
    got = layer(x, g.edge_index, g.edge_attr)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    (grad_got,) = torch.autograd.grad(got.square().sum(), x)  # differentiable in the inputs
    torch.testing.assert_close(grad_got, grad_want, atol=1e-4, rtol=1e-4)
    got64 = layer(g.x.double(), g.edge_index, g.edge_attr.double())
    assert got64.dtype == torch.float64

    use_network(layer)
    assert "message" not in vars(layer) and "symbolic_message" not in layer._modules
    assert torch.equal(layer(g.x, g.edge_index, g.edge_attr), want.detach())
    with pytest.raises(PhysDistillError, match="not using equations"):
        use_network(layer)


def test_trainable_constants_are_the_layers_parameters(spring_run, spring_graphs):
    layer, result, _ = spring_run
    layer = copy.deepcopy(layer)
    assert not list(layer.parameters())
    use_equations(layer, result, trainable=True)
    params = list(layer.parameters())
    assert params
    g = spring_graphs[0]
    layer(g.x, g.edge_index, g.edge_attr).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    use_network(layer)
    assert not list(layer.parameters())


def test_channels_not_kept_take_their_mean_or_the_network():
    graphs = complete_graphs([4, 5] * 4, edge_dim=2)
    model = TwoLayer()
    feats = {"a0": column("x_j", 0), "e0": column("edge_attr", 0)}
    result = distill_messages(model, graphs, feats, k=1, rank=lambda m: [1.0, 0.0],
                              structure="none", config=SMALL_SR)
    g = graphs[0]
    conv = model.conv
    neural = conv.message(g.x[g.edge_index[0]], g.edge_attr)
    use_equations(conv, result)
    out = conv.message(x_j=g.x[g.edge_index[0]], edge_attr=g.edge_attr)
    torch.testing.assert_close(out[:, 0], neural[:, 0])
    assert torch.allclose(out[:, 1], torch.full_like(out[:, 1], result.means[1]))
    use_equations(conv, result, rest="network")  # switching again replaces the first
    out = conv.message(x_j=g.x[g.edge_index[0]], edge_attr=g.edge_attr)
    torch.testing.assert_close(out, neural)
    model(g)  # the whole model runs on the switched layer
    with pytest.raises(PhysDistillError, match="rest must be one of"):
        use_equations(conv, result, rest="zero")
    use_network(conv)


def test_pyg_graphconv_with_edge_weight_distilled_and_switched():
    # GraphConv's message is edge_weight * x_j (a 1-D argument); its linear maps act after
    from torch_geometric.nn import GraphConv

    graphs = complete_graphs([3, 6, 4] * 4, features=2)
    for g in graphs:
        g.edge_weight = g.edge_attr[:, 0]
    torch.manual_seed(0)
    conv = GraphConv(2, 3)
    feats = {"w": column("edge_weight", 0), "a0": column("x_j", 0), "a1": column("x_j", 1)}
    result = distill_messages(conv, graphs, feats, structure="none", config=SMALL_SR,
                              forward=lambda m, b: m(b.x, b.edge_index, b.edge_weight))
    assert result.arguments == ["x_j", "edge_weight"]
    assert {c: str(e.sympy()) for c, e in result.equations.items()} == {0: "a0*w", 1: "a1*w"}
    g = graphs[1]
    with torch.no_grad():
        want = conv(g.x, g.edge_index, g.edge_weight)
        use_equations(conv, result)
        got = conv(g.x, g.edge_index, g.edge_weight)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    use_network(conv)
