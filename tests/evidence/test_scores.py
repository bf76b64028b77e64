"""The evidence math against hand computations: sentence spans, attention per sentence, key-pair
shares, the threshold rule, the simple rule, the KL loss and the dev calibration."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from docre.data import read_documents
from docre.data.features import featurize_documents
from docre.data.relations import RelationInventory
from docre.errors import DataError
from docre.evidence.attach import PARTS_KEY, apply_evidence, combine_parts, rule_evidence_for
from docre.evidence.calibrate import choose_evidence_settings
from docre.evidence.loss import document_evidence_targets, evidence_kl, evidence_loss
from docre.evidence.scores import (attention_per_sentence, key_pair_sentence_scores, pair_token_attention,
                                   rule_evidence, select_sentences, sentence_of_positions, token_sentence_index)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "docs.json"


def test_token_sentence_index_and_attention_per_sentence() -> None:
    idx = token_sentence_index([(1, 3), (3, 6)], 7)  # CLS at 0, SEP at 6
    assert idx.tolist() == [-1, 0, 0, 1, 1, 1, -1]
    q = torch.tensor([[0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1]])
    out = attention_per_sentence(q, idx, 2)
    assert out[0].tolist() == pytest.approx([0.5, 0.3])  # CLS and SEP weights fall in no sentence


def test_pair_token_attention_is_atlop_localized_context() -> None:
    # two heads, four positions; entity 0 = mentions {0, 1} (mean), entity 1 = mention {2}
    att = torch.tensor([[[1., 0, 0, 0], [0, 1, 0, 0]],
                        [[0, 1., 0, 0], [0, 1, 0, 0]],
                        [[.5, .5, 0, 0], [0, 0, .5, .5]]])
    q = pair_token_attention(att, [[0, 1], [2]], torch.tensor([0]), torch.tensor([1]), eps=0.0)
    a0 = att[[0, 1]].mean(0)
    r = (a0 * att[2]).mean(0)
    assert q[0].tolist() == pytest.approx((r / r.sum()).tolist())
    assert q[0].tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])


def test_key_pair_scores_weight_pairs_by_their_share_of_the_logsumexp() -> None:
    # logits 0 and ln 3: softmax shares 1/4 and 3/4; pair 1 in sentences (0, 2), pair 2 within sentence 1
    s = key_pair_sentence_scores(torch.tensor([0.0, math.log(3.0)]), [0, 1], [2, 1], 3)
    assert s.tolist() == pytest.approx([0.25, 0.75, 0.25])
    assert key_pair_sentence_scores(torch.zeros(0), [], [], 2).tolist() == [0.0, 0.0]


def test_threshold_rule_and_simple_rule() -> None:
    assert select_sentences([0.1, 0.5, 0.2, 0.19], 0.2) == [1, 2]
    assert rule_evidence({0, 2}, {2, 3}) == [2]
    assert rule_evidence({0}, {3, 1}) == [0, 1, 3]


def test_combine_parts_mixes_key_pairs_and_attention() -> None:
    parts = {"attention": [0.6, 0.4], "key_pairs": [0.0, 1.0]}
    assert combine_parts(parts, 0.25) == pytest.approx([0.45, 0.55])
    assert combine_parts({"attention": [0.3]}, 0.9) == [0.3]


def test_features_locate_sentences_and_gold_evidence(tiny_encoder_dir: Path) -> None:
    from docre.models.model import load_tokenizer

    docs = read_documents(FIXTURE)
    rel = RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])
    feats = featurize_documents(docs, load_tokenizer(str(tiny_encoder_dir)), rel)
    for doc, feat in zip(docs, feats):
        assert len(feat.sent_pos) == len(doc.sents)
        # every mention's marker lies inside its sentence's span
        sents = sentence_of_positions(feat.sent_pos, feat.mention_pos)
        assert sents == [doc.entities[e].mentions[k].sent_id for e, k in feat.mention_ref]
        spans = feat.sentence_spans()
        assert spans[0][0] == 1 and spans[-1][1] == len(feat.input_ids) - 1
        assert all(a < b for a, b in spans)
        # gold evidence per pair: the union over the pair's facts
        for f in doc.labels:
            assert set(f.evidence) <= set(feat.evidence[feat.entity_pairs.index((f.h, f.t))])


def test_evidence_kl_hand_value_and_gradient() -> None:
    p = torch.tensor([[0.5, 0.25, 0.25]], requires_grad=True)
    y = torch.tensor([[0.5, 0.5, 0.0]])
    loss = evidence_kl(p, y, eps=0.0)
    assert float(loss.detach()) == pytest.approx(0.5 * math.log(0.5 / 0.5) + 0.5 * math.log(0.5 / 0.25))
    loss.backward()
    assert p.grad[0, 1] < 0 < float(-p.grad[0, 0])  # more mass on the under-covered gold sentence lowers it
    assert float(evidence_kl(y.clone(), y, eps=0.0)) == pytest.approx(0.0, abs=1e-7)


def test_evidence_loss_reads_only_pairs_with_gold_evidence(tiny_encoder_dir: Path) -> None:
    from docre.models.model import load_tokenizer

    docs = read_documents(FIXTURE)
    rel = RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])
    feats = featurize_documents(docs, load_tokenizer(str(tiny_encoder_dir)), rel)
    rows, target = document_evidence_targets(feats[0])
    n_gold_pairs = len({(f.h, f.t) for f in docs[0].labels if f.evidence})
    assert len(rows) == n_gold_pairs and target is not None
    assert target.sum(-1).tolist() == pytest.approx([1.0] * n_gold_pairs)
    assert document_evidence_targets(feats[2]) == ([], None)  # no labels with evidence
    torch.manual_seed(0)
    atts = [torch.softmax(torch.randn(len(f.mention_pos), 2, len(f.input_ids)), -1).requires_grad_() for f in feats]
    loss, n = evidence_loss(atts, feats)
    assert n == sum(len(document_evidence_targets(f)[0]) for f in feats)
    loss.backward()
    assert atts[0].grad is not None and float(atts[0].grad.abs().sum()) > 0
    assert float(atts[2].grad.abs().sum()) == 0.0 if atts[2].grad is not None else True


def _gold_docs() -> list:
    return read_documents(FIXTURE)


def test_calibration_picks_the_threshold_that_separates_gold_sentences() -> None:
    docs = _gold_docs()
    f = docs[1].labels[0]  # Brightwater Mills: evidence [0]
    g = docs[1].labels[1]  # evidence [1]
    triples = [
        {"title": docs[1].title, "h_idx": f.h, "t_idx": f.t, "r": f.r, PARTS_KEY: {"attention": [0.7, 0.3]}},
        {"title": docs[1].title, "h_idx": g.h, "t_idx": g.t, "r": g.r, PARTS_KEY: {"attention": [0.45, 0.55]}},
    ]
    choice = choose_evidence_settings(triples, docs, thresholds=(0.2, 0.4, 0.5, 0.6, 0.8))
    # 0.5: {0} and {1}, exactly the gold evidence of both correct triples (recall 2 / all gold evidence)
    assert choice.threshold == 0.5 and choice.key_pair_share == 0.0
    assert triples[0]["evidence"] == [0] and triples[1]["evidence"] == [1]
    assert choice.evi_precision == 100.0
    n_gold_evi = sum(len(x.evidence) for d in docs for x in d.labels or [])
    assert choice.evi_recall == pytest.approx(100.0 * 2 / n_gold_evi)


def test_calibration_chooses_the_key_pair_share_for_kmgre_triples() -> None:
    docs = _gold_docs()
    f = docs[1].labels[0]  # evidence [0]
    triples = [{"title": docs[1].title, "h_idx": f.h, "t_idx": f.t, "r": f.r,
                PARTS_KEY: {"attention": [0.1, 0.9], "key_pairs": [1.0, 0.0]}}]
    choice = choose_evidence_settings(triples, docs, thresholds=(0.5,))
    # shares 0 and 0.25 give sentence 1 ([0.1, 0.9], [0.325, 0.675]); 0.5 is the first to give [0.55, 0.45]
    assert choice.key_pair_share == 0.5 and triples[0]["evidence"] == [0]
    apply_evidence(triples, 0.5, 0.0)
    assert triples[0]["evidence"] == [1]


def test_rule_baseline_on_the_same_triples() -> None:
    docs = _gold_docs()
    d = docs[0]
    f = d.labels[0]
    out = rule_evidence_for([{"title": d.title, "h_idx": f.h, "t_idx": f.t, "r": f.r, "evidence": [9]}], docs)
    expect = rule_evidence(d.entities[f.h].sent_ids, d.entities[f.t].sent_ids)
    assert out[0]["evidence"] == expect and out[0]["r"] == f.r


@pytest.mark.parametrize("bad,message", [("0", "must be a list of sentence ids"), ([0.5], "must be a list of sentence ids"),
                                         ([True], "must be a list of sentence ids"),
                                         ([2], "sentence id out of range (document has 2 sentences)"),
                                         ([-1], "sentence id out of range")])
def test_bad_gold_evidence_is_named_by_the_validator(tmp_path: Path, bad: object, message: str) -> None:
    data = json.loads(FIXTURE.read_text())
    data[1]["labels"][0]["evidence"] = bad
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        read_documents(path)
    text = str(err.value)
    assert str(path) in text and "document 1" in text and "'Brightwater Mills'" in text
    assert "labels[0].evidence" in text and message in text
