"""CodaLab result.json / zip writing and the score table."""
from __future__ import annotations

import json
import zipfile

import pytest

from docre.errors import DataError
from docre.evaluation import format_scores, read_predictions, write_result_json
from docre.evaluation.official import COUNT_KEYS, SCORE_KEYS

PREDS = [
    {"title": "Doc A", "h_idx": 0, "t_idx": 1, "r": "P19", "evidence": [0, 2], "score": 3.5},
    {"title": "Doc B", "h_idx": 1, "t_idx": 2, "r": "P159"},
    {"title": "Dōc Ç", "h_idx": 2, "t_idx": 0, "r": "P17", "evidence": None},
]
EXPECTED = [
    {"title": "Doc A", "h_idx": 0, "t_idx": 1, "r": "P19", "evidence": [0, 2]},
    {"title": "Doc B", "h_idx": 1, "t_idx": 2, "r": "P159", "evidence": []},
    {"title": "Dōc Ç", "h_idx": 2, "t_idx": 0, "r": "P17", "evidence": []},
]


def test_write_result_json_and_zip_round_trip(tmp_path):
    path, zpath = tmp_path / "out" / "result.json", tmp_path / "out" / "result.zip"
    assert write_result_json(PREDS, path, zip_path=zpath) == 3
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written == EXPECTED
    assert all(list(e) == ["title", "h_idx", "t_idx", "r", "evidence"] for e in written)
    with zipfile.ZipFile(zpath) as zf:
        assert zf.namelist() == ["result.json"]
        assert zf.read("result.json") == path.read_bytes()
    # what was written reads back through the validating reader
    assert read_predictions(path) == EXPECTED
    # no temporary files left beside the outputs
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json", "result.zip"]


def test_write_result_json_without_zip(tmp_path):
    path = tmp_path / "result.json"
    assert write_result_json([], path) == 0
    assert json.loads(path.read_text(encoding="utf-8")) == []
    assert list(tmp_path.iterdir()) == [path]


def test_invalid_prediction_writes_nothing(tmp_path):
    path, zpath = tmp_path / "result.json", tmp_path / "result.zip"
    bad = PREDS[:2] + [{"title": "Doc C", "h_idx": 0, "t_idx": 1}]  # no "r"
    with pytest.raises(DataError) as exc:
        write_result_json(bad, path, zip_path=zpath)
    assert (exc.value.doc_index, exc.value.title, exc.value.field) == (2, "Doc C", "r")
    assert not path.exists() and not zpath.exists()
    assert list(tmp_path.iterdir()) == []


def test_invalid_prediction_keeps_previous_file(tmp_path):
    path = tmp_path / "result.json"
    write_result_json(PREDS[:1], path)
    before = path.read_bytes()
    with pytest.raises(DataError):
        write_result_json([{"title": "Doc A", "h_idx": "0", "t_idx": 1, "r": "P19"}], path)
    assert path.read_bytes() == before


def test_format_scores_lists_every_metric():
    scores = {k: float(i) + 0.5 for i, k in enumerate(SCORE_KEYS)}
    scores.update(num_predicted=7, num_gold=6, num_correct=4, num_correct_in_train=1)
    assert set(scores) == set(SCORE_KEYS) | set(COUNT_KEYS)
    text = format_scores(scores)
    lines = text.splitlines()
    assert lines[0].split() == ["P", "R", "F1"]
    # relation: precision 0.5, recall 1.5, f1 2.5; ign: ign_precision 3.5, recall 1.5, ign_f1 4.5
    assert lines[1].split() == ["relation", "0.50", "1.50", "2.50"]
    assert lines[2].split() == ["ign", "3.50", "1.50", "4.50"]
    assert [line.split()[0] for line in lines[3:6]] == ["evidence", "intra", "inter"]
    assert lines[-1] == "predicted 7, gold 6, correct 4, correct in train 1"
