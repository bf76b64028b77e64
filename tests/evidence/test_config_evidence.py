"""The evidence settings in the config: defaults, overrides, validation."""
from __future__ import annotations

import pytest

from docre.config import config_from_dict, load_config
from docre.errors import ConfigError


def test_defaults_and_overrides() -> None:
    cfg = load_config()
    assert cfg.train.evidence_weight == 0.0  # supervision off unless asked for
    assert cfg.evidence.enabled and cfg.evidence.calibrate
    assert cfg.evidence.threshold == 0.2 and cfg.evidence.key_pair_share == 0.5
    cfg = load_config(overrides={"train.evidence_weight": "0.1", "evidence.threshold": "0.3",
                                 "evidence.enabled": "false"})
    assert cfg.train.evidence_weight == 0.1 and cfg.evidence.threshold == 0.3 and not cfg.evidence.enabled


@pytest.mark.parametrize("key,value,message", [
    ("evidence.threshold", "1.5", "evidence.threshold = 1.5: must be in [0, 1]"),
    ("evidence.key_pair_share", "-0.1", "evidence.key_pair_share = -0.1: must be in [0, 1]"),
    ("train.evidence_weight", "-1", "train.evidence_weight = -1.0: must be >= 0"),
])
def test_out_of_range_values_are_refused(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_config(overrides={key: value})


def test_a_model_config_saved_before_the_evidence_section_loads_with_defaults() -> None:
    raw = load_config().to_dict()
    raw.pop("evidence")
    cfg = config_from_dict(raw)
    assert cfg.evidence.threshold == 0.2 and cfg.evidence.enabled
