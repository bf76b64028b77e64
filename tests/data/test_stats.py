"""``docre data stats`` / ``docre data validate`` against hand counts on the fixture documents."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.cli import main
from docre.data.documents import Document
from docre.data.features import featurize_documents
from docre.data.reader import documents_from_json, read_documents
from docre.data.relations import RelationInventory
from docre.data.stats import (
    dataset_stats, file_stats, format_stats, is_intra_sentence, label_stats, num_mention_pairs, subword_stats,
    validate_command,
)
from docre.models.model import load_tokenizer

# Hand count of tests/fixtures/docs.json (every word of it is one token of the tiny vocabulary):
#
#   doc 0 "Marel Tovik": 3 sentences, 13 + 10 + 9 = 32 words; 5 entities with 2, 2, 1, 1, 1 mentions
#       -> 7 mentions, 5 * 4 = 20 ordered pairs, 7^2 - (4 + 4 + 1 + 1 + 1) = 38 mention pairs;
#       facts (0,1,P19) (1,2,P131) (1,2,P17) (0,3,P108) (3,1,P159): 5 facts on 4 distinct pairs;
#       subwords: CLS + 32 words + 2 markers x 7 mentions + SEP = 48
#   doc 1 "Brightwater Mills": 2 sentences, 10 + 12 = 22 words; 4 entities of 1 mention
#       -> 4 mentions, 12 ordered pairs, 4^2 - 4 = 12 mention pairs;
#       facts (0,1,P159) (2,3,P27): 2 facts on 2 pairs; subwords: 1 + 22 + 8 + 1 = 32
#   doc 2 "Lone entity": 1 sentence of 4 words; 1 entity, 1 mention, 0 pairs, 0 mention pairs;
#       labels [] (labelled, no fact); subwords: [CLS] * kelmar * is small . [SEP] = 8
#
#   totals: documents 3, entities 10, mentions 12, ordered pairs 32, mention pairs 50
#   per document max: entities 5, mentions 7, pairs 20, mention pairs 38
#   facts 7; labelled pairs 4 + 2 = 6 -> NA ratio (32 - 6) / 32 = 0.8125
#   relation table: P159 2 (2/7), P108, P131, P17, P19, P27 1 each (1/7)
#   every fact's head and tail share a sentence: intra 7, inter 0
#   subword lengths [48, 32, 8]: mean 88/3, max 48, p95 (linear) 32 + 0.9 * 16 = 46.4
FIXTURE_LENGTHS = [48, 32, 8]


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_encoder_dir: Path):
    return load_tokenizer(str(tiny_encoder_dir))


def test_counts_match_the_hand_count(fixture_docs_path: Path) -> None:
    s = file_stats(fixture_docs_path, tokenizer="none")
    assert s.documents == 3
    assert (s.sentences.total, s.words.total) == (6, 58)
    assert (s.entities.total, s.entities.max) == (10, 5)
    assert (s.mentions.total, s.mentions.max) == (12, 7)
    assert s.mentions.mean == pytest.approx(4.0)
    assert (s.entity_pairs.total, s.entity_pairs.max) == (32, 20)
    assert s.entity_pairs.mean == pytest.approx(32 / 3)
    assert (s.mention_pairs.total, s.mention_pairs.max) == (50, 38)
    assert s.subwords is None


def test_labels_match_the_hand_count(fixture_docs_path: Path) -> None:
    lab = file_stats(fixture_docs_path, tokenizer="none").labels
    assert lab is not None
    assert (lab.labelled_documents, lab.facts, lab.relation_ids) == (3, 7, 6)
    assert lab.na_ratio == pytest.approx(26 / 32)
    assert (lab.intra_sentence, lab.inter_sentence) == (7, 0)
    assert [(r.id, r.count) for r in lab.relations] == [
        ("P159", 2), ("P108", 1), ("P131", 1), ("P17", 1), ("P19", 1), ("P27", 1)]
    assert lab.relations[0].share == pytest.approx(2 / 7)
    # DocRED's relation ids are named by their Wikidata labels without a relations file
    assert {r.id: r.name for r in lab.relations}["P159"] == "headquarters location"


def test_mention_pairs_are_the_sum_over_ordered_entity_pairs(fixture_docs_path: Path) -> None:
    for doc in read_documents(fixture_docs_path):
        brute = sum(len(doc.entities[h].mentions) * len(doc.entities[t].mentions) for h, t in doc.entity_pairs())
        assert num_mention_pairs(doc) == brute


def test_inter_sentence_facts_and_na_ratio() -> None:
    # A: sentence 0 and 1; B: sentence 0; C: sentence 1 only.
    # facts A->B (share sentence 0: intra), B->C (no shared sentence: inter), B->C again with
    # a second relation (same pair: the labelled pairs stay 2 of 6).
    raw = [{
        "title": "t", "sents": [["A", "met", "B", "."], ["A", "saw", "C", "."]],
        "vertexSet": [[{"name": "A", "sent_id": 0, "pos": [0, 1]}, {"name": "A", "sent_id": 1, "pos": [0, 1]}],
                      [{"name": "B", "sent_id": 0, "pos": [2, 3]}],
                      [{"name": "C", "sent_id": 1, "pos": [2, 3]}]],
        "labels": [{"h": 0, "t": 1, "r": "r1"}, {"h": 1, "t": 2, "r": "r2"}, {"h": 1, "t": 2, "r": "r1"}],
    }]
    doc = documents_from_json(raw)[0]
    assert [is_intra_sentence(doc, f) for f in doc.labels] == [True, False, False]
    lab = label_stats([doc], RelationInventory.from_relations(["r1", "r2"], {"r1": "first"}))
    assert (lab.intra_sentence, lab.inter_sentence) == (1, 2)
    assert lab.intra_share == pytest.approx(1 / 3)
    assert lab.na_ratio == pytest.approx(4 / 6)
    assert [(r.id, r.count, r.name) for r in lab.relations] == [("r1", 2, "first"), ("r2", 1, None)]


def test_subword_lengths_are_featurised_lengths(fixture_docs_path: Path, tiny_tokenizer) -> None:
    docs = read_documents(fixture_docs_path)
    feats = featurize_documents(docs, tiny_tokenizer, RelationInventory.from_relations([]), max_seq_length=0)
    assert [len(f.input_ids) for f in feats] == FIXTURE_LENGTHS
    # the short document token by token
    expected = ["[CLS]", "*", "kelmar", "*", "is", "small", ".", "[SEP]"]
    assert feats[2].input_ids == tiny_tokenizer.convert_tokens_to_ids(expected)
    w = subword_stats(docs, tiny_tokenizer, "tiny")
    assert w.mean == pytest.approx(88 / 3)
    assert w.max == 48
    assert w.p95 == pytest.approx(46.4)
    assert w.docs_over == {512: 0, 1024: 0}
    assert w.mentions_past == {512: 0, 1024: 0}


def test_tiny_tokenizer_knows_the_fixture_words(tiny_tokenizer) -> None:
    ids = tiny_tokenizer(["*", "Kelmar", "*", "is", "small"], is_split_into_words=True, add_special_tokens=False)
    assert tiny_tokenizer.unk_token_id not in ids["input_ids"]
    assert len(tiny_tokenizer.get_vocab()) > 100


def _long_document(n_sents: int) -> dict:
    """Sentences of fixture words (1 token each), one mention per sentence: entity k % 3."""
    words = ["Tovik", "later", "worked", "for", "the", "company", "in", "Kelmar", "."]
    names = ["Tovik", "Kelmar", "company"]
    sents, ents = [], [[], [], []]
    for i in range(n_sents):
        sents.append(list(words))
        k = i % 3
        pos = words.index(names[k])
        ents[k].append({"name": names[k], "sent_id": i, "pos": [pos, pos + 1], "type": "X"})
    return {"title": f"long {n_sents}", "sents": sents, "vertexSet": ents,
            "labels": [{"h": 0, "t": 1, "r": "P27", "evidence": []}]}


def test_mentions_past_a_length_are_those_truncation_drops(tiny_tokenizer) -> None:
    # 150 sentences x (9 words + 2 markers) + CLS/SEP = 1,652 subwords
    docs = documents_from_json([_long_document(150), _long_document(40)])
    w = subword_stats(docs, tiny_tokenizer, "tiny")
    assert w.max == 150 * 11 + 2
    assert w.docs_over == {512: 1, 1024: 1}
    rels = RelationInventory.from_relations(["P27"])
    for n in (512, 1024):
        cut = featurize_documents(docs, tiny_tokenizer, rels, max_seq_length=n)
        assert w.mentions_past[n] == sum(f.num_truncated_mentions for f in cut) > 0
        assert w.docs_with_mentions_past[n] == 1
    # by hand: mention of sentence i has its marker at position 1 + 11 i + pos(i) where pos is
    # 0, 7 or 5; max_seq_length=1024 keeps markers at positions <= 1022
    by_hand = sum(1 for i in range(150) if 1 + 11 * i + (0, 7, 5)[i % 3] > 1022)
    assert w.mentions_past[1024] == by_hand


def test_unlabelled_file_says_no_labels(tmp_path: Path, fixture_docs_path: Path) -> None:
    raw = json.loads(fixture_docs_path.read_text())
    for d in raw:
        del d["labels"]
    path = tmp_path / "test.json"
    path.write_text(json.dumps(raw))
    s = file_stats(path, tokenizer="none")
    assert s.labels is None
    assert s.mention_pairs.total == 50
    assert "relations: no labels" in format_stats(s)
    assert s.to_json()["labels"] == "no labels"


def test_reads_biomed_data_files(tmp_path: Path) -> None:
    # sentence 0 = tokens 0-3, sentence 1 = tokens 4-6; aspirin (1 mention), rash (2 mentions)
    pair = ["1:CID:2", "L2R", "NON-CROSS", "0-1", "2-3",
            "D000001", "Aspirin", "Chemical", "0", "1", "0",
            "D000002", "rash|Rash", "Disease", "2:4", "3:5", "0:1"]
    path = tmp_path / "tiny.data"
    path.write_text("\t".join(["900001", "Aspirin caused rash .|Rash resolved ."] + pair) + "\n")
    s = file_stats(path, tokenizer="none")
    assert (s.documents, s.entities.total, s.mentions.total) == (1, 2, 3)
    assert (s.entity_pairs.total, s.mention_pairs.total) == (2, 4)
    assert s.labels.na_ratio == pytest.approx(0.5)
    assert [(r.id, r.count) for r in s.labels.relations] == [("CID", 1)]
    assert s.labels.intra_sentence == 1


def test_table_shows_the_numbers(fixture_docs_path: Path, tiny_tokenizer) -> None:
    docs = read_documents(fixture_docs_path)
    text = format_stats(dataset_stats(docs, "docs.json", tiny_tokenizer, "tiny"))
    assert "3 documents" in text
    assert "NA ratio 81.2%" in text
    assert "mentions past 1,024 subwords: 0" in text
    assert "P159" in text and "28.6%" in text and "headquarters location" in text


# ------------------------------------------------------------------ validate
def _three_problem_file(tmp_path: Path, fixture_docs_path: Path) -> Path:
    raw = json.loads(fixture_docs_path.read_text())
    raw[0]["vertexSet"][2][0]["pos"] = [11, 40]  # 1: span outside its sentence
    raw[1]["labels"][1]["t"] = 9  # 2: unknown tail entity
    raw[2]["title"] = raw[0]["title"]  # 3: duplicate title
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    return path


def test_validate_lists_every_problem(tmp_path: Path, fixture_docs_path: Path) -> None:
    path = _three_problem_file(tmp_path, fixture_docs_path)
    lines, code = validate_command(path)
    assert code == 2
    problems, summary = lines[:-1], lines[-1]
    assert len(problems) == 3
    assert str(path) in problems[0] and "document 0" in problems[0] and "vertexSet[2][0].pos" in problems[0]
    assert "document 1" in problems[1] and "labels[1].t" in problems[1] and "unknown entity 9" in problems[1]
    assert "document 2" in problems[2] and "field title" in problems[2] and "duplicate title" in problems[2]
    assert "3 problems" in summary


def test_validate_checks_relations_against_an_inventory(tmp_path: Path, fixture_docs_path: Path) -> None:
    rel = tmp_path / "rel2id.json"
    rel.write_text(json.dumps({"Na": 0, "P159": 1, "P17": 2, "P19": 3, "P27": 4, "P108": 5}))  # no P131
    lines, code = validate_command(fixture_docs_path, rel)
    assert code == 2
    assert len(lines) == 2 and "unknown relation 'P131'" in lines[0]


def test_cli_return_codes(tmp_path: Path, fixture_docs_path: Path, tiny_encoder_dir: Path,
                          capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "validate", str(fixture_docs_path)]) == 0
    assert "3 documents, no problems" in capsys.readouterr().out
    bad = _three_problem_file(tmp_path, fixture_docs_path)
    assert main(["data", "validate", str(bad)]) == 2
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    assert main(["data", "stats", str(fixture_docs_path), "--tokenizer", str(tiny_encoder_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mention_pairs"]["total"] == 50
    assert out["subwords"]["max"] == 48
    assert out["labels"]["na_ratio"] == pytest.approx(0.8125)
    assert main(["data", "stats", str(fixture_docs_path), "--tokenizer", "none"]) == 0
    assert "entity pairs (ordered)" in capsys.readouterr().out
    # stats on an invalid file: one line naming the first problem, exit 2
    assert main(["data", "stats", str(bad), "--tokenizer", "none"]) == 2
    assert "document 0" in capsys.readouterr().err
