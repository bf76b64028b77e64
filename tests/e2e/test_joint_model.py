"""The joint model: it learns mentions and clusters on the bundled sample, saves and loads, adds its
losses to the relation head's, and without entity markers one encoder pass feeds every stage."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from docre.data.features import featurize_documents
from docre.data.reader import read_documents
from docre.e2e.evaluate import evaluate_end_to_end
from docre.e2e.extract import extract_chunk, extract_records
from docre.e2e.features import attach_span_features
from docre.e2e.model import JointModel
from docre.errors import ConfigError, DocreError
from docre.models.batch import collate
from docre.models.model import DocREModel, load_tokenizer
from docre.resources import sample_path

#: what the shared tiny model (random tiny BERT, 6 epochs on the 60 training documents) must reach on the
#: sample's 20 dev documents, extracting from their text; measured 52.2 / 42.0 / 38.6 (mention / coreference /
#: entity F1), so the bars leave room for library versions; an untrained model scores 15.8 / 1.6 / 0.0
MENTION_F1_BAR, COREF_F1_BAR, ENTITY_F1_BAR = 45.0, 35.0, 30.0


def test_training_on_the_sample_learns_mentions_and_clusters(trained_joint):
    gold = read_documents(sample_path("dev.json"))
    scores, gold_scores, records, _ = evaluate_end_to_end(trained_joint.model, trained_joint.tokenizer, gold)
    assert scores["mention_f1"] > MENTION_F1_BAR
    assert scores["coref_f1"] > COREF_F1_BAR
    assert scores["entity_f1"] > ENTITY_F1_BAR
    assert scores["num_predicted_mentions"] > 0.5 * scores["num_gold_mentions"]
    assert len(records) == len(gold) and [r["title"] for r in records] == [d.title for d in gold]
    assert gold_scores["num_gold"] == sum(len(d.labels) for d in gold)


def test_an_untrained_joint_model_finds_nothing_useful(tiny_encoder_dir, one_thread):
    """The bar above is learnt: the same architecture untrained scores far below it."""
    model, tok = _untrained(tiny_encoder_dir)
    gold = read_documents(sample_path("dev.json"))
    scores, *_ = evaluate_end_to_end(model, tok, gold)
    # measured 15.8 / 1.6 / 0.0: it calls most single words mentions and links almost nothing
    assert scores["mention_f1"] < MENTION_F1_BAR - 20
    assert scores["coref_f1"] < COREF_F1_BAR - 25 and scores["entity_f1"] < ENTITY_F1_BAR - 25


def test_saved_model_is_a_joint_model_and_extracts_the_same(trained_joint, tmp_path, one_thread):
    assert isinstance(trained_joint.model, JointModel)
    assert trained_joint.model.entity_types == ["LOC", "MISC", "NUM", "ORG", "PER", "TIME"]
    text = [("a", "Tholyan Bacaibosell was born in Glyawu . Glyawu is a town in Jetharnand .")]
    before = extract_chunk(trained_joint.model, trained_joint.tokenizer, text)
    trained_joint.model.save(tmp_path / "again", trained_joint.tokenizer)
    again, tok = DocREModel.load(tmp_path / "again", device="cpu")
    assert isinstance(again, JointModel)
    assert extract_chunk(again, tok, text) == before


def test_mention_and_coreference_layers_have_their_own_learning_rate(tiny_encoder_dir):
    from docre.training.trainer import make_optimizer

    model, _ = _untrained(tiny_encoder_dir)
    model.config.e2e.lr = 3e-3
    groups = {g["name"]: g for g in make_optimizer(model, model.config).param_groups}
    assert groups["e2e"]["lr"] == 3e-3 and groups["new"]["lr"] == model.config.train.lr_new
    e2e = {id(p) for p in groups["e2e"]["params"]}
    assert e2e == {id(p) for p in [*model.spans.parameters(), *model.coref.parameters()]}
    assert not e2e & {id(p) for p in groups["new"]["params"]} and not e2e & {id(p) for p in groups["encoder"]["params"]}


def test_joint_model_needs_an_entity_type_inventory(tiny_encoder_dir):
    with pytest.raises(ConfigError, match="entity_types"):
        _untrained(tiny_encoder_dir, types=[])


def test_training_loss_adds_weighted_mention_and_coreference_losses(tiny_encoder_dir, one_thread):
    docs = read_documents(sample_path("train.json"))[:2]
    model, tok = _untrained(tiny_encoder_dir, dropout=0.0)
    batch = _batch(model, tok, docs)
    model.train()
    torch.manual_seed(0)
    out = model(batch)
    assert {"loss_mention", "loss_coref", "loss_theta"} <= set(out.stats)
    total = out.stats["loss_theta"] + out.stats["loss_mention"] + out.stats["loss_coref"]
    assert float(out.loss.detach()) == pytest.approx(total, rel=1e-5)
    model.config.e2e.loss_mention, model.config.e2e.loss_coref, model.config.e2e.loss_relation = 0.0, 2.0, 0.5
    torch.manual_seed(0)
    out2 = model(batch)
    assert float(out2.loss.detach()) == pytest.approx(0.5 * out2.stats["loss_theta"] + 2.0 * out2.stats["loss_coref"], rel=1e-5)
    out2.loss.backward()
    assert model.coref.project.weight.grad is not None and model.spans.classifier[0].weight.grad is None
    # in evaluation a joint model is the relation model: no extraction losses
    model.eval()
    assert "loss_mention" not in model(batch).stats


def test_kmgre_head_in_a_joint_model(tiny_encoder_dir, one_thread):
    """KMGRE's phases: extraction losses join every phase that trains the encoder, not the E-step."""
    docs = read_documents(sample_path("train.json"))[:2]
    model, tok = _untrained(tiny_encoder_dir, head="kmgre")
    batch = _batch(model, tok, docs)
    model.train()
    for phase, with_extraction in (("warmup", True), ("joint", True), ("m", True), ("e", False)):
        out = model(batch, phase=phase)
        assert ("loss_mention" in out.stats) == with_extraction, phase
        assert torch.isfinite(out.loss)


def test_without_markers_one_pass_gives_the_relation_logits_of_a_second(tiny_encoder_dir, one_thread):
    """data.entity_markers false: the relation logits computed from the mention-detection pass equal those of
    a separate forward over the same (markerless) features."""
    docs = read_documents(sample_path("dev.json"))[:3]
    model, tok = _untrained(tiny_encoder_dir, markers=False)
    model.eval()
    feats = featurize_documents(docs, tok, model.relations, 0, markers=False)
    views = attach_span_features(docs, feats, tok, model.relations, model.config)
    batch = collate(feats, model.relations.num_classes)
    batch.labels = [None] * len(feats)
    with torch.no_grad():
        separate = model(batch, phase="eval").logits
        encoded = model.encode_span_views([v.span_view for v in views], [f.input_ids for f in feats])
        shared = model.relation_logits_from_span_pass(encoded, [v.span_view for v in views], batch)
    for a, b in zip(separate, shared):
        assert a.shape == b.shape and a.shape[0] > 0
        assert torch.allclose(a, b, atol=1e-5)


def test_markerless_model_trains_and_extracts(tiny_encoder_dir, tmp_path, one_thread):
    from conftest import tiny_config
    from docre.training import train

    cfg = tiny_config(tiny_encoder_dir, tmp_path / "run", sample_path("train.json"), **{
        "model.task": "end_to_end", "data.entity_markers": False, "data.dev_file": str(sample_path("dev.json")),
        "data.dev_range": ":4", "data.train_range": ":8", "train.epochs": 1,
        "data.relations_file": str(sample_path("relations.json")), "train.select_metric": "e2e"})
    result = train(cfg)
    m = result.best_metrics
    assert {"e2e", "e2e_mention_f1", "e2e_coref_f1", "e2e_relation_strict_f1", "f1"} <= set(m)
    model, tok = DocREModel.load(tmp_path / "run" / "best_model", device="cpu")
    assert model.config.data.entity_markers is False
    recs = list(extract_records(model, tok, [("x", "Glyawu is a town in Jetharnand .")]))
    assert recs[0]["id"] == "x" and recs[0]["sents"] == [["Glyawu", "is", "a", "town", "in", "Jetharnand", "."]]


def test_a_relation_model_cannot_extract(tiny_encoder_dir):
    from docre.config import load_config
    from docre.data.relations import RelationInventory

    cfg = load_config(overrides={"model.encoder": str(tiny_encoder_dir), "model.emb_size": 32, "model.block_size": 8})
    tok = load_tokenizer(str(tiny_encoder_dir))
    model = DocREModel.build(cfg, RelationInventory.from_relations(["P17"]), tok)
    assert not isinstance(model, JointModel)
    with pytest.raises(DocreError, match="model.task end_to_end"):
        list(extract_records(model, tok, [("a", "Some text .")]))


def test_select_metric_e2e_needs_the_end_to_end_task(tiny_encoder_dir):
    from docre.config import load_config

    with pytest.raises(ConfigError, match="end_to_end"):
        load_config(overrides={"train.select_metric": "e2e"})
    load_config(overrides={"train.select_metric": "e2e", "model.task": "end_to_end"})


# ---------------------------------------------------------------------------- helpers
def _untrained(encoder_dir: Path, types=("LOC", "MISC", "NUM", "ORG", "PER", "TIME"), dropout: float = 0.1,
               markers: bool = True, head: str = "atlop"):
    from docre.config import load_config
    from docre.data.relations import RelationInventory

    cfg = load_config(overrides={"model.encoder": str(encoder_dir), "model.emb_size": 32, "model.block_size": 8,
                                 "model.task": "end_to_end", "e2e.entity_types": ",".join(types),
                                 "e2e.dropout": dropout, "data.entity_markers": markers, "model.head": head})
    tok = load_tokenizer(str(encoder_dir))
    torch.manual_seed(0)
    rel = RelationInventory.from_file(sample_path("relations.json"))
    return DocREModel.build(cfg, rel, tok), tok


def _batch(model, tok, docs):
    feats = featurize_documents(docs, tok, model.relations, 0)
    joint = attach_span_features(docs, feats, tok, model.relations, model.config)
    return collate(joint, model.relations.num_classes)


def test_prediction_featurizes_as_the_model_was_trained(tiny_encoder_dir, one_thread):
    """docre predict / submit on a model trained without entity markers read markerless features: the
    triples and scores equal those of the model's own forward over markerless features (with markers the
    model sees inputs it never saw in training)."""
    from docre.inference import predict
    from docre.streaming import predict_documents

    docs = read_documents(sample_path("dev.json"))[:3]
    model, tok = _untrained(tiny_encoder_dir, markers=False)
    model.eval()
    expected, _ = predict(model, featurize_documents(docs, tok, model.relations, 0, markers=False), 2)
    marked, _ = predict(model, featurize_documents(docs, tok, model.relations, 0, markers=True), 2)
    got = [t for p in predict_documents(model, tok, docs, 0, 2, 8) for t in p.triples]
    key = lambda t: (t["title"], t["h_idx"], t["t_idx"], t["r"])  # noqa: E731
    assert expected and sorted(map(key, got)) == sorted(map(key, expected))
    assert [round(t["score"], 5) for t in sorted(got, key=key)] == [round(t["score"], 5) for t in sorted(expected, key=key)]
    assert sorted(map(key, marked)) != sorted(map(key, expected)) or \
        [t["score"] for t in sorted(marked, key=key)] != [t["score"] for t in sorted(expected, key=key)]
