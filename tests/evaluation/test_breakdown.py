"""F1 by group (docre.evaluation.breakdown) against hand counts on the fixture documents."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.cli import main
from docre.data.reader import read_documents
from docre.errors import ConfigError
from docre.evaluation.breakdown import breakdown_scores, parse_breakdowns

FIXTURE = Path(__file__).parents[1] / "fixtures" / "docs.json"

# Marel Tovik: entity mentions [2, 2, 1, 1, 1]; gold (0,1,P19) 2x2=4 pairs, (1,2,P131) and (1,2,P17) 2x1=2,
# (0,3,P108) 2x1=2, (3,1,P159) 1x2=2. Brightwater Mills: all entities single-mention, gold (0,1,P159), (2,3,P27).
PREDS = [
    {"title": "Marel Tovik", "h_idx": 0, "t_idx": 1, "r": "P19"},       # correct, 4 mention pairs
    {"title": "Marel Tovik", "h_idx": 0, "t_idx": 1, "r": "P19"},       # duplicate: ignored
    {"title": "Marel Tovik", "h_idx": 1, "t_idx": 2, "r": "P131"},      # correct, 2
    {"title": "Marel Tovik", "h_idx": 2, "t_idx": 3, "r": "P17"},       # wrong, 1x1 = 1
    {"title": "Brightwater Mills", "h_idx": 0, "t_idx": 1, "r": "P159"},  # correct, 1
    {"title": "Brightwater Mills", "h_idx": 1, "t_idx": 0, "r": "P159"},  # wrong, 1
    {"title": "No such doc", "h_idx": 0, "t_idx": 1, "r": "P17"},         # in no group
    {"title": "Brightwater Mills", "h_idx": 0, "t_idx": 9, "r": "P17"},   # unknown entity: in no group
]


def _rows(table):
    return {r["group"]: (r["num_gold"], r["num_predicted"], r["num_correct"], round(r["f1"], 2)) for r in table}


def test_f1_by_number_of_mention_pairs_matches_a_hand_count():
    gold = read_documents(FIXTURE)
    t = breakdown_scores(PREDS, gold, ["mention_pairs"])["mention_pairs"]
    assert [r["group"] for r in t] == ["1", "2-3", "4-8"]  # no gold or predicted triple with 9+ pairs
    # "1": gold (BM 0,1) + (BM 2,3) = 2, predicted 3 (MT 2,3; BM 0,1; BM 1,0), correct 1: P 1/3, R 1/2, F1 0.4
    # "2-3": gold P131, P17, P108, P159 of MT = 4; predicted 1 (P131), correct 1: F1 2*1*0.25/1.25 = 0.4
    # "4-8": gold P19 = 1, predicted 1, correct 1: F1 1
    assert _rows(t) == {"1": (2, 3, 1, 40.0), "2-3": (4, 1, 1, 40.0), "4-8": (1, 1, 1, 100.0)}


def test_f1_by_sentence_and_relation_and_length():
    gold = read_documents(FIXTURE)
    tables = breakdown_scores(PREDS, gold, ["sentence", "relation", "length"], top_relations=2)
    intra_inter = {r["group"]: (r["num_gold"], r["num_predicted"], r["num_correct"]) for r in tables["sentence"]}
    assert sum(g for g, _, _ in intra_inter.values()) == 7
    assert sum(p for _, p, _ in intra_inter.values()) == 5 and sum(c for _, _, c in intra_inter.values()) == 3
    rel = _rows(tables["relation"])
    # P159 is the most frequent gold relation (2), then P108/P131/P17/P19/P27 with 1 (ties by id): P108 kept
    assert list(rel) == ["P159", "P108", "other"]
    assert rel["P159"] == (2, 2, 1, 50.0) and rel["P108"] == (1, 0, 0, 0.0)
    assert rel["other"][:3] == (4, 3, 2)
    assert [r["group"] for r in tables["length"]] == ["<150 words"]
    assert tables["length"][0]["num_gold"] == 7


def test_unknown_breakdown_is_a_clear_error():
    assert parse_breakdowns("all") == ["mention_pairs", "sentence", "relation", "length"]
    with pytest.raises(ConfigError, match="mention_pair"):
        parse_breakdowns("mention_pair")


def test_cli_evaluate_by_prints_and_writes_the_groups(tmp_path, capsys):
    pred = tmp_path / "result.json"
    pred.write_text(json.dumps(PREDS[:6]), encoding="utf-8")
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--pred", str(pred), "--gold", str(FIXTURE), "--by", "mention_pairs,relation",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "by mention pairs of the entity pair" in printed and "4-8" in printed
    assert "P159 headquarters location" in printed  # DocRED's relation ids named without --relations
    saved = json.loads(out.read_text())
    assert _rows(saved["breakdowns"]["mention_pairs"])["4-8"] == (1, 1, 1, 100.0)
    assert main(["evaluate", "--pred", str(pred), "--gold", str(FIXTURE), "--by", "nonsense"]) == 2
