"""Shared fixtures: short trainings on one torch thread, so the heat suite stays fast.

Budgets end runs by step or evaluation counts (reproducible); time limits are only a safety net
on a busy machine.
"""

from __future__ import annotations

import pytest

from physdistill.heat.pinn import ModelConfig
from physdistill.heat.problem import HeatProblem
from physdistill.heat.train import TrainConfig, train

MULTI = "sin(pi*x) + 0.5*sin(3*pi*x)"
SHORT = TrainConfig(adam_steps=300, lbfgs_steps=400, device="cpu", progress=False)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Small networks run fastest on one thread; two threads on a busy 2-core box are
    many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def single():
    """A forward PINN for the DeepXDE problem (alpha 0.4, sin(pi x)), 300 Adam + 400 L-BFGS."""
    problem = HeatProblem()
    return problem, train(problem, ModelConfig(), SHORT)


@pytest.fixture(scope="session")
def multi():
    """A forward PINN for the two-mode IC sin(pi x) + 0.5 sin(3 pi x)."""
    problem = HeatProblem(ic=MULTI)
    return problem, train(problem, ModelConfig(), SHORT)
