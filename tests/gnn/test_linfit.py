"""The gain of a channel against its fit, per bin of a feature: where a network carries a law."""

import numpy as np
import pytest

from physdistill.errors import PhysDistillError
from physdistill.gnn.linfit import binned_gain, carried


def _edges(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    r = np.exp(rng.normal(0.3, 0.6, n))
    law = rng.choice([-1.0, 1.0], n) / r**2
    return r, law


def test_a_channel_that_carries_the_law_everywhere_has_gain_one():
    r, law = _edges()
    msg = 0.3 * law + 0.05 + 1e-4 * np.random.default_rng(1).normal(size=r.size)
    gains = binned_gain(msg, 0.3 * law + 0.05, 0.05, r)
    assert all(abs(b["gain"] - 1) < 0.01 for b in gains)
    assert sum(b["n"] for b in gains) == r.size
    assert carried(gains)["share"] == 1.0


def test_saturation_and_a_missing_far_field_show_as_gains_below_one():
    r, law = _edges()
    msg = np.where(r < 0.5, law * (r / 0.5) ** 2, law)  # capped at close range
    msg = np.where(r > 3.0, 0.0, msg)  # nothing carried far away
    gains = binned_gain(msg, law, 0.0, r)
    close = [b for b in gains if b["hi"] < 0.4]
    far = [b for b in gains if b["lo"] > 3.0]
    assert close and far and all(b["gain"] < 0.7 for b in close)
    assert all(abs(b["gain"]) < 1e-9 for b in far)
    c = carried(gains)
    assert 0.5 < c["share"] < 1.0
    assert 0.4 < c["lo"] and c["hi"] < 3.2
    assert sum(b["n"] for b in gains) == r.size


def test_small_bins_join_their_neighbours_and_bad_input_is_named():
    r, law = _edges(n=300)
    gains = binned_gain(law, law, 0.0, r, min_edges=50)
    assert all(b["n"] >= 50 for b in gains) and sum(b["n"] for b in gains) == 300
    with pytest.raises(PhysDistillError, match="one value per edge"):
        binned_gain(law, law[:-1], 0.0, r)
    with pytest.raises(PhysDistillError, match="finite edges"):
        binned_gain(law[:10], law[:10], 0.0, r[:10])
    assert carried(binned_gain(np.zeros(300), law, 0.0, r)) == {"share": 0.0, "lo": None,
                                                                 "hi": None}


def test_a_receiver_gauge_shows_as_a_gain_that_falls_with_the_mass():
    r, law = _edges()
    m1 = np.exp(np.random.default_rng(2).normal(size=r.size))
    msg = law * m1**-0.3  # the network scales its messages with the receiver's mass
    by_r = binned_gain(msg, law, 0.0, r)
    by_m1 = binned_gain(msg, law, 0.0, m1)
    gains = [b["gain"] for b in by_m1]
    assert all(a > b for a, b in zip(gains, gains[1:]))  # falls with m1
    assert gains[0] > 1.5 and gains[-1] < 0.6
    assert carried(by_m1)["share"] < carried(by_r)["share"]
