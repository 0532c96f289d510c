"""The OGN and its message regularisers: shapes, penalties by hand, pruning schedule, KL modes."""

import itertools
import math

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.nbody.dataset import batched_edge_index, fully_connected
from physdistill.nbody.model import OGN, VARIANTS, OGNConfig, flops_per_graph, ogn_loss
from physdistill.nbody.regularizers import KL, REGULARIZERS, Pruning, get_regularizer

B, N_NODES, DIM, F = 3, 4, 2, 6


pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B * N_NODES, F, generator=g)
    return x, batched_edge_index(B, N_NODES)


def _model(variant, **kw):
    torch.manual_seed(0)
    return OGN(OGNConfig(dim=DIM, variant=variant, hidden=16, **kw))


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_shapes_and_message_width(variant):
    model = _model(variant)
    x, ei = _batch()
    out, penalty = model(x, ei, return_penalty=True)
    assert out.shape == (B * N_NODES, DIM)
    assert torch.equal(model(x, ei), out) or variant == "kl"  # KL samples in training mode
    expected_msg = DIM if variant == "bottleneck" else 100
    assert model.msg_dim == expected_msg
    raw = model.edge_raw(x[ei[1]], x[ei[0]])
    assert raw.shape == (ei.shape[1], 2 * expected_msg if variant == "kl" else expected_msg)
    assert model.regularizer(raw).shape == (ei.shape[1], expected_msg)
    assert model.edge_mlp[0].in_features == 2 * F
    assert model.node_mlp[0].in_features == F + expected_msg
    if variant in ("standard", "bottleneck", "pruning"):
        assert penalty is None
    else:
        assert penalty.dim() == 0 and penalty.item() > 0


def test_default_is_the_reference_architecture():
    model = OGN()
    linears = [m for m in model.edge_mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(12, 300), (300, 300),
                                                                  (300, 300), (300, 100)]
    assert [type(m).__name__ for m in model.edge_mlp].count("ReLU") == 3
    assert model.node_mlp[-1].out_features == 2 and model.node_mlp[0].in_features == 106
    assert flops_per_graph(OGNConfig(), 4) == pytest.approx(20.4768e6)
    # bottleneck: only the output widths change
    assert flops_per_graph(OGNConfig(variant="bottleneck"), 4) < flops_per_graph(OGNConfig(), 4)


def test_is_a_message_passing_layer_on_any_graph():
    """On an irregular graph, out_i = node_mlp([x_i, sum over senders j of m_ij])."""
    model = _model("standard").eval()
    x = torch.randn(5, F)
    ei = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 1, 1, 0, 0, 4]])  # source row, target row
    out = model(x, ei)
    with torch.no_grad():
        m = model.edge_raw(x[ei[1]], x[ei[0]])
        agg = torch.zeros(5, model.msg_dim).index_add_(0, ei[1], m)
        expected = model.node_mlp(torch.cat([x, agg], 1))
    torch.testing.assert_close(out, expected)


def test_message_hook_sees_receiver_sender_and_message():
    model = _model("bottleneck")
    x, ei = _batch()
    seen = {}
    handle = model.register_message_forward_hook(
        lambda mod, args, out: seen.update(args[0], out=out))
    model(x, ei)
    handle.remove()
    assert torch.equal(seen["x_i"], x[ei[1]]) and torch.equal(seen["x_j"], x[ei[0]])
    assert seen["out"].shape == (ei.shape[1], DIM)


def _per_graph(x, f):
    """Reference penalty: mean over graphs of sum_{edges of g} f(raw_e) / n, one graph at a time."""
    one = fully_connected(N_NODES)
    vals = []
    for g in range(B):
        xg = x[g * N_NODES:(g + 1) * N_NODES]
        vals.append(f(xg[one[1]], xg[one[0]]) / N_NODES)
    return torch.stack(vals).mean()


def test_l1_penalty_by_hand():
    model = _model("l1")
    x, ei = _batch()
    _, penalty = model(x, ei, return_penalty=True)
    with torch.no_grad():
        expected = 1e-2 * _per_graph(x, lambda xi, xj: model.edge_raw(xi, xj).abs().sum())
    torch.testing.assert_close(penalty.detach(), expected)
    # the loss adds it to the per-graph MAE
    y = torch.randn(B * N_NODES, DIM)
    total, mae = ogn_loss(model, x, ei, y, B)
    with torch.no_grad():
        expected_mae = (model(x, ei) - y).abs().sum() / B
    torch.testing.assert_close(mae, expected_mae)
    torch.testing.assert_close(total.detach(), expected_mae + expected)


def test_kl_penalty_by_hand():
    model = _model("kl")
    x, ei = _batch()
    _, penalty = model(x, ei, return_penalty=True)

    def kl(xi, xj):
        raw = model.edge_raw(xi, xj)
        mu, logvar = raw[:, :100], raw[:, 100:]
        return (0.5 * (logvar.exp() + mu ** 2 - logvar)).sum()

    with torch.no_grad():
        torch.testing.assert_close(penalty.detach(), _per_graph(x, kl))


def test_strength_overrides_the_default():
    x, ei = _batch()
    p1 = _model("l1")(x, ei, return_penalty=True)[1]
    p2 = _model("l1", strength=1.0)(x, ei, return_penalty=True)[1]
    torch.testing.assert_close(p2, p1 * 100)
    assert _model("l1", strength=0.0)(x, ei, return_penalty=True)[1] is None


def test_kl_samples_in_training_and_uses_the_mean_in_eval():
    model = _model("kl")
    x, ei = _batch()
    assert not torch.equal(model(x, ei), model(x, ei))
    model.eval()
    a, b = model(x, ei), model(x, ei)
    assert torch.equal(a, b)
    raw = model.edge_raw(x[ei[1]], x[ei[0]])
    assert torch.equal(model.regularizer(raw), raw[:, :100])
    # eval_message is deterministic whatever the mode, and leaves the mode alone
    model.train()
    assert torch.equal(model.regularizer.eval_message(raw), raw[:, :100])
    assert model.regularizer.training


def test_channel_scores():
    raw = torch.randn(500, 6) * torch.arange(1.0, 7.0)
    std = get_regularizer("standard", 6, 2).channel_scores(raw)
    torch.testing.assert_close(std, raw.double().std(0, unbiased=False))
    assert torch.equal(std.argsort(), torch.arange(6))
    kl = KL(3, 2)
    mu, logvar = torch.randn(500, 3), torch.randn(500, 3)
    expected = (0.5 * (logvar.double().exp() + mu.double() ** 2 - logvar.double() - 1)).mean(0)
    torch.testing.assert_close(kl.channel_scores(torch.cat([mu, logvar], 1)), expected)
    assert get_regularizer("bottleneck", 100, 2).rank_by == "all"
    assert kl.rank_by == "kl" and get_regularizer("l1", 10, 2).rank_by == "std"


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_regulariser_contract(name):
    reg = get_regularizer(name, 8, 2)
    raw = torch.randn(20, reg.raw_dim)
    reg.train()
    assert reg(raw).shape == (20, reg.msg_dim)
    scores = reg.channel_scores(raw)
    assert scores.shape == (reg.msg_dim,)
    assert torch.equal(reg.eval_message(raw), reg.eval_message(raw))
    p = reg.penalty(raw, 4)
    assert p is None or (p.dim() == 0 and p.item() >= 0)


def test_pruning_schedule_is_monotone_and_reaches_dim_at_end():
    reg = Pruning(100, 2, end=0.65)
    assert reg.target(0.0) == 100 and reg.target(0.65) == 2 and reg.target(1.0) == 2
    # channel c has std c + 1: the highest channels must survive
    reg.train()
    base = torch.randn(400, 1, generator=torch.Generator().manual_seed(0))
    raw = (base - base.mean()) / base.std(unbiased=False) * torch.arange(1.0, 101.0)
    counts = []
    for p in torch.linspace(0, 1, 101).tolist():
        reg.train_progress(p)
        reg(raw)
        counts.append(int(reg.mask.sum()))
        assert counts[-1] == reg.n_active == reg.target(p)
    assert counts[0] == 100
    assert all(a >= b for a, b in itertools.pairwise(counts))
    assert counts[50] > 2  # still pruning at half-time ...
    assert all(c == 2 for c in counts[65:])  # ... done from 65 % on
    assert reg.mask.nonzero().flatten().tolist() == [98, 99]
    out = reg(raw)
    assert torch.equal(out[:, :98], torch.zeros(400, 98)) and torch.equal(out[:, 98:],
                                                                          raw[:, 98:])
    scores = reg.channel_scores(raw)
    assert math.isinf(scores[0].item()) and scores[99] > scores[98] > 0


def test_pruning_state_survives_a_state_dict_round_trip():
    a = _model("pruning", prune_end=0.5)
    x, ei = _batch()
    a(x, ei)
    a.train_progress(0.49)
    b = _model("pruning", prune_end=0.5)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.regularizer.mask, a.regularizer.mask)
    assert b.regularizer.n_active == a.regularizer.n_active < 100
    assert b.regularizer.end == 0.5


@pytest.mark.parametrize("kwargs, fragment", [
    ({"variant": "bottlenek"}, "Did you mean 'bottleneck'"),
    ({"hidden": 0}, "hidden must be a positive integer"),
    ({"layers": 1.5}, "layers must be a positive integer"),
    ({"strength": -1.0}, "strength must be None or a finite number >= 0"),
    ({"prune_end": 0.0}, "prune_end must be in (0, 1]"),
    ({"node_dim": 0}, "node_dim must be a positive integer or None"),
])
def test_bad_config(kwargs, fragment):
    with pytest.raises(PhysDistillError) as info:
        OGN(OGNConfig(**kwargs))
    assert fragment in str(info.value)


def test_bad_inputs():
    with pytest.raises(PhysDistillError, match="unknown OGN options"):
        OGN(hiden=3)
    with pytest.raises(PhysDistillError, match=r"shape \[N, 6\]"):
        _model("standard")(torch.randn(4, 5), fully_connected(4))
    with pytest.raises(PhysDistillError, match="unknown model config keys"):
        OGNConfig.from_dict({"variant": "l1", "width": 3})
    assert OGNConfig.from_dict(OGNConfig(variant="kl").to_dict()) == OGNConfig(variant="kl")
