"""The official DocRED metrics against hand counts on tiny hand-written documents."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from docre.data.reader import documents_from_json, read_documents
from docre.errors import DataError
from docre.evaluation import evaluate_files, official_scores, read_predictions, train_facts
from docre.evaluation.official import COUNT_KEYS, SCORE_KEYS


def _m(name: str, sent_id: int, start: int, end: int, typ: str) -> dict:
    return {"name": name, "sent_id": sent_id, "pos": [start, end], "type": typ}


# Doc A: entity 0 "Alice Smith"/"Smith" (sentences 0, 2), 1 "Paris" (0), 2 "France" (1, 3),
# 3 "Acme Corp"/"Acme" (2, 3).
#   (0, 1, P19)  intra (sentence 0), evidence [0]
#   (1, 2, P17)  inter (Paris only in 0, France in 1 and 3), evidence [0, 1]
#   (0, 3, P108) intra ("Smith" and "Acme Corp" share sentence 2), evidence [2]
DOC_A = {
    "title": "Doc A",
    "sents": [
        ["Alice", "Smith", "was", "born", "in", "Paris", "."],
        ["She", "later", "moved", "across", "France", "."],
        ["Smith", "works", "for", "Acme", "Corp", "."],
        ["Acme", "is", "not", "in", "France", "."],
    ],
    "vertexSet": [
        [_m("Alice Smith", 0, 0, 2, "PER"), _m("Smith", 2, 0, 1, "PER")],
        [_m("Paris", 0, 5, 6, "LOC")],
        [_m("France", 1, 4, 5, "LOC"), _m("France", 3, 4, 5, "LOC")],
        [_m("Acme Corp", 2, 3, 5, "ORG"), _m("Acme", 3, 0, 1, "ORG")],
    ],
    "labels": [
        {"h": 0, "t": 1, "r": "P19", "evidence": [0]},
        {"h": 1, "t": 2, "r": "P17", "evidence": [0, 1]},
        {"h": 0, "t": 3, "r": "P108", "evidence": [2]},
    ],
}

# Doc B: entity 0 "Bob Jones"/"Jones" (0, 2), 1 "Lyon FC"/"The club" (0, 1), 2 "Lyon" (1, 2).
# All three facts are intra; evidence 1 + 1 + 1.
DOC_B = {
    "title": "Doc B",
    "sents": [
        ["Bob", "Jones", "plays", "for", "Lyon", "FC", "."],
        ["The", "club", "is", "based", "in", "Lyon", "."],
        ["Jones", "was", "born", "in", "Lyon", "."],
    ],
    "vertexSet": [
        [_m("Bob Jones", 0, 0, 2, "PER"), _m("Jones", 2, 0, 1, "PER")],
        [_m("Lyon FC", 0, 4, 6, "ORG"), _m("The club", 1, 0, 2, "ORG")],
        [_m("Lyon", 1, 5, 6, "LOC"), _m("Lyon", 2, 4, 5, "LOC")],
    ],
    "labels": [
        {"h": 0, "t": 1, "r": "P54", "evidence": [0]},
        {"h": 1, "t": 2, "r": "P159", "evidence": [1]},
        {"h": 0, "t": 2, "r": "P19", "evidence": [2]},
    ],
}

# Doc C: unlabelled (no "labels"), one intra pair (Carol, Rome) in sentence 0.
DOC_C = {
    "title": "Doc C",
    "sents": [["Carol", "lives", "in", "Rome", "."]],
    "vertexSet": [[_m("Carol", 0, 0, 1, "PER")], [_m("Rome", 0, 3, 4, "LOC")]],
}

# Training facts (name_h, name_t, r):
#   T1: (Smith, Acme, P108)                     -- aliases of Doc A's (0, 3) pair
#   T2: (Alice Smith, Paris, P20)               -- Doc A's (0, 1) names, another relation
#       (Paris, France, P131)                   -- Doc A's (1, 2) names, the *wrong* relation
TRAIN = [
    {
        "title": "Train 1",
        "sents": [["Smith", "joined", "Acme", "in", "1990", "."]],
        "vertexSet": [[_m("Smith", 0, 0, 1, "PER")], [_m("Acme", 0, 2, 3, "ORG")]],
        "labels": [{"h": 0, "t": 1, "r": "P108", "evidence": [0]}],
    },
    {
        "title": "Train 2",
        "sents": [["Alice", "Smith", "died", "in", "Paris", "."], ["Paris", "is", "in", "France", "."]],
        "vertexSet": [
            [_m("Alice Smith", 0, 0, 2, "PER")],
            [_m("Paris", 0, 4, 5, "LOC"), _m("Paris", 1, 0, 1, "LOC")],
            [_m("France", 1, 3, 4, "LOC")],
        ],
        "labels": [
            {"h": 0, "t": 1, "r": "P20", "evidence": [0]},
            {"h": 1, "t": 2, "r": "P131", "evidence": [1]},
        ],
    },
]

PREDICTIONS = [
    # p1 correct, intra, not in train (train has these names only with P20); evidence 2, overlap 1
    {"title": "Doc A", "h_idx": 0, "t_idx": 1, "r": "P19", "evidence": [0, 2]},
    # duplicate of p1: dropped (its evidence is not counted either)
    {"title": "Doc A", "h_idx": 0, "t_idx": 1, "r": "P19", "evidence": [1]},
    # p3 correct, intra, in train via ("Smith", "Acme", P108); evidence 1, overlap 1
    {"title": "Doc A", "h_idx": 0, "t_idx": 3, "r": "P108", "evidence": [2]},
    # p4 wrong relation on the inter pair (never "in train", although (Paris, France, P131) is); evidence 1
    {"title": "Doc A", "h_idx": 1, "t_idx": 2, "r": "P131", "evidence": [1]},
    # p5 unknown title: predicted and wrong, in neither intra nor inter; evidence 1
    {"title": "No Such Doc", "h_idx": 0, "t_idx": 1, "r": "P17", "evidence": [0]},
    # p6 correct, intra, no evidence key; evidence 0
    {"title": "Doc B", "h_idx": 1, "t_idx": 2, "r": "P159"},
    # p7 on the unlabelled doc: wrong, intra pair; evidence 0
    {"title": "Doc C", "h_idx": 0, "t_idx": 1, "r": "P551", "evidence": []},
    # p8 correct, inter, not in train; evidence 2, overlap 2
    {"title": "Doc A", "h_idx": 1, "t_idx": 2, "r": "P17", "evidence": [0, 1]},
]


@pytest.fixture
def gold():
    return documents_from_json([DOC_A, DOC_B, DOC_C], "gold.json")


@pytest.fixture
def train():
    return documents_from_json(TRAIN, "train.json")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r)


def test_train_facts_are_every_mention_name_pair(train):
    assert train_facts(train) == {
        ("Smith", "Acme", "P108"),
        ("Alice Smith", "Paris", "P20"),
        ("Paris", "France", "P131"),
    }


def test_scores_equal_hand_count(gold, train):
    s = official_scores(PREDICTIONS, gold, train)
    # Deduplicated predictions: p1 p3 p4 p5 p6 p7 p8 -> 7. Gold facts: 3 (A) + 3 (B) = 6.
    # Correct: p1 p3 p6 p8 -> 4; in train: p3 -> 1.
    assert (s["num_predicted"], s["num_gold"], s["num_correct"], s["num_correct_in_train"]) == (7, 6, 4, 1)
    # P = 4/7, R = 4/6, F1 = 8/13.
    assert s["precision"] == pytest.approx(100 * 4 / 7)
    assert s["recall"] == pytest.approx(100 * 4 / 6)
    assert s["f1"] == pytest.approx(100 * 8 / 13)
    # Ign P = (4 - 1) / (7 - 1) = 1/2, recall unchanged 2/3, Ign F1 = 4/7.
    assert s["ign_precision"] == pytest.approx(50.0)
    assert s["ign_f1"] == pytest.approx(100 * _f1(1 / 2, 2 / 3))
    assert s["ign_f1"] == pytest.approx(100 * 4 / 7)
    # Evidence: predicted 2 + 1 + 1 + 1 + 0 + 0 + 2 = 7 (p1 p3 p4 p5 p6 p7 p8);
    # overlap on correct triples 1 (p1) + 1 (p3) + 0 (p6) + 2 (p8) = 4; gold 4 (A) + 3 (B) = 7.
    assert s["evi_precision"] == pytest.approx(100 * 4 / 7)
    assert s["evi_recall"] == pytest.approx(100 * 4 / 7)
    assert s["evi_f1"] == pytest.approx(100 * 4 / 7)
    # Intra: predicted p1 p3 p6 p7 = 4, correct p1 p3 p6 = 3, gold 2 (A) + 3 (B) = 5.
    assert s["intra_precision"] == pytest.approx(75.0)
    assert s["intra_recall"] == pytest.approx(60.0)
    assert s["intra_f1"] == pytest.approx(100 * 2 / 3)
    # Inter: predicted p4 p8 = 2, correct p8 = 1, gold 1 (A's (1, 2, P17)).
    assert s["inter_precision"] == pytest.approx(50.0)
    assert s["inter_recall"] == pytest.approx(100.0)
    assert s["inter_f1"] == pytest.approx(100 * 2 / 3)
    assert set(s) == set(SCORE_KEYS) | set(COUNT_KEYS)


def test_no_train_means_ign_equals_plain(gold):
    s = official_scores(PREDICTIONS, gold)
    assert s["num_correct_in_train"] == 0
    assert s["ign_precision"] == s["precision"] == pytest.approx(100 * 4 / 7)
    assert s["ign_f1"] == s["f1"]


def test_empty_predictions_score_zero(gold, train):
    s = official_scores([], gold, train)
    assert all(s[k] == 0.0 for k in SCORE_KEYS)
    assert (s["num_predicted"], s["num_gold"], s["num_correct"], s["num_correct_in_train"]) == (0, 6, 0, 0)
    empty = official_scores([], [])
    assert all(empty[k] == 0.0 for k in SCORE_KEYS) and empty["num_gold"] == 0


def test_all_correct_predictions_in_train_give_ign_zero_not_a_crash(gold, train):
    # Only p3: predicted 1, correct 1, in train 1 -> Ign P = 0/0 = 0, Ign F1 = 0.
    s = official_scores([PREDICTIONS[2]], gold, train)
    assert s["precision"] == pytest.approx(100.0)
    assert s["ign_precision"] == 0.0 and s["ign_f1"] == 0.0
    # Evidence 1/1; inter has no prediction and one gold fact: P = 0/0 = 0, R = 0.
    assert s["evi_precision"] == pytest.approx(100.0)
    assert s["inter_precision"] == 0.0 and s["inter_f1"] == 0.0


def test_gold_as_predictions_is_perfect(gold):
    preds = [
        {"title": d.title, "h_idx": f.h, "t_idx": f.t, "r": f.r, "evidence": list(f.evidence)}
        for d in gold
        for f in d.labels or []
    ]
    s = official_scores(preds, gold)
    for k in ("precision", "recall", "f1", "evi_f1", "intra_f1", "inter_f1"):
        assert s[k] == pytest.approx(100.0), k


def test_out_of_range_entity_is_wrong_and_ungrouped(gold):
    s = official_scores([{"title": "Doc A", "h_idx": 0, "t_idx": 9, "r": "P19"}], gold)
    assert s["num_predicted"] == 1 and s["num_correct"] == 0
    assert s["intra_precision"] == 0.0 and s["inter_precision"] == 0.0


# --- read_predictions ---------------------------------------------------------------


def _write(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def test_read_predictions_fills_evidence(tmp_path):
    path = _write(tmp_path / "result.json", [{"title": "Doc B", "h_idx": 1, "t_idx": 2, "r": "P159"}])
    assert read_predictions(path) == [{"title": "Doc B", "h_idx": 1, "t_idx": 2, "r": "P159", "evidence": []}]


def test_read_predictions_bad_json(tmp_path):
    path = _write(tmp_path / "result.json", '[{"title": "Doc A",')
    with pytest.raises(DataError, match="invalid JSON") as exc:
        read_predictions(path)
    assert exc.value.file == str(path)


def test_read_predictions_not_a_list(tmp_path):
    path = _write(tmp_path / "result.json", {"title": "Doc A"})
    with pytest.raises(DataError, match="JSON list") as exc:
        read_predictions(path)
    assert exc.value.file == str(path)


@pytest.mark.parametrize(
    "entry, fld",
    [
        ({"title": "Doc A", "h_idx": 0, "t_idx": 1}, "r"),
        ({"title": "Doc A", "h_idx": "0", "t_idx": 1, "r": "P19"}, "h_idx"),
        ({"title": "Doc A", "h_idx": True, "t_idx": 1, "r": "P19"}, "h_idx"),
        ({"title": "Doc A", "h_idx": 0, "t_idx": 1, "r": 19}, "r"),
        ({"title": "Doc A", "h_idx": 0, "t_idx": 1, "r": "P19", "evidence": "0"}, "evidence"),
        ({"h_idx": 0, "t_idx": 1, "r": "P19"}, "title"),
    ],
)
def test_read_predictions_names_file_entry_and_field(tmp_path, entry, fld):
    good = {"title": "Doc B", "h_idx": 1, "t_idx": 2, "r": "P159"}
    path = _write(tmp_path / "result.json", [good, entry])
    with pytest.raises(DataError) as exc:
        read_predictions(path)
    err = exc.value
    assert (err.file, err.doc_index, err.field) == (str(path), 1, fld)
    assert err.title == entry.get("title")
    assert str(path) in str(err) and f"field {fld}" in str(err)


# --- evaluate_files -------------------------------------------------------------------


def test_evaluate_files_matches_official_scores(tmp_path, gold, train):
    gold_path = _write(tmp_path / "dev.json", [DOC_A, DOC_B, DOC_C])
    train_path = _write(tmp_path / "train.json", TRAIN)
    pred_path = _write(tmp_path / "result.json", PREDICTIONS)
    assert evaluate_files(pred_path, gold_path, train_path) == official_scores(PREDICTIONS, gold, train)
    assert evaluate_files(pred_path, gold_path) == official_scores(PREDICTIONS, gold)


def test_evaluate_files_refuses_unlabelled_gold(tmp_path):
    gold_path = _write(tmp_path / "test.json", [DOC_C])
    pred_path = _write(tmp_path / "result.json", [])
    with pytest.raises(DataError, match="has no labels: cannot score") as exc:
        evaluate_files(pred_path, gold_path)
    assert exc.value.file == str(gold_path)


def test_evaluate_files_needs_labelled_train(tmp_path):
    gold_path = _write(tmp_path / "dev.json", [DOC_A])
    train_path = _write(tmp_path / "train.json", [DOC_C])
    pred_path = _write(tmp_path / "result.json", [])
    with pytest.raises(DataError) as exc:
        evaluate_files(pred_path, gold_path, train_path)
    assert exc.value.file == str(train_path)


# --- real data ------------------------------------------------------------------------


def _redocred_dev() -> Path:
    data_dir = os.environ.get("DOCRE_DATA_DIR")
    if not data_dir:
        pytest.skip("DOCRE_DATA_DIR is not set (real Re-DocRED data unavailable)")
    path = Path(data_dir) / "redocred" / "dev_revised.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def test_redocred_dev_gold_as_predictions_is_perfect():
    docs = read_documents(_redocred_dev())[:50]
    preds = [
        {"title": d.title, "h_idx": f.h, "t_idx": f.t, "r": f.r, "evidence": list(f.evidence)}
        for d in docs
        for f in d.labels or []
    ]
    s = official_scores(preds, docs)
    assert s["num_correct"] == s["num_gold"] == len(preds) > 0
    assert s["f1"] == pytest.approx(100.0)
    assert s["evi_f1"] == pytest.approx(100.0)
    # with the same documents as training data every correct triple is "in train"
    s_train = official_scores(preds, docs, docs)
    assert s_train["num_correct_in_train"] == len(preds)
    assert s_train["ign_f1"] == 0.0
