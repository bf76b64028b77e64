"""Typed configuration: JSON file + dotted overrides, validation, document ranges (docre.config)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docre.config import Config, config_from_dict, load_config, parse_range
from docre.errors import ConfigError


def _write(tmp_path: Path, obj: Any, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_defaults_without_file_or_overrides() -> None:
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert (cfg.model.head, cfg.model.emb_size, cfg.model.block_size, cfg.model.num_labels) == ("atlop", 768, 64, 4)
    kmgre = cfg.kmgre
    assert (kmgre.fusion, kmgre.key_encoder, kmgre.alpha, kmgre.gamma) == ("logsumexp", "shared", 0.25, 2.0)
    assert cfg.train.lr_new == 1e-4 and cfg.train.adam_eps == 1e-6


def test_file_then_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, {
        "_comment": "ignored",
        "model": {"head": "kmgre", "emb_size": 64, "block_size": 16, "_note": "ignored too"},
        "kmgre": {"xi": 0.3, "em_period": -1},
        "train": {"epochs": 5, "batch_size": 2, "lr_new": 3e-4},
        "data": {"train_file": "train.json", "dev_file": None},
    })
    cfg = load_config(path, overrides={"train.epochs": "7", "kmgre.fusion": "mean", "logging.progress": "false",
                                       "data.test_file": "none", "train.max_steps": "12"})
    assert cfg.model.head == "kmgre" and (cfg.model.emb_size, cfg.model.block_size) == (64, 16)
    assert cfg.kmgre.xi == 0.3 and cfg.kmgre.em_period == -1 and cfg.kmgre.fusion == "mean"
    assert cfg.train.epochs == 7.0 and isinstance(cfg.train.epochs, float)  # the override wins over the file
    assert cfg.train.batch_size == 2 and cfg.train.lr_new == 3e-4
    assert cfg.train.max_steps == 12 and isinstance(cfg.train.max_steps, int)
    assert cfg.logging.progress is False
    assert cfg.data.train_file == "train.json" and cfg.data.dev_file is None and cfg.data.test_file is None
    assert cfg.train.lr_encoder == 5e-5  # untouched default


def test_int_given_for_a_float_field_is_a_float(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, {"kmgre": {"tau_end": 1}}))
    assert cfg.kmgre.tau_end == 1.0 and isinstance(cfg.kmgre.tau_end, float)


def test_config_round_trips_through_to_dict() -> None:
    cfg = load_config(overrides={"model.head": "kmgre", "kmgre.xi": 0.1, "data.train_range": ":400"})
    again = config_from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


# ---------------------------------------------------------------- errors name the field


def _error(tmp_path: Path, file_obj: Any = None, overrides: Any = None) -> str:
    path = _write(tmp_path, file_obj) if file_obj is not None else None
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides=overrides)
    return str(info.value)


def test_unknown_field_in_file(tmp_path: Path) -> None:
    msg = _error(tmp_path, {"train": {"epochz": 3}})
    assert "train.epochz" in msg and "config.json" in msg


def test_unknown_field_override(tmp_path: Path) -> None:
    assert "kmgre.zeta" in _error(tmp_path, overrides={"kmgre.zeta": "1"})


def test_unknown_section(tmp_path: Path) -> None:
    assert "'trian'" in _error(tmp_path, {"trian": {"epochs": 3}})
    assert "'optim'" in _error(tmp_path, overrides={"optim.lr": "1"})


@pytest.mark.parametrize("file_obj, field", [
    ({"train": {"epochs": [3]}}, "train.epochs"),
    ({"train": {"epochs": "three"}}, "train.epochs"),
    ({"train": {"batch_size": 2.5}}, "train.batch_size"),
    ({"train": {"batch_size": True}}, "train.batch_size"),
    ({"logging": {"progress": "maybe"}}, "logging.progress"),
    ({"model": {"encoder": 12}}, "model.encoder"),
])
def test_wrong_type_in_file(tmp_path: Path, file_obj: Any, field: str) -> None:
    assert field in _error(tmp_path, file_obj)


@pytest.mark.parametrize("overrides, field", [
    ({"train.batch_size": "two"}, "train.batch_size"),
    ({"train.lr_new": "fast"}, "train.lr_new"),
    ({"logging.progress": "perhaps"}, "logging.progress"),
])
def test_wrong_type_override(tmp_path: Path, overrides: Any, field: str) -> None:
    assert field in _error(tmp_path, overrides=overrides)


@pytest.mark.parametrize("section, key, value", [
    ("model", "head", "bert"),
    ("kmgre", "fusion", "max"),
    ("kmgre", "key_encoder", "two"),
    ("kmgre", "na_policy", "ignore"),
    ("train", "device", "tpu"),
])
def test_bad_choice(tmp_path: Path, section: str, key: str, value: str) -> None:
    msg = _error(tmp_path, {section: {key: value}})
    assert f"{section}.{key}" in msg and repr(value) in msg
    assert f"{section}.{key}" in _error(tmp_path, overrides={f"{section}.{key}": value})


def test_emb_size_must_be_a_multiple_of_block_size(tmp_path: Path) -> None:
    msg = _error(tmp_path, overrides={"model.emb_size": "100", "model.block_size": "64"})
    assert "model.emb_size" in msg and "model.block_size" in msg


def test_batch_size_below_one(tmp_path: Path) -> None:
    assert "train.batch_size" in _error(tmp_path, overrides={"train.batch_size": "0"})


def test_override_needs_a_section(tmp_path: Path) -> None:
    assert "section.field" in _error(tmp_path, overrides={"epochs": "3"})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{train: 1}", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)
    assert "JSON object" in _error(tmp_path, ["train"])
    assert "'train'" in _error(tmp_path, {"train": 3})


# ---------------------------------------------------------------- document ranges


@pytest.mark.parametrize("spec, n, expected", [
    ("", 10, range(10)),
    ("  ", 10, range(10)),
    (":4", 10, range(0, 4)),
    ("7:", 10, range(7, 10)),
    ("2:5", 10, range(2, 5)),
    (":400", 10, range(0, 10)),  # clipped to the number of documents
    ("400:", 500, range(400, 500)),
    ("-2:", 10, range(8, 10)),
    ("3", 10, range(3, 4)),
    ("::3", 10, range(0, 10, 3)),
])
def test_parse_range(spec: str, n: int, expected: range) -> None:
    assert list(parse_range(spec, n)) == list(expected)


@pytest.mark.parametrize("spec", ["a:b", "1:x", "one"])
def test_parse_range_rejects_non_integers(spec: str) -> None:
    with pytest.raises(ConfigError, match="range"):
        parse_range(spec, 10)


def test_the_configuration_document_lists_every_field_as_the_code_defines_it() -> None:
    """docs/configuration.md ends with the field tables generated from docre/config.py: a field added,
    renamed or re-described in the code without the document fails here (regenerate the tables with
    ``python -c "from docre.config import reference_tables; print(reference_tables())"``)."""
    from docre.config import reference_tables

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    tables = reference_tables()
    assert "### `e2e`" in tables and "| `span_scorer` | `spert` |" in tables and "| `loss` | `atl` |" in tables
    assert doc.endswith(tables), "docs/configuration.md's field tables differ from docre/config.py"
