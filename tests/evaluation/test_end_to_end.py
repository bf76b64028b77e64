"""End-to-end metrics (docre.evaluation.end_to_end) against hand computations, edge cases included."""
from __future__ import annotations

import itertools
import random

import pytest

from docre.evaluation.end_to_end import (EntityGraph, b_cubed_counts, ceaf_e_counts, end_to_end_scores,
                                         max_weight_assignment, muc_counts, prf)


def C(*names: str) -> frozenset:
    """A cluster of mentions; a mention is a one-letter name standing for a span."""
    return frozenset(names)


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# ---------------------------------------------------------------------------- MUC
def test_muc_vilain_example_split_cluster():
    # gold {a b c d}; predicted {a b} {c d}: recall (4 - 2) / (4 - 1), precision (1 + 1) / (1 + 1)
    rn, rd, pn, pd = muc_counts([C("a", "b", "c", "d")], [C("a", "b"), C("c", "d")])
    assert (rn, rd, pn, pd) == (2, 3, 2, 2)


def test_muc_missing_mention_is_a_part_of_its_own():
    # gold {a b c}; predicted {a b}: c is in no predicted cluster -> parts {a b}, {c}
    assert muc_counts([C("a", "b", "c")], [C("a", "b")]) == (1, 2, 1, 1)


def test_muc_gives_singletons_no_weight():
    assert muc_counts([C("a"), C("b")], [C("a"), C("b")]) == (0, 0, 0, 0)
    assert muc_counts([C("a"), C("b")], [C("a", "b")]) == (0, 0, 0, 1)  # merging them: precision 0 / 1


# ---------------------------------------------------------------------------- B-cubed
def test_b_cubed_hand_example():
    # gold {a b c} {d e}; predicted {a b} {c d e}
    # recall: a, b: 2/3 each; c: 1/3; d, e: 2/2 -> (2/3 + 2/3 + 1/3 + 1 + 1) / 5 = 11/15
    # precision: a, b: 2/2; c: 1/3; d, e: 2/3 -> (1 + 1 + 1/3 + 2/3 + 2/3) / 5 = 11/15
    rn, rd, pn, pd = b_cubed_counts([C("a", "b", "c"), C("d", "e")], [C("a", "b"), C("c", "d", "e")])
    assert rn / rd == pytest.approx(11 / 15) and pn / pd == pytest.approx(11 / 15)
    assert (rd, pd) == (5, 5)


def test_b_cubed_singletons_and_twinless_mentions():
    # identical singletons: perfect
    rn, rd, pn, pd = b_cubed_counts([C("a"), C("b")], [C("a"), C("b")])
    assert (rn / rd, pn / pd) == (1.0, 1.0)
    # a predicted mention that is no gold mention (x) costs precision only
    rn, rd, pn, pd = b_cubed_counts([C("a", "b")], [C("a", "b"), C("x")])
    assert rn / rd == 1.0 and pn / pd == pytest.approx(2 / 3)
    # a gold mention nobody found (c) costs recall only
    rn, rd, pn, pd = b_cubed_counts([C("a", "b", "c")], [C("a", "b")])
    assert rn / rd == pytest.approx((2 / 3 + 2 / 3) / 3) and pn / pd == 1.0


# ---------------------------------------------------------------------------- CEAF-e
def test_ceaf_e_hand_example():
    # phi4: ({a b c}, {a b}) = 4/5, ({a b c}, {c d e}) = 2/6, ({d e}, {c d e}) = 4/5
    # best alignment: 4/5 + 4/5 = 1.6 over 2 gold and 2 predicted clusters
    sim, ng, sim2, npred = ceaf_e_counts([C("a", "b", "c"), C("d", "e")], [C("a", "b"), C("c", "d", "e")])
    assert sim == pytest.approx(1.6) and (ng, npred) == (2, 2) and sim2 == sim


def test_ceaf_e_more_predicted_clusters_than_gold():
    # one gold cluster split in three: only one predicted cluster can align; precision divides by 3
    sim, ng, _, npred = ceaf_e_counts([C("a", "b", "c")], [C("a"), C("b"), C("c")])
    assert sim == pytest.approx(2 * 1 / 4) and (ng, npred) == (1, 3)


def test_ceaf_e_empty_sides():
    assert ceaf_e_counts([C("a")], []) == (0.0, 1, 0.0, 0)
    assert ceaf_e_counts([], [C("a")]) == (0.0, 0, 0.0, 1)


# ---------------------------------------------------------------------------- assignment
def test_max_weight_assignment_matches_brute_force():
    rng = random.Random(3)
    for _ in range(60):
        n, m = rng.randint(1, 5), rng.randint(1, 5)
        w = [[rng.choice([0.0, 0.25, 0.5, rng.random()]) for _ in range(m)] for _ in range(n)]
        pairs = max_weight_assignment(w)
        assert len(pairs) == min(n, m)
        assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
        best = max(sum(w[i][j] for i, j in zip(rows, cols))
                   for rows in itertools.permutations(range(n), min(n, m))
                   for cols in itertools.permutations(range(m), min(n, m)))
        assert sum(w[i][j] for i, j in pairs) == pytest.approx(best)


def test_max_weight_assignment_empty():
    assert max_weight_assignment([]) == [] and max_weight_assignment([[]]) == []


# ---------------------------------------------------------------------------- whole documents
# gold: entity 0 = {(0,5), (20,25)} PER; entity 1 = {(10,15)} LOC; entity 2 = {(30,34)} ORG
# relations (0, 1, P19), (2, 1, P159)
GOLD = EntityGraph([(frozenset({(0, 5), (20, 25)}), "PER"), (frozenset({(10, 15)}), "LOC"),
                    (frozenset({(30, 34)}), "ORG")],
                   {(0, 1, "P19"): 1.0, (2, 1, "P159"): 1.0})


def test_perfect_prediction_scores_100_everywhere():
    s = end_to_end_scores([GOLD], [GOLD])
    for name in ("mention", "muc", "b3", "ceafe", "entity", "relation_strict", "relation_clusters"):
        assert s[f"{name}_f1"] == pytest.approx(100.0), name
    assert s["coref_f1"] == pytest.approx(100.0)


def test_each_stage_is_scored_on_its_own():
    # predicted: entity 0 misses its second mention; entity 1 right span, wrong type; an extra mention (40,44)
    pred = EntityGraph([(frozenset({(0, 5)}), "PER"), (frozenset({(10, 15)}), "ORG"), (frozenset({(30, 34)}), "ORG"),
                        (frozenset({(40, 44)}), "MISC")],
                       {(0, 1, "P19"): 0.9, (2, 1, "P159"): 0.6, (2, 3, "P17"): 0.55})
    s = end_to_end_scores([GOLD], [pred], thresholds=(0.5, 0.7))
    # mentions: 3 of 4 predicted are gold, 3 of 4 gold found
    assert s["mention_precision"] == pytest.approx(75.0) and s["mention_recall"] == pytest.approx(75.0)
    # entities: only {(30,34)} ORG is exact in spans and type (entity 0 lacks a mention, entity 1 has the wrong type)
    assert (s["num_correct_entities"], s["num_predicted_entities"], s["num_gold_entities"]) == (1, 4, 3)
    assert s["entity_f1"] == pytest.approx(100 * f1(1 / 4, 1 / 3))
    # relations strict: (2, 1, P159) has the wrong tail type -> nothing strict-correct; with types ignored
    # (2, 1, P159) is right: spans {(30,34)} -> {(10,15)} both exact
    assert s["num_correct_relations"] == 0 and s["relation_strict_f1"] == 0.0
    assert s["relation_clusters_precision"] == pytest.approx(100 / 3) and s["relation_clusters_recall"] == 50.0
    # coreference over the clusters: MUC recall (2 - 2) / 1 = 0; B-cubed recall: (1/2 + 0 + 1 + 1) / 4
    assert s["muc_recall"] == 0.0 and s["muc_precision"] == 0.0
    assert s["b3_recall"] == pytest.approx(100 * 2.5 / 4) and s["b3_precision"] == pytest.approx(100 * 3 / 4)
    # CEAF-e: phi4 ({0,5 20,25}, {0,5}) = 2/3, + 1 + 1 over 3 gold / 4 predicted clusters
    assert s["ceafe_recall"] == pytest.approx(100 * (2 / 3 + 2) / 3)
    assert s["ceafe_precision"] == pytest.approx(100 * (2 / 3 + 2) / 4)
    assert s["coref_f1"] == pytest.approx((s["muc_f1"] + s["b3_f1"] + s["ceafe_f1"]) / 3)
    rows = {r["threshold"]: r for r in s["relation_strict_by_threshold"]}
    assert rows[0.5]["num_predicted"] == 3 and rows[0.7]["num_predicted"] == 1


def test_threshold_rows_trade_recall_for_precision():
    pred = EntityGraph(GOLD.entities, {(0, 1, "P19"): 0.95, (2, 1, "P159"): 0.6, (1, 0, "P150"): 0.52})
    rows = end_to_end_scores([GOLD], [pred], thresholds=(0.5, 0.9))["relation_strict_by_threshold"]
    assert rows[0]["precision"] == pytest.approx(200 / 3) and rows[0]["recall"] == 100.0
    assert rows[1]["precision"] == 100.0 and rows[1]["recall"] == 50.0


def test_nothing_predicted_scores_zero_without_crashing():
    s = end_to_end_scores([GOLD], [EntityGraph([])])
    assert all(s[k] == 0.0 for k in s if k.endswith("_f1"))
    assert s["num_gold_mentions"] == 4 and s["num_predicted_mentions"] == 0


def test_empty_gold_and_prediction_is_zero_not_an_error():
    s = end_to_end_scores([EntityGraph([])], [EntityGraph([])])
    assert s["mention_f1"] == 0.0 and s["coref_f1"] == 0.0


def test_scores_sum_counts_over_documents():
    # document 1 perfect; document 2 nothing found: mention recall 4 / 8, precision 4 / 4
    s = end_to_end_scores([GOLD, GOLD], [GOLD, EntityGraph([])])
    assert s["mention_precision"] == 100.0 and s["mention_recall"] == 50.0
    assert s["b3_recall"] == pytest.approx(50.0)


def test_a_span_under_two_gold_entities_is_kept_in_the_first_for_coreference():
    gold = EntityGraph([(frozenset({(0, 3), (5, 8)}), "PER"), (frozenset({(5, 8)}), "PER")])
    assert gold.partition() == [frozenset({(0, 3), (5, 8)})]
    s = end_to_end_scores([gold], [EntityGraph([(frozenset({(0, 3), (5, 8)}), "PER")])])
    assert s["b3_f1"] == pytest.approx(100.0) and s["b3_precision"] <= 100.0
    assert s["num_gold_entities"] == 2 and s["num_correct_entities"] == 1


def test_prf_zero_division():
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    assert prf(1, 2, 4) == pytest.approx((0.5, 0.25, 1 / 3))


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        end_to_end_scores([GOLD], [])
