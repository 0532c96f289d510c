"""The grid's core split: a GPU training loop is held to the cores its workers do not own."""

import os

import pytest
import torch

from physdistill.nbody import grid
from physdistill.nbody.pipeline import NBodyConfig

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                                reason="needs CPU affinity (Linux)")


def test_gpu_training_keeps_the_cores_no_worker_owns(monkeypatch):
    monkeypatch.setattr(grid, "resolve_device", lambda name: torch.device("cuda"))
    allowed = sorted(os.sched_getaffinity(0))
    threads = torch.get_num_threads()
    taken = len(allowed) - 1
    with grid._trainer_cores(NBodyConfig(law="spring", device="cuda"), taken):
        assert sorted(os.sched_getaffinity(0)) == allowed[:1]
        assert torch.get_num_threads() == 1
    assert sorted(os.sched_getaffinity(0)) == allowed
    assert torch.get_num_threads() == threads


def test_cpu_training_keeps_every_core():
    allowed = sorted(os.sched_getaffinity(0))
    with grid._trainer_cores(NBodyConfig(law="spring", device="cpu"), len(allowed)):
        assert sorted(os.sched_getaffinity(0)) == allowed


def test_workers_owning_every_core_still_leave_the_loop_one(monkeypatch):
    monkeypatch.setattr(grid, "resolve_device", lambda name: torch.device("cuda"))
    allowed = sorted(os.sched_getaffinity(0))
    with grid._trainer_cores(NBodyConfig(law="spring", device="cuda"), 10 * len(allowed)):
        assert len(os.sched_getaffinity(0)) == 1
