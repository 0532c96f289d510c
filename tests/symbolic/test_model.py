"""SymbolicModel: recording, distillation of a trained MLP, switching, caching, save/load."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from physdistill._io import load_state, save_state
from physdistill.errors import PhysDistillError
from physdistill.symbolic import SymbolicModel, compare

from .conftest import LeastSquaresBackend, known_function, make_mlp

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# Stated tolerance: the symbolic forward matches the MLP to 2 % relative RMS error per output
# on fresh points of the training range (the MLP itself is ~1 % off the true function).
TOL = 0.02


def _rel_rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(dim=0) / b.norm(dim=0)


def test_distils_a_trained_mlp_of_a_known_function(distilled, trained_mlp):
    sm = copy.deepcopy(distilled)
    assert sm.n_samples == 1500 and sm.n_fits_ == 2
    assert sm.input_columns() == ["a", "b"] and set(sm.fronts_) == {0, 1}
    sm.switch_to_symbolic()
    x = torch.rand(1000, 2, generator=torch.Generator().manual_seed(5)) * 2 + 0.5
    with torch.no_grad():
        sym, net = sm(x), trained_mlp(x)
    assert sym.shape == net.shape == (1000, 2) and sym.dtype == torch.float32
    assert (_rel_rms(sym, net) < TOL).all(), _rel_rms(sym, net)
    # the chosen equations have the known function's form (up to the MLP's small offsets)
    X = x.double().numpy()
    inputs = {"a": X[:, 0], "b": X[:, 1]}
    for dim, reference in [(0, "k*a*b + c"), (1, "p*a + q*b + c")]:
        res = compare(sm.equations_[dim], reference, inputs)
        assert res.symbolic_match, (dim, sm.fronts_[dim].table())
    truth = torch.as_tensor(known_function(X), dtype=torch.float32)
    assert (_rel_rms(sym, truth) < TOL).all()
    # a chosen complexity per dimension, and back to the network
    sm.switch_to_symbolic({0: sm.fronts_[0].complexities[-1], "y1": "accuracy"})
    assert sm.equations_[0] == sm.fronts_[0].candidates[-1].expression
    with pytest.raises(PhysDistillError, match="output 0: no candidate of complexity 2"):
        sm.switch_to_symbolic(2)
    sm.switch_to_neural()
    assert torch.equal(sm(x), trained_mlp(x))


def test_save_load_round_trip(distilled, tmp_path):
    sm = copy.deepcopy(distilled).switch_to_symbolic(trainable=True)
    sm.factor = 25.0
    path = tmp_path / "sm.safetensors"
    sm.save(path, include_samples=True)
    fresh = make_mlp()
    back = SymbolicModel.load(path, fresh)
    assert back.mode_ == "symbolic" and back.equations_ == sm.equations_
    assert back.factor == 25.0
    assert all(torch.equal(p, q) for p, q in zip(fresh.parameters(), sm.module.parameters()))
    assert [p.numel() for p in back.equation_modules_.parameters()]  # still trainable
    x = torch.rand(64, 2) * 2 + 0.5
    with torch.no_grad():
        assert torch.equal(back(x), sm(x))
        assert torch.equal(back.switch_to_neural()(x), sm.module(x))
    for d in (0, 1):
        assert back.fronts_[d] == sm.fronts_[d]
    assert back.n_samples == sm.n_samples
    back.distill(dims=0)  # the samples survive the round trip and are not stale
    assert back.n_fits_ == 1
    with pytest.raises(PhysDistillError, match=r"'0.weight' has shape \(32, 2\).*\(16, 2\)"):
        SymbolicModel.load(path, nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 32),
                                               nn.Tanh(), nn.Linear(32, 2)))
    with pytest.raises(PhysDistillError, match="missing"):
        SymbolicModel.load(path, nn.Linear(2, 2))
    other = tmp_path / "other.safetensors"
    save_state(other, {"format": "something else"})
    with pytest.raises(PhysDistillError, match="not a SymbolicModel file"):
        SymbolicModel.load(other, make_mlp())


def test_tampered_file_executes_nothing(distilled, tmp_path):
    sm = copy.deepcopy(distilled).switch_to_symbolic()
    path = tmp_path / "sm.safetensors"
    sm.save(path)
    sentinel = tmp_path / "sentinel"
    state = load_state(path)
    state["equations"]["0"]["expression"]["tree"] = {
        "type": "Function", "name": "eval",
        "args": [{"type": "Symbol", "name": f"open('{sentinel}','w')"}]}
    save_state(path, state)
    with pytest.raises(PhysDistillError, match="type 'Function'"):
        SymbolicModel.load(path, make_mlp())
    state["equations"]["0"]["expression"]["tree"] = {"type": "Symbol", "name": "a"}
    state["params"]["transforms"] = {"r": f"__import__('os').system('touch {sentinel}')"}
    save_state(path, state)
    with pytest.raises(PhysDistillError, match="not allowed"):
        SymbolicModel.load(path, make_mlp())
    assert not sentinel.exists()


class Pair(nn.Module):
    """Takes several positional and keyword tensors; returns a tuple."""

    def forward(self, x, y, *, z, note="ignored"):
        return x[:, 0] + 2.0 * y, z - x[:, 1:2]


class Parent(nn.Module):
    def __init__(self):
        super().__init__()
        self.pair = Pair()

    def forward(self, x):
        out = 0
        for k in range(3):  # the submodule is called several times per forward
            y = torch.cos(3 * x[:, 1]) + k  # not a simple function of x, nor of z
            a, b = self.pair(x, y, z=x[:, 0:1] ** 2 - k)
            out = out + a + b[:, 0]
        return out


def test_records_multiple_args_kwargs_and_repeated_calls(fast_config):
    parent = Parent()
    sm = SymbolicModel(parent.pair, input_names=["x0", "x1", "y", "z"],
                       output_names=["u", "v"], config=fast_config, max_samples=300)
    with sm.capture():
        parent(torch.randn(100, 2))
        parent(torch.randn(100, 2))
    assert sm.n_samples == 300 and sm._reservoir.n_seen == 600  # 2 forwards x 3 calls x 100
    assert [s.where for s in sm.input_spec_] == ["arg0", "arg1", "kw:z"]
    sm.distill()
    assert str(sm.fronts_[0].expression) == "x0 + 2*y"
    assert str(sm.fronts_[1].expression) == "-x1 + z"
    parent.pair = sm.switch_to_symbolic()  # the parent now runs the equations
    x = torch.randn(50, 2)
    expected = Parent()(x)
    assert torch.allclose(parent(x), expected, atol=1e-5)
    a, b = sm(x, x[:, 0], z=x[:, 1:2])
    assert a.shape == (50,) and b.shape == (50, 1)
    with pytest.raises(PhysDistillError, match="differ from the recorded"):
        sm(x, x[:, 0])


def test_transforms_and_callables(fast_config):
    def inverse_distance(d):  # a plain callable, not a module
        return 1.0 / torch.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)[:, None]

    sm = SymbolicModel(inverse_distance, input_names=["dx", "dy"],
                       transforms={"r": "sqrt(dx**2 + dy**2)"}, features=["r"],
                       config=fast_config)
    d = torch.randn(400, 2, dtype=torch.float64)
    with sm.capture():
        sm(d)
    assert sm.feature_columns() == ["r"]
    sm.distill().switch_to_symbolic()
    assert str(sm.equations_[0]) == "1/r"
    assert torch.allclose(sm(d), inverse_distance(d))
    sm.transforms = {"r": lambda cols: cols}
    with pytest.raises(PhysDistillError, match="formula"):
        sm.distill()


def test_cache_is_reused_and_invalidated(tiny_config):
    torch.manual_seed(0)
    net = nn.Linear(2, 1)
    sm = SymbolicModel(net, input_names=["p", "q"], config=tiny_config)
    x = torch.randn(200, 2)
    with sm.capture():
        net(x)
    sm.distill()
    first = sm.fronts_[0]
    sm.distill()
    assert sm.n_fits_ == 1 and sm.fronts_[0] is first  # cache hit: no new search
    # new transforms -> new search
    sm.transforms = {"s": "p + q"}
    sm.distill()
    assert sm.n_fits_ == 2 and sm.fronts_[0] is not first
    sm.transforms = None
    sm.distill()
    assert sm.n_fits_ == 2 and sm.fronts_[0] is first  # the old key is still cached
    # new weights -> stale equations and samples
    with torch.no_grad():
        net.weight.mul_(2.0)
    with pytest.raises(PhysDistillError, match="stale"):
        sm.switch_to_symbolic()
    with pytest.raises(PhysDistillError, match="weights changed after its samples"):
        sm.distill()
    with sm.capture():  # recording with new weights drops the old samples
        net(x)
    assert sm.n_samples == 200
    sm.distill().switch_to_symbolic()
    assert sm.n_fits_ == 3
    assert torch.allclose(sm(x), net(x), atol=1e-4)


def test_usage_errors(tiny_config):
    net = nn.Linear(2, 1)
    sm = SymbolicModel(net, input_names=["a", "b", "c"], config=tiny_config)
    with pytest.raises(PhysDistillError, match="no samples recorded"):
        sm.distill()
    with pytest.raises(PhysDistillError, match="not distilled"):
        sm.switch_to_symbolic()
    with sm.capture():
        net(torch.randn(20, 2))
    with pytest.raises(PhysDistillError, match="input_names has 3 names.*arg0: 2"):
        sm.distill()
    with pytest.raises(PhysDistillError, match="wraps an nn.Module or a callable"):
        SymbolicModel(3)
    sm.input_names = ["a", "b"]
    with pytest.raises(PhysDistillError, match="output dimension 4"):
        sm.distill(dims=4)


@pytest.mark.parametrize("device", DEVICES)
def test_symbolic_forward_runs_on_the_module_device(device):
    """Recording moves only kept rows off the device; equations run where the inputs are."""
    torch.manual_seed(0)
    net = nn.Linear(3, 2).to(device)
    sm = SymbolicModel(net, backend=LeastSquaresBackend(), max_samples=256)
    with sm.capture():
        for _ in range(4):
            net(torch.randn(1000, 3, device=device))
    assert sm.n_samples == 256
    sm.distill().switch_to_symbolic(trainable=True)
    x = torch.randn(64, 3, device=device)
    out = sm(x)
    assert out.device.type == device and out.shape == (64, 2)
    assert torch.allclose(out, net(x), atol=1e-4)
    out.sum().backward()
    grads = [p.grad for p in sm.equation_modules_.parameters()]
    assert grads and all(g is not None and g.device.type == device for g in grads)
