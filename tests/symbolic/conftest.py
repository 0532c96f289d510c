"""Shared fixtures: small pyoperon budgets so the whole symbolic suite stays fast.

The budgets end runs by evaluation count (reproducible), with a generous time limit only as a
safety net on a busy machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from physdistill.symbolic import SRBackend, SRConfig

FAST = dict(population_size=200, generations=1000, max_evaluations=100_000, time_limit_s=30)
TINY = dict(population_size=50, generations=5, max_evaluations=5_000, time_limit_s=10)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Small torch workloads run several times faster on one thread of a busy 2-core box."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fast_config() -> SRConfig:
    return SRConfig(**FAST)


@pytest.fixture(scope="session")
def tiny_config() -> SRConfig:
    return SRConfig(**TINY)


@pytest.fixture(scope="session")
def X3() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.5, 2.0, size=(300, 3))


def known_function(X):
    """The function the test MLP learns: [a*b, a - b/2]."""
    return np.stack([X[:, 0] * X[:, 1], X[:, 0] - 0.5 * X[:, 1]], axis=1)


def make_mlp():
    from torch import nn

    return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 2))


@pytest.fixture(scope="session")
def trained_mlp():
    """A 2-32-32-2 tanh MLP trained (600 full-batch Adam steps, ~1 % error) on
    ``known_function`` over [0.5, 2.5]^2."""
    import torch

    torch.manual_seed(0)
    X = torch.rand(1024, 2) * 2 + 0.5
    Y = torch.as_tensor(known_function(X.double().numpy()), dtype=torch.float32)
    mlp = make_mlp()
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 600)
    for _ in range(600):
        loss = ((mlp(X) - Y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    mlp.requires_grad_(False)
    return mlp


@pytest.fixture(scope="session")
def distilled(trained_mlp, fast_config):
    """The trained MLP wrapped, recorded over three calls, and distilled (both outputs)."""
    import torch

    from physdistill.symbolic import SymbolicModel

    sm = SymbolicModel(trained_mlp, input_names=["a", "b"], config=fast_config,
                       max_samples=1500)
    gen = torch.Generator().manual_seed(1)
    with sm.capture():
        for _ in range(3):
            trained_mlp(torch.rand(800, 2, generator=gen) * 2 + 0.5)
    return sm.distill()


class LeastSquaresBackend(SRBackend):
    """A toy backend (affine least squares): shows the one method a backend implements, and
    lets device tests run where pyoperon is not installed."""

    name = "lstsq"
    operator_map = {"+": "+", "-": "-", "*": "*", "/": "/"}

    def _search(self, X, y, names, config, sample_weight):
        A = np.column_stack([X, np.ones(len(y))])
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        terms = [f"{float(c)!r}*{n}" for c, n in zip(coef, names)]
        return [repr(float(np.mean(y))), " + ".join(terms) + f" + {float(coef[-1])!r}"]
