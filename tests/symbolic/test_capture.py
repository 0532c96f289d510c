"""Call flattening and the reservoir sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.symbolic.capture import Reservoir, TensorSpec, flatten_call, flatten_output


def test_column_order_positional_then_sorted_keywords():
    a, b, c = torch.ones(4, 2), torch.full((4,), 2.0), torch.full((4, 1), 3.0)
    idx = torch.zeros(2, 4, dtype=torch.long)  # integer tensors (indices) are ignored
    specs, blocks = flatten_call((a, 7, idx), {"zeta": c, "beta": b, "flag": True})
    assert specs == [TensorSpec("arg0", 2, False), TensorSpec("kw:beta", 1, True),
                     TensorSpec("kw:zeta", 1, False)]
    assert torch.cat(blocks, 1)[0].tolist() == [1.0, 1.0, 2.0, 3.0]
    specs, blocks = flatten_output((torch.ones(2, 3, 4), torch.ones(6)))
    assert [s.width for s in specs] == [4, 1] and blocks[0].shape == (6, 4)
    with pytest.raises(PhysDistillError, match="returned dict"):
        flatten_output({"y": torch.ones(2)})


def test_reservoir_is_bounded_and_uniform():
    res = Reservoir(capacity=500, seed=0)
    counts = np.zeros(10)
    for call in range(10):  # 10 calls of 1000 rows: row value = call index
        block = torch.full((1000, 1), float(call))
        res.add([block, block * 2])
    assert res.size == 500 and res.n_seen == 10_000 and res.data.shape == (500, 2)
    np.testing.assert_array_equal(res.data[:, 1], 2 * res.data[:, 0])  # rows stay joined
    counts = np.bincount(res.data[:, 0].astype(int), minlength=10)
    assert counts.min() > 25 and counts.max() < 75  # ~50 each


def test_reservoir_keeps_everything_below_capacity_and_checks_rows():
    res = Reservoir(capacity=100, seed=0)
    res.add([torch.arange(30.0)[:, None]])
    assert sorted(res.data[:, 0].tolist()) == list(range(30))
    with pytest.raises(PhysDistillError, match="differ in rows"):
        res.add([torch.ones(3, 1), torch.ones(4, 1)])
    with pytest.raises(PhysDistillError, match="columns"):
        res.add([torch.ones(3, 2)])
