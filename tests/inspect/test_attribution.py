"""Attribution records against the model itself: tiny KMGRE / ATLOP models trained on the fixture documents.

(No ``__init__.py`` in this folder: a package named ``inspect`` would shadow the standard
library's. The helpers here are imported by the other test files of the folder.)
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import FIXTURES, tiny_config
from docre.data.features import featurize_documents
from docre.data.reader import read_documents
from docre.errors import DocreError
from docre.inference import predict
from docre.inspect.attribution import (
    SCHEMA_VERSION, RecordSchemaError, aggregate, context_weights, explain_documents, format_aggregate,
    key_pair_shares, token_words, validate_record, validate_records,
)
from docre.models.batch import collate

DOCS_PATH = FIXTURES / "docs.json"
ATOL = 1e-4
_TRAINED: dict[Any, tuple[Any, Any, Path]] = {}


def trained_model(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path, head: str = "kmgre",
                  **overrides: Any) -> tuple[Any, Any, Path]:
    """A tiny model trained until it predicts most fixture triples (about 3 s on CPU), saved
    into a model directory; cached for the session. Returns (model in eval mode, tokenizer, dir).

    KMGRE: one warm-up epoch, then both losses every step (``em_period = -1``); ``xi = 0``
    makes K the mention pairs at or above the bag's mean p_omega, so some K hold several pairs.
    The model of the last step is saved (the trainer's best_model may be one from the warm-up).
    """
    from docre.models.model import load_tokenizer
    from docre.training import train

    key = (head, tuple(sorted(overrides.items())))
    if key not in _TRAINED:
        out = tmp_path_factory.mktemp(f"inspect_{head}")
        cfg = tiny_config(encoder_dir, out / "run", DOCS_PATH, **{
            "model.head": head, "kmgre.warmup_epochs": 1, "kmgre.em_period": -1, "kmgre.xi": 0.0,
            "train.epochs": 30, "train.lr_encoder": 3e-3, "train.lr_new": 3e-3,
            "train.num_threads": 1, **overrides})  # tiny matrices: one thread is fastest
        threads = torch.get_num_threads()
        try:
            result = train(cfg)
        finally:
            torch.set_num_threads(threads)
        model = result.model.eval()
        if head == "kmgre" and cfg.kmgre.warmup_epochs < cfg.train.epochs:
            assert bool(model.head.em_started), "the KMGRE fixture model should have left its warm-up"
        tok = load_tokenizer(str(encoder_dir))
        model.save(out / "model", tok)
        _TRAINED[key] = (model, tok, out / "model")
    return _TRAINED[key]


def model_details(model: Any, feat: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    """The model's own forward pass on one document: entity logits [E, C] and the head's details."""
    batch = collate([feat], model.relations.num_classes)
    batch.labels = [None]
    with torch.inference_mode():
        out = model(batch, phase="eval", return_details=True)
    return out.logits[0].float(), out.details[0]


def key_mentions(pairs: list[dict[str, Any]]) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    return {((p["head"]["entity"], p["head"]["mention"]), (p["tail"]["entity"], p["tail"]["mention"]))
            for p in pairs if p["key"]}


@pytest.fixture(scope="module")
def docs() -> list:
    return read_documents(DOCS_PATH)


@pytest.fixture(scope="module")
def kmgre(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> tuple[Any, Any, Path]:
    return trained_model(tmp_path_factory, tiny_encoder_dir, "kmgre")


@pytest.fixture(scope="module")
def atlop(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> tuple[Any, Any, Path]:
    return trained_model(tmp_path_factory, tiny_encoder_dir, "atlop")


@pytest.fixture(scope="module", params=["logsumexp", "mean"])
def kmgre_fusion(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 tiny_encoder_dir: Path) -> tuple[Any, Any, Path]:
    # the paper's fusion alone: the record's logit is then the key pairs' fused logit
    return trained_model(tmp_path_factory, tiny_encoder_dir, "kmgre", **{"kmgre.fusion": request.param,
                                                                          "kmgre.add_entity_logit": False})


@pytest.fixture(scope="module")
def kmgre_records(kmgre: tuple, docs: list) -> list[dict[str, Any]]:
    model, tok, _ = kmgre
    return explain_documents(model, tok, docs, top_k=0)


# ------------------------------------------------------------------------------ KMGRE records
def test_every_predicted_triple_has_a_record_and_every_record_a_reason(kmgre: tuple, docs: list,
                                                                       kmgre_records: list) -> None:
    model, tok, _ = kmgre
    feats = featurize_documents(docs, tok, model.relations, model.config.data.max_seq_length)
    triples, _ = predict(model, feats)
    assert triples, "the fixture model should predict something"
    predicted = {(t["title"], t["h_idx"], t["t_idx"], t["r"]) for t in triples}
    recorded = {(rec["title"], tr["h"], tr["t"], tr["r"]) for rec in kmgre_records for tr in rec["triples"]
                if tr["predicted"]}
    assert recorded == predicted
    validate_records(kmgre_records)
    assert [r["title"] for r in kmgre_records] == [d.title for d in docs]
    assert all(r["schema_version"] == SCHEMA_VERSION and r["attribution"] == "key_pairs" for r in kmgre_records)
    statuses = {tr["status"] for rec in kmgre_records for tr in rec["triples"]}
    assert "tp" in statuses and statuses <= {"tp", "fp", "fn"}


def test_gold_status_and_document_scores(kmgre_records: list, docs: list) -> None:
    from docre.evaluation.official import official_scores

    for rec, doc in zip(kmgre_records, docs):
        gold = {(f.h, f.t, f.r) for f in doc.labels}
        for tr in rec["triples"]:
            in_gold = (tr["h"], tr["t"], tr["r"]) in gold
            assert tr["status"] == ("tp" if tr["predicted"] and in_gold else "fp" if tr["predicted"] else "fn")
            assert in_gold or tr["predicted"]
            if tr["predicted"]:
                assert tr["margin"] > 0
        missed = gold - {(tr["h"], tr["t"], tr["r"]) for tr in rec["triples"] if tr["predicted"]}
        assert {(tr["h"], tr["t"], tr["r"]) for tr in rec["triples"] if tr["status"] == "fn"} == missed
        preds = [{"title": doc.title, "h_idx": tr["h"], "t_idx": tr["t"], "r": tr["r"]}
                 for tr in rec["triples"] if tr["predicted"]]
        official = official_scores(preds, [doc])
        for k in ("precision", "recall", "f1"):
            assert rec["scores"][k] == pytest.approx(official[k])
        assert rec["scores"]["tp"] == official["num_correct"]


def test_statuses_follow_the_gold_labels(kmgre: tuple, docs: list) -> None:
    """Edit the gold labels around the model's predictions: a predicted triple taken out of the
    gold becomes FP, a gold triple the model does not predict is listed as FN (with its logits
    and mention pairs), and ``only`` selects each."""
    from docre.data.documents import Fact

    model, tok, _ = kmgre
    doc = copy.deepcopy(docs[0])
    rec = explain_documents(model, tok, [doc])[0]
    predicted = [(t["h"], t["r"], t["t"]) for t in rec["triples"] if t["predicted"]]
    gold = {(f.h, f.r, f.t) for f in doc.labels}
    dropped = predicted[0]
    added = next((h, r, t) for h, t in doc.entity_pairs() for r in model.relations.ids[1:]
                 if (h, r, t) not in gold and (h, r, t) not in predicted)
    doc.labels = [f for f in doc.labels if (f.h, f.r, f.t) != dropped] + [Fact(added[0], added[2], added[1])]
    rec = explain_documents(model, tok, [doc], top_k=0)[0]
    validate_record(rec)
    status = {(t["h"], t["r"], t["t"]): t for t in rec["triples"]}
    assert status[dropped]["status"] == "fp" and status[added]["status"] == "fn"
    fn = status[added]
    assert not fn["predicted"] and fn["mention_pairs"] and fn["num_key_pairs"] >= 1
    assert rec["scores"]["fp"] >= 1 and rec["scores"]["fn"] >= 1
    for only, triple in (("fp", dropped), ("fn", added)):
        kept = explain_documents(model, tok, [doc], only=only)[0]["triples"]
        assert triple in {(t["h"], t["r"], t["t"]) for t in kept} and all(t["status"] == only for t in kept)


def test_key_set_in_record_equals_the_models_key_set(kmgre: tuple, docs: list, kmgre_records: list) -> None:
    model, tok, _ = kmgre
    feats = featurize_documents(docs, tok, model.relations, model.config.data.max_seq_length)
    checked = 0
    for rec, feat in zip(kmgre_records, feats):
        if not rec["triples"]:
            continue
        _, det = model_details(model, feat)
        assert det["entity_level"] is False
        for tr in rec["triples"]:
            j = feat.entity_pairs.index((tr["h"], tr["t"]))
            rows = (det["pair_index"] == j).nonzero().squeeze(1).tolist()
            ref = feat.mention_ref
            expected = {(tuple(ref[int(det["head_mention"][i])]), tuple(ref[int(det["tail_mention"][i])]))
                        for i in rows if bool(det["key"][i])}
            assert key_mentions(tr["mention_pairs"]) == expected
            assert tr["num_key_pairs"] == len(expected) and tr["num_mention_pairs"] == len(rows)
            by_pair = {((p["head"]["entity"], p["head"]["mention"]), (p["tail"]["entity"], p["tail"]["mention"])): p
                       for p in tr["mention_pairs"]}
            c = model.relations.index(tr["r"])
            for i in rows:
                p = by_pair[(tuple(ref[int(det["head_mention"][i])]), tuple(ref[int(det["tail_mention"][i])]))]
                assert p["p_omega"] == pytest.approx(float(det["p_omega"][i]), abs=1e-6)
                assert p["logit"] == pytest.approx(float(det["mention_logits"][i, c]), abs=1e-6)
                assert p["prob"] == pytest.approx(1 / (1 + math.exp(-p["logit"])), abs=1e-6)
            checked += 1
    assert checked
    assert any(tr["num_key_pairs"] > 1 for rec in kmgre_records for tr in rec["triples"]), \
        "the fixture should give some key set of several pairs"


def test_fused_logit_recomputes_from_the_record(kmgre_fusion: tuple, docs: list) -> None:
    model, tok, _ = kmgre_fusion
    fusion = model.config.kmgre.fusion
    records = explain_documents(model, tok, docs, top_k=1)  # top_k never drops a key pair
    n = 0
    for rec in records:
        assert rec["fusion"] == fusion
        for tr in rec["triples"]:
            key = [p for p in tr["mention_pairs"] if p["key"]]
            ls = [p["logit"] for p in key]
            top = max(ls)
            fused = sum(ls) / len(ls) if fusion == "mean" else top + math.log(sum(math.exp(x - top) for x in ls))
            assert fused == pytest.approx(tr["logit"], abs=ATOL)
            assert sum(p["share"] for p in key) == pytest.approx(1.0, abs=1e-9)
            for p in key:
                expected = 1 / len(key) if fusion == "mean" else math.exp(p["logit"] - fused)
                assert p["share"] == pytest.approx(expected, abs=1e-6)
            assert all(p["share"] == 0.0 for p in tr["mention_pairs"] if not p["key"])
            n += 1
    assert n


def test_entity_logits_in_records_equal_predicts(kmgre: tuple, atlop: tuple, docs: list) -> None:
    for model, tok, _ in (kmgre, atlop):
        feats = featurize_documents(docs, tok, model.relations, model.config.data.max_seq_length)
        _, logits = predict(model, feats, batch_size=2, return_logits=True)
        records = explain_documents(model, tok, docs, batch_size=3)
        for rec, feat, lg in zip(records, feats, logits):
            for tr in rec["triples"]:
                j = feat.entity_pairs.index((tr["h"], tr["t"]))
                c = model.relations.index(tr["r"])
                assert tr["logit"] == pytest.approx(float(lg[j, c]), abs=1e-5)
                assert tr["threshold_logit"] == pytest.approx(float(lg[j, 0]), abs=1e-5)
                assert tr["margin"] == pytest.approx(tr["logit"] - tr["threshold_logit"], abs=1e-9)


# ------------------------------------------------------------------------------ ATLOP records
def test_atlop_records_carry_context_words(atlop: tuple, docs: list) -> None:
    model, tok, _ = atlop
    records = explain_documents(model, tok, docs, top_k=4)
    validate_records(records)
    n = 0
    for rec in records:
        assert rec["attribution"] == "context" and rec["fusion"] is None
        words = [w for s in rec["sents"] for w in s]
        for tr in rec["triples"]:
            assert tr["mention_pairs"] is None and tr["num_key_pairs"] is None
            ctx = tr["context_tokens"]
            assert 0 < len(ctx) <= 4
            weights = [c["weight"] for c in ctx]
            assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
            for c in ctx:
                assert c["text"] == words[c["word"]] == rec["sents"][c["sent_id"]][c["pos"]]
            n += 1
    assert n


def test_context_words_sum_the_pooling_weights(atlop: tuple, docs: list) -> None:
    """With top_k = 0 the word weights are q summed per word: they add up to q's total over
    non-special tokens, and the heaviest word holds the heaviest subword."""
    from docre.models.pooling import pool_entities

    model, tok, _ = atlop
    doc = docs[0]
    rec = explain_documents(model, tok, [doc], top_k=0)[0]
    feat = featurize_documents([doc], tok, model.relations, model.config.data.max_seq_length)[0]
    with torch.inference_mode():
        enc = model.encoder([torch.tensor(feat.input_ids)], [torch.tensor(feat.mention_pos)])[0]
        _, ent_att = pool_entities(enc.hidden[feat.mention_pos], enc.query_att, feat.entity_mentions)
    tr = rec["triples"][0]
    q = context_weights(ent_att[tr["h"]:tr["h"] + 1], ent_att[tr["t"]:tr["t"] + 1])[0]
    inner = float(q[1:-1].sum())
    assert sum(c["weight"] for c in tr["context_tokens"]) == pytest.approx(inner, abs=1e-5)
    per_word: dict[int, float] = {}
    for p, w in enumerate(token_words(feat)):
        if w >= 0:
            per_word[w] = per_word.get(w, 0.0) + float(q[p])
    assert {c["word"]: c["weight"] for c in tr["context_tokens"]} == pytest.approx(
        {w: v for w, v in per_word.items() if v > 0}, abs=1e-6)


def test_token_words_maps_subwords_and_markers(kmgre: tuple, docs: list) -> None:
    _, tok, _ = kmgre
    model = kmgre[0]
    feat = featurize_documents(docs[:1], tok, model.relations, 1024)[0]
    tw = token_words(feat)
    assert tw[0] == -1 and tw[-1] == -1
    for w, p in enumerate(feat.word_pos):
        assert tw[p] == w  # first subword of each word
    doc = docs[0]
    offsets = [sum(len(s) for s in doc.sents[:i]) for i in range(len(doc.sents))]
    for m, (e, k) in zip(feat.mention_pos, feat.mention_ref):
        men = doc.entities[e].mentions[k]
        assert tw[m] == offsets[men.sent_id] + men.start  # the opening marker belongs to the mention's first word
    assert sorted(set(tw[1:-1])) == list(range(len(feat.word_pos)))


# ------------------------------------------------------------------------------ filters
def test_filters_only_relation_and_top_k(kmgre: tuple, docs: list, kmgre_records: list) -> None:
    model, tok, _ = kmgre
    everything = {(r["title"], t["h"], t["r"], t["t"]): t for r in kmgre_records for t in r["triples"]}
    for status in ("tp", "fp", "fn"):
        recs = explain_documents(model, tok, docs, only=status, top_k=0)
        got = {(r["title"], t["h"], t["r"], t["t"]) for r in recs for t in r["triples"]}
        assert got == {k for k, t in everything.items() if t["status"] == status}
        assert [r["scores"] for r in recs] == [r["scores"] for r in kmgre_records]  # scores: whole documents
        assert all(r["filters"]["only"] == status for r in recs)
    rel = next(iter(everything.values()))["r"]
    recs = explain_documents(model, tok, docs, relation=rel, top_k=0)
    got = {(r["title"], t["h"], t["r"], t["t"]) for r in recs for t in r["triples"]}
    assert got == {k for k in everything if k[2] == rel}

    for top_k in (1, 2):
        recs = explain_documents(model, tok, docs, top_k=top_k)
        for r in recs:
            for t in r["triples"]:
                full = everything[(r["title"], t["h"], t["r"], t["t"])]
                ranks = [p["rank"] for p in t["mention_pairs"]]
                assert ranks == sorted(ranks)
                expected = [p for p in sorted(full["mention_pairs"], key=lambda p: p["rank"])
                            if p["key"] or p["rank"] < top_k]
                assert t["mention_pairs"] == expected  # top_k by p_omega, plus every key pair
                assert t["num_mention_pairs"] == full["num_mention_pairs"]
    for t in everything.values():  # rank orders by p_omega, highest first
        omegas = [p["p_omega"] for p in sorted(t["mention_pairs"], key=lambda p: p["rank"])]
        assert omegas == sorted(omegas, reverse=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"only": "tn"}, "only must be one of"),
    ({"relation": "P9999"}, "P9999"),
    ({"relation": "Na"}, "'Na'"),
    ({"top_k": -1}, "top_k"),
])
def test_bad_filters_are_user_errors(kmgre: tuple, docs: list, kwargs: dict, message: str) -> None:
    model, tok, _ = kmgre
    with pytest.raises(DocreError, match=message):
        explain_documents(model, tok, docs, **kwargs)


# ------------------------------------------------------------------------------ other documents
def test_unlabelled_documents_have_no_status(kmgre: tuple, docs: list) -> None:
    model, tok, _ = kmgre
    bare = [copy.copy(d) for d in docs]
    for d in bare:
        d.labels = None
    recs = explain_documents(model, tok, bare)
    validate_records(recs)
    assert all(r["has_gold"] is False and r["scores"] is None for r in recs)
    assert all(t["status"] is None and t["predicted"] for r in recs for t in r["triples"])
    agg = aggregate(recs)
    assert agg["micro"] is None and agg["triples"]["tp"] == 0 and agg["triples"]["predicted"] > 0
    assert "with gold" in format_aggregate(agg)


def test_truncated_entities_get_a_virtual_mention(kmgre: tuple, docs: list) -> None:
    """An entity whose every mention lies past max_seq_length is scored from a zero mention;
    its mention pairs say so instead of failing."""
    model, tok, _ = kmgre
    saved = model.config.data.max_seq_length
    model.config.data.max_seq_length = 16  # cuts the first document after a dozen subwords
    try:
        recs = explain_documents(model, tok, docs[:1], top_k=0)
    finally:
        model.config.data.max_seq_length = saved
    validate_records(recs)
    rec = recs[0]
    assert any(not m["kept"] for e in rec["entities"] for m in e["mentions"])
    virtual = [p for t in rec["triples"] for p in t["mention_pairs"]
               for m in (p["head"], p["tail"]) if m["mention"] == -1]
    assert virtual  # e.g. the gold (Marel Tovik, P108, Brightwater Mills): Brightwater Mills is cut off
    for p in virtual:
        assert p["same_sentence"] is False


def test_kmgre_still_in_entity_level_warm_up_explains_by_context(
        tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path, docs: list) -> None:
    """Before its EM phase a KMGRE model scores entity pairs at entity level: the record says
    so and carries context words; the mention pairs are listed for their p_omega only."""
    model, tok, _ = trained_model(tmp_path_factory, tiny_encoder_dir, "kmgre",
                                  **{"kmgre.warmup_epochs": 100, "train.epochs": 4})
    assert not bool(model.head.em_started)
    records = explain_documents(model, tok, docs, top_k=3)
    validate_records(records)
    feats = featurize_documents(docs, tok, model.relations, model.config.data.max_seq_length)
    _, logits = predict(model, feats, return_logits=True)
    n = 0
    for rec, feat, lg in zip(records, feats, logits):
        assert rec["attribution"] == "context"
        for tr in rec["triples"]:
            assert 0 < len(tr["context_tokens"]) <= 3 and tr["mention_pairs"]
            j = feat.entity_pairs.index((tr["h"], tr["t"]))
            assert tr["logit"] == pytest.approx(float(lg[j, model.relations.index(tr["r"])]), abs=1e-5)
            n += 1
    assert n  # gold triples at least (as fn)


def test_pipeline_explain_returns_one_record(kmgre: tuple, docs: list) -> None:
    from docre.pipeline import Pipeline

    model, tok, _ = kmgre
    rec = Pipeline(model, tok).explain(docs[1].to_json(), top_k=3)
    validate_record(rec)
    assert rec["title"] == docs[1].title and rec["filters"]["top_k"] == 3


# ------------------------------------------------------------------------------ schema, aggregate
def test_schema_validation_names_the_problem(kmgre_records: list) -> None:
    rec = next(r for r in kmgre_records if r["triples"])
    validate_record(rec)
    broken = copy.deepcopy(rec)
    del broken["triples"][0]["margin"]
    with pytest.raises(RecordSchemaError, match=r"triples\[0\]: missing field 'margin'"):
        validate_record(broken)
    broken = copy.deepcopy(rec)
    broken["triples"][0]["mention_pairs"][0]["p_omega"] = "high"
    with pytest.raises(RecordSchemaError, match="p_omega: expected number"):
        validate_record(broken)
    broken = copy.deepcopy(rec)
    broken["triples"][0]["status"] = "maybe"
    with pytest.raises(RecordSchemaError, match="status"):
        validate_record(broken)
    broken = copy.deepcopy(rec)
    for p in broken["triples"][0]["mention_pairs"]:
        p["share"] = 0.0
    with pytest.raises(RecordSchemaError, match="shares"):
        validate_record(broken)
    broken = copy.deepcopy(rec)
    broken["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(RecordSchemaError, match="schema_version"):
        validate_record(broken)
    with pytest.raises(RecordSchemaError):
        validate_records({"documents": []})


def test_aggregate_counts_by_hand(kmgre_records: list) -> None:
    agg = aggregate(kmgre_records)
    predicted = [t for r in kmgre_records for t in r["triples"] if t["predicted"]]
    sizes = [sum(p["key"] for p in t["mention_pairs"]) for t in predicted]
    key = [p for t in predicted for p in t["mention_pairs"] if p["key"]]
    assert agg["documents"] == len(kmgre_records)
    assert agg["triples"]["predicted"] == len(predicted)
    assert agg["key_sets"]["triples"] == len(predicted)
    assert agg["key_sets"]["single"] == sizes.count(1)
    assert agg["key_sets"]["several"] == sum(1 for s in sizes if s > 1)
    assert agg["key_sets"]["mean_size"] == pytest.approx(sum(sizes) / len(sizes))
    assert agg["key_pairs"]["intra_sentence"] == sum(p["same_sentence"] for p in key)
    assert agg["key_pairs"]["inter_sentence"] == sum(not p["same_sentence"] for p in key)
    cross = {c["r"]: c for c in agg["cross_sentence_relations"]}
    for r in {t["r"] for t in predicted}:
        ts = [t for t in predicted if t["r"] == r]
        inter_only = sum(all(not p["same_sentence"] for p in t["mention_pairs"] if p["key"]) for t in ts)
        assert cross.get(r, {"inter_only": 0})["inter_only"] == inter_only
    tp = sum(r["scores"]["tp"] for r in kmgre_records)
    fp = sum(r["scores"]["fp"] for r in kmgre_records)
    assert agg["micro"]["precision"] == pytest.approx(100.0 * tp / (tp + fp))
    text = format_aggregate(agg)
    assert "single mention pair" in text and "across" in text


def test_key_pair_shares_by_hand() -> None:
    logits = torch.tensor([1.0, 2.0, 0.5, 3.0])
    key = torch.tensor([True, True, False, False])
    s = key_pair_shares(logits, key, "logsumexp")
    e1, e2 = math.exp(1.0), math.exp(2.0)
    assert s.tolist() == pytest.approx([e1 / (e1 + e2), e2 / (e1 + e2), 0.0, 0.0])
    assert key_pair_shares(logits, key, "mean").tolist() == [0.5, 0.5, 0.0, 0.0]
