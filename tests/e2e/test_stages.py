"""The stage table: each stage of the joint model scored given gold input from the stages before it."""
from __future__ import annotations

import pytest

from docre.data.reader import read_documents
from docre.e2e.evaluate import ORACLE_STAGES, evaluate_end_to_end, gold_word_entities, oracle_stage_scores
from docre.e2e.extract import encode_plain
from docre.evaluation.end_to_end import format_stage_table
from docre.resources import sample_path


@pytest.fixture(scope="module")
def stage_rows(trained_joint):
    gold = read_documents(sample_path("dev.json"))
    e2e, gold_scores, _, _ = evaluate_end_to_end(trained_joint.model, trained_joint.tokenizer, gold)
    rows = oracle_stage_scores(trained_joint.model, trained_joint.tokenizer, gold)
    return gold, e2e, gold_scores, rows


def test_gold_word_entities_are_the_documents_mentions(trained_joint):
    doc = read_documents(sample_path("dev.json"))[0]
    views, _ = encode_plain(trained_joint.model, trained_joint.tokenizer, [doc])
    spans, clusters, types, char_of = gold_word_entities(doc, views[0])
    assert len(clusters) == len(doc.entities) and types == [e.type for e in doc.entities]
    words = [w for s in doc.sents for w in s]
    for ent, members in zip(doc.entities, clusters):
        assert [words[spans[k][0]:spans[k][1]] for k in members] == \
            [doc.sents[m.sent_id][m.start:m.end] for m in ent.mentions]
    assert len(char_of) == len(spans)


def test_each_oracle_row_scores_its_given_stages_perfectly(stage_rows):
    _, _, _, rows = stage_rows
    assert list(rows) == list(ORACLE_STAGES)
    for name, r in rows.items():
        assert r["mention_f1"] == pytest.approx(100.0), name
    assert rows["gold_clusters"]["coref_f1"] == pytest.approx(100.0)
    assert rows["gold_entities"]["coref_f1"] == pytest.approx(100.0)
    assert rows["gold_entities"]["entity_f1"] == pytest.approx(100.0)
    # clusters given, types still the model's: entity F1 is its typing accuracy, below perfect for a tiny model
    assert rows["gold_clusters"]["entity_f1"] <= 100.0
    # coreference is the model's in the first row: a tiny model does not cluster the sample perfectly
    assert rows["gold_mentions"]["coref_f1"] < 100.0


def test_the_gold_entity_row_is_the_relation_stage_given_gold_entities(stage_rows):
    """Relations on gold entities through the oracle path score as the official relation scorer does
    on the same model's predictions given the gold file (same triples, same F1)."""
    gold, _, gold_scores, rows = stage_rows
    assert rows["gold_entities"]["relation_strict_f1"] == pytest.approx(gold_scores["f1"], abs=1e-6)


def test_giving_more_gold_input_never_lowers_the_entity_score(stage_rows):
    _, e2e, _, rows = stage_rows
    assert e2e["mention_f1"] < rows["gold_mentions"]["mention_f1"]
    assert rows["gold_mentions"]["entity_f1"] <= rows["gold_clusters"]["entity_f1"] <= rows["gold_entities"]["entity_f1"]
    assert e2e["entity_f1"] <= rows["gold_mentions"]["entity_f1"] + 1e-9


def test_stage_table_prints_one_row_per_stage_and_the_share_of_the_gold_entity_row(stage_rows):
    _, e2e, _, rows = stage_rows
    table = format_stage_table({"end_to_end": e2e, **rows}).splitlines()
    assert len(table) == 2 + 1 + len(rows)
    assert table[2].startswith("from text (end to end)") and table[-1].startswith("given gold entities")
    ref = rows["gold_entities"]["relation_strict_f1"]
    if ref:
        assert float(table[2].split()[-1]) == pytest.approx(e2e["relation_strict_f1"] / ref, abs=0.006)
        assert float(table[-1].split()[-1]) == pytest.approx(1.0)
