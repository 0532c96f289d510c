"""The distillation stage records which path it took (central-force step or one search per
channel) and the centrality score; the README's main job recovers r2."""

from __future__ import annotations

import json

import pytest

from physdistill.nbody.pipeline import NBodyConfig, run_nbody

#: a tiny run for the record (it recovers nothing)
TINY = {"law": "spring", "sims": 30, "steps": 50, "epochs": 1, "hidden": 8, "batch": 16,
        "sr_seconds": 1.0, "sr_samples": 200, "sr_restarts": 1, "rollout_systems": 2,
        "device": "cpu"}


def test_distill_json_records_the_path_and_the_centrality(tmp_path):
    run_nbody(NBodyConfig(**TINY), tmp_path / "run", progress=False)
    info = json.loads((tmp_path / "run" / "distill.json").read_text())["structure"]
    assert info["path"] in ("central", "unstructured")
    assert 0.0 <= info["centrality"] <= 1.0 + 1e-9
    assert info["central"] == (info["path"] == "central")
    if info["path"] == "unstructured":
        assert "not central" in info["reason"]


@pytest.mark.slow
def test_r2_bottleneck_end_to_end_recovers_the_law(tmp_path):
    """``physdistill nbody r2`` (quick preset, seed 0) with fewer rollout systems: the messages
    are central and both channels are the r2 law (softened or its eps -> 0 limit)."""
    m = run_nbody(NBodyConfig(law="r2", reg="bottleneck", rollout_systems=4, device="cpu"),
                  tmp_path / "run", progress=False)
    info = json.loads((tmp_path / "run" / "distill.json").read_text())["structure"]
    assert info["path"] == "central", info
    for c in m["channels"]:
        assert c["recovered"] and c["law_form"] in ("softened", "unsoftened"), c
    assert m["recovered"] is True
