"""use_equations on a CUDA layer: the equations run there, differentiably (skipped without a
GPU). The equations are written by hand, so no search engine is needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physdistill.gnn import FeatureSet, MessageDistillation, column, displacement
from physdistill.gnn import use_equations, use_network
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.front import build_front
from tests.gnn.conftest import SPRING_LAW, Spring, complete_graphs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _known_result() -> MessageDistillation:
    feats = FeatureSet({**displacement(2), "k": column("edge_attr", 0)})
    names = feats.names
    fronts = {c: build_front([(Expression(law, names), 0.0)], 1.0, "best")
              for c, law in enumerate(SPRING_LAW)}
    return MessageDistillation(
        layer_type="Spring", channels=[0, 1], scores=[1.0, 1.0], rank_by="std", width=2,
        feature_names=names, derived=feats.derived, fronts=fronts, structure={}, n_seen=0,
        n_kept=0, means=[0.0, 0.0], arguments=["x_i", "x_j", "edge_attr"],
        messages=np.zeros((0, 2)), values={}, inputs={}, features=feats)


def test_equations_run_on_the_layers_gpu():
    g = complete_graphs([6])[0].to("cuda")
    layer = Spring().to("cuda")
    x = g.x.clone().requires_grad_()
    want = layer(x, g.edge_index, g.edge_attr)
    (grad_want,) = torch.autograd.grad(want.square().sum(), x)
    module = use_equations(layer, _known_result(), trainable=True)
    got = layer(x, g.edge_index, g.edge_attr)
    assert got.device.type == "cuda" and got.dtype == want.dtype
    assert all(p.device.type == "cuda" for p in module.parameters())
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    (grad_got,) = torch.autograd.grad(got.square().sum(), x)
    torch.testing.assert_close(grad_got, grad_want, atol=1e-4, rtol=1e-4)
    layer.cpu()  # the equations follow the layer
    cpu = layer(g.x.cpu(), g.edge_index.cpu(), g.edge_attr.cpu())
    torch.testing.assert_close(cpu, want.detach().cpu(), atol=1e-5, rtol=1e-5)
    use_network(layer)
