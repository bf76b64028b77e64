"""Config of the end-to-end task: model.task, data.entity_markers, the e2e section; the feature cache
keeps marked and markerless features apart."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.config import config_from_dict, load_config
from docre.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_leave_relation_models_as_they_were():
    cfg = load_config()
    assert cfg.model.task == "relation" and cfg.data.entity_markers is True
    assert cfg.e2e.entity_types == [] and cfg.e2e.max_span_width == 10
    # a model directory saved before the e2e section existed still loads
    old = cfg.to_dict()
    del old["e2e"]
    assert config_from_dict(old).e2e.neg_spans == 200


def test_entity_types_from_json_and_from_the_command_line(tmp_path):
    assert load_config(overrides={"e2e.entity_types": "PER, ORG,LOC"}).e2e.entity_types == ["PER", "ORG", "LOC"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"e2e": {"entity_types": ["A", "B"]}}))
    cfg = load_config(path)
    assert cfg.e2e.entity_types == ["A", "B"]
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))).e2e.entity_types == ["A", "B"]


@pytest.mark.parametrize("section, values, message", [
    ("model", {"task": "ner"}, "model.task"),
    ("e2e", {"entity_types": "PER"}, "expected a list of strings"),
    ("e2e", {"entity_types": ["PER", "PER"]}, "distinct"),
    ("e2e", {"entity_types": [1]}, "expected a list of strings"),
    ("e2e", {"max_span_width": 0}, "e2e.max_span_width"),
    ("e2e", {"neg_spans": -2}, "e2e.neg_spans"),
    ("e2e", {"mention_threshold": 1.5}, "e2e.mention_threshold"),
    ("e2e", {"coref_threshold": -0.1}, "e2e.coref_threshold"),
    ("e2e", {"linkage": "ward"}, "e2e.linkage"),
    ("e2e", {"loss_coref": -1.0}, "e2e.loss_coref"),
    ("e2e", {"spans": 3}, "unknown field e2e.spans"),
    ("data", {"entity_markers": "no"}, "expected true/false"),
])
def test_bad_values_name_the_field_and_the_file(tmp_path, section, values, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({section: values}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)


def test_the_bundled_configs_load():
    for name in ("demo_end_to_end.json", "redocred_dev400_minilm_e2e.json", "dwie_minilm_e2e.json"):
        cfg = load_config(CONFIGS / name)
        assert cfg.model.task == "end_to_end" and cfg.train.select_metric == "e2e"


def test_feature_cache_keeps_marked_and_markerless_apart(tmp_path, tiny_encoder_dir):
    from docre.data.features import load_features
    from docre.data.reader import read_documents
    from docre.data.relations import RelationInventory
    from docre.models.model import load_tokenizer
    from docre.resources import sample_path

    tok = load_tokenizer(str(tiny_encoder_dir))
    docs = read_documents(sample_path("dev.json"))[:2]
    rel = RelationInventory.from_relations([])
    marked = load_features(docs, "h", tok, rel, 512, tmp_path)
    plain = load_features(docs, "h", tok, rel, 512, tmp_path, markers=False)
    assert len(list(tmp_path.glob("features-*.json"))) == 2
    assert len(plain[0].input_ids) < len(marked[0].input_ids)
    assert load_features(docs, "h", tok, rel, 512, tmp_path, markers=False)[0].input_ids == plain[0].input_ids
