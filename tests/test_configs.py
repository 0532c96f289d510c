"""The shared JSON form of the settings dataclasses (physdistill.configs.JSONConfig)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from physdistill.configs import JSONConfig
from physdistill.errors import PhysDistillError
from physdistill.nbody.config import NBodyConfig
from physdistill.nbody.model import OGNConfig
from physdistill.nbody.train_config import TrainConfig


@dataclass(frozen=True)
class _Toy(JSONConfig):
    width: int = 3
    name: str = "a"


def test_unknown_keys_are_all_named_with_the_known_ones():
    with pytest.raises(PhysDistillError) as info:
        _Toy.from_dict({"width": 4, "hieght": 2, "colour": "red"})
    text = str(info.value)
    assert "unknown config keys ['colour', 'hieght']" in text
    assert "known: ['name', 'width']" in text


@pytest.mark.parametrize("cls, label", [(TrainConfig, "training config"),
                                        (OGNConfig, "model config"),
                                        (NBodyConfig, "n-body run config")])
def test_each_settings_class_names_its_unknown_keys(cls, label):
    with pytest.raises(PhysDistillError, match=rf"unknown {label} keys \['bogus'\]"):
        cls.from_dict({**cls().to_dict(), "bogus": 1})
    with pytest.raises(PhysDistillError, match=f"{label} must be a JSON object, got list"):
        cls.from_dict([1, 2])


@pytest.mark.parametrize("cls", [TrainConfig, OGNConfig, NBodyConfig, _Toy])
def test_round_trip_through_json_and_missing_keys_take_defaults(cls):
    cfg = cls()
    assert cls.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cls.from_dict({}) == cfg
    assert "config_name" not in cfg.to_dict()


def test_validating_classes_still_validate_what_they_read():
    with pytest.raises(PhysDistillError, match="TrainConfig.epochs"):
        TrainConfig.from_dict({"epochs": 0})
    with pytest.raises(PhysDistillError, match="OGNConfig.hidden"):
        OGNConfig.from_dict({"hidden": -1})
