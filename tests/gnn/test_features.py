"""Features: callables bound by argument name, formulas of earlier features, helpers."""

from __future__ import annotations

import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.gnn import FeatureSet, column, displacement


def test_helpers_bindings_and_derived_formulas():
    rng = np.random.default_rng(0)
    inputs = {"pos_i": rng.normal(size=(40, 3)), "pos_j": rng.normal(size=(40, 3)),
              "edge_attr": rng.uniform(1, 2, size=(40, 1))}
    feats = FeatureSet({**displacement(3, receiver="pos_i", sender="pos_j"),
                        "w": column("edge_attr", 0),
                        "both": lambda **args: args["edge_attr"][:, 0] * 2,
                        "r2": "r**2", "u": "r2*w"})
    v = feats.numpy(inputs)
    d = inputs["pos_i"] - inputs["pos_j"]
    np.testing.assert_allclose(v["dz"], d[:, 2])
    np.testing.assert_allclose(v["r"], np.linalg.norm(d, axis=1))
    np.testing.assert_allclose(v["both"], 2 * inputs["edge_attr"][:, 0])
    np.testing.assert_allclose(v["u"], (d * d).sum(1) * inputs["edge_attr"][:, 0])
    assert feats.derived["u"] == "w*(dx**2 + dy**2 + dz**2)"  # written in the callables only
    assert set(feats.derived) == {"r", "r2", "u"}


def test_feature_errors():
    with pytest.raises(PhysDistillError, match="displacement needs 2 names"):
        displacement(2, names=["dx"])
    with pytest.raises(PhysDistillError, match="cannot be passed by name"):
        FeatureSet({"a": lambda *args: args[0]})
    with pytest.raises(PhysDistillError, match="non-empty mapping"):
        FeatureSet({})
    with pytest.raises(PhysDistillError, match="takes a message argument name and an integer"):
        column("x_i", 1.5)
