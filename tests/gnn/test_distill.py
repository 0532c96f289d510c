"""Layers the project did not write are distilled to their known messages."""

from __future__ import annotations

import json

import numpy as np
import torch
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GINEConv

from physdistill.gnn import Reference, column, displacement, distill_messages
from physdistill.symbolic import compare
from tests.gnn.conftest import SMALL_SR, SPRING_LAW, Spring, complete_graphs


def test_spring_layer_with_edge_attr_is_distilled_to_its_law(spring_run, spring_graphs):
    layer, result, _ = spring_run
    assert result.structure["path"] == "central"
    assert result.structure["centrality"] > 0.999
    assert sorted(result.channels) == [0, 1]
    sizes = {int(g.num_nodes) for g in spring_graphs}
    assert len(sizes) > 3  # graphs of varying size
    assert result.n_seen == sum(int(g.num_edges) for g in spring_graphs)
    assert result.recovered
    for c, eq in result.equations.items():
        # the message's own component, with its free coefficients: an independent check
        cmp = compare(eq, f"a*({SPRING_LAW[c]}) + b", result.values,
                      derived={"r": "sqrt(dx**2 + dy**2)"})
        assert cmp.recovered, (c, eq, cmp.symbolic_detail)
        assert result.fits[c].r2 > 1 - 1e-9
    assert all(v > 1 - 1e-9 for v in result.r2().values())


class TwoLayer(torch.nn.Module):
    """A user model around PyG's GINEConv, called as ``model(data)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = GINEConv(torch.nn.Identity(), train_eps=False)
        self.head = torch.nn.Linear(2, 1)

    def forward(self, data):
        return self.head(self.conv(data.x, data.edge_index, data.edge_attr))


def test_pyg_gineconv_is_distilled_to_its_message():
    # GINEConv's message is relu(x_j + edge_attr): x_j + edge_attr on positive inputs
    graphs = complete_graphs([3, 4, 6, 5] * 6, edge_dim=2)
    model = TwoLayer()
    feats = {"a0": column("x_j", 0), "a1": column("x_j", 1), "e0": column("edge_attr", 0),
             "e1": column("edge_attr", 1)}
    result = distill_messages(model, DataLoader(graphs, batch_size=5), feats, structure="none",
                              reference=Reference(("a0 + e0", "a1 + e1")), config=SMALL_SR)
    assert result.layer_type == "GINEConv" and result.arguments == ["x_j", "edge_attr"]
    assert result.structure["path"] == "unstructured"
    assert result.recovered, result.table()
    env = result.values
    for c in result.channels:
        want = env[f"a{c}"] + env[f"e{c}"]
        np.testing.assert_allclose(result.equations[c].evaluate(env), want, atol=1e-6)


def test_rank_by_a_user_key_keeps_its_channel():
    graphs = complete_graphs([4, 5] * 4, edge_dim=2)
    feats = {"a1": column("x_j", 1), "e1": column("edge_attr", 1)}

    def second(messages):
        return np.array([0.0, 1.0])

    result = distill_messages(TwoLayer(), graphs, feats, k=1, rank=second, structure="none",
                              config=SMALL_SR)
    assert result.channels == [1] and result.rank_by == "second"
    assert str(result.equations[1].sympy()) == "a1 + e1"


def test_run_folder_holds_the_report(spring_run):
    _, result, out = spring_run
    for name in ("distill.json", "equations.json", "messages.safetensors", "report.md",
                 "index.html", "equations_vs_messages.png", "messages_vs_reference.png",
                 "pareto_channel0.png", "pareto_channel1.png", "run.json"):
        assert (out / name).is_file(), name
    d = json.loads((out / "distill.json").read_text())
    assert d["recovered"] is True and d["structure"]["path"] == "central"
    assert [c["index"] for c in d["channels"]] == result.channels
    assert "Recovered: yes" in (out / "index.html").read_text()
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "gnn" and "distill" in run["stages"]


def test_report_command_redraws_the_run(spring_run, capsys):
    from physdistill.cli import main

    _, _, out = spring_run
    for name in ("index.html", "report.md", "equations_vs_messages.png"):
        (out / name).unlink()
    assert main(["report", str(out)]) == 0
    for name in ("index.html", "report.md", "equations_vs_messages.png",
                 "messages_vs_reference.png"):
        assert (out / name).is_file(), name
    assert "wrote" in capsys.readouterr().out


class Rotated(Spring):
    """``d + t (-dy, dx)`` with ``t = 5 - 4 k`` across the edge, of either sign (not
    central)."""

    def message(self, x_i, x_j, edge_attr):
        d = x_i[:, :2] - x_j[:, :2]
        t = 5 - 4 * edge_attr[:, 0]
        return torch.stack([d[:, 0] - t * d[:, 1], d[:, 1] + t * d[:, 0]], dim=1)


def test_messages_that_are_not_central_are_searched_channel_by_channel():
    graphs = complete_graphs([3, 5, 4] * 4)
    result = distill_messages(Rotated(), graphs, {**displacement(2), "k": column("edge_attr", 0)},
                              config=SMALL_SR)
    assert result.structure["path"] == "unstructured"
    assert result.structure["centrality"] < 0.95 and "not central" in result.structure["reason"]
    env = result.values
    np.testing.assert_allclose(result.equations[0].evaluate(env), env["dx"] - (5 - 4 * env["k"]) * env["dy"],
                               atol=1e-6)
    np.testing.assert_allclose(result.equations[1].evaluate(env), env["dy"] + (5 - 4 * env["k"]) * env["dx"],
                               atol=1e-6)
    assert set(result.inputs) == {"x_i", "x_j", "edge_attr"}
