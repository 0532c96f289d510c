"""The API on the project's own OGN: KL ranking through the layer's regulariser, features read
from the node columns ``[pos, vel, q, m]`` (what the n-body pipeline names dx, dy, r, m1...)."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

from physdistill.gnn import column, displacement, distill_messages
from physdistill.graphs import repeat_edges
from physdistill.nbody.dataset import fully_connected
from physdistill.nbody.model import OGN, OGNConfig
from tests.gnn.conftest import SMALL_SR


def test_ogn_kl_channels_ranked_by_the_regulariser():
    torch.manual_seed(0)
    model = OGN(OGNConfig(dim=2, variant="kl", hidden=16, layers=1))
    n, B = 4, 8
    x = torch.randn(B * n, 6)
    data = [Data(x=x, edge_index=repeat_edges(fully_connected(n), B, n))]
    feats = {**displacement(2), "m1": column("x_i", 5), "m2": column("x_j", 5)}
    result = distill_messages(model, data, feats, k=2, rank="kl", structure="none",
                              config=SMALL_SR.replace(max_evaluations=2_000))
    assert result.rank_by == "kl" and result.width == 100
    with torch.no_grad():
        src, dst = data[0].edge_index
        raw = model.edge_raw(x[dst], x[src])
        scores = model.regularizer.channel_scores(raw).numpy()
    assert result.channels == list(np.argsort(-scores, kind="stable")[:2])


def test_nbody_edge_variables_as_features():
    # the features an n-body adapter names equal the pipeline's edge variables on the same edges
    from physdistill.gnn import FeatureSet
    from physdistill.nbody.forcefit import edge_variables

    dim = 3
    rng = np.random.default_rng(0)
    x_i, x_j = rng.normal(size=(50, 2 * dim + 2)), rng.normal(size=(50, 2 * dim + 2))
    feats = FeatureSet({**displacement(dim), "m1": column("x_i", 2 * dim + 1),
                        "m2": column("x_j", 2 * dim + 1), "q1": column("x_i", 2 * dim),
                        "q2": column("x_j", 2 * dim)})
    got = feats.numpy({"x_i": x_i, "x_j": x_j})
    want = edge_variables(x_i, x_j, dim)
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-15, atol=0)
