"""The pieces of the joint model: span candidates, span pooling, negative sampling, mention decoding,
string features, clustering, markerless features and the span view."""
from __future__ import annotations

import pytest
import torch

from docre.data.documents import Document, Entity, Mention
from docre.data.features import featurize_documents
from docre.data.reader import documents_from_json
from docre.data.relations import RelationInventory
from docre.e2e.coref import all_pairs, cluster_mentions, string_features
from docre.e2e.features import UNKNOWN_TYPE, gold_mentions, span_view, word_ranges
from docre.config import EndToEndConfig
from docre.e2e.spans import SpanClassifier, enumerate_spans, pool_spans, sample_training_spans, select_mentions


# ---------------------------------------------------------------------------- candidates
def test_candidates_stay_inside_sentences_and_the_width_limit():
    spans = enumerate_spans([(0, 3), (3, 5)], [1, 2, 3, 4, 5], max_width=2)
    assert spans == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4), (3, 5), (4, 5)]


def test_candidates_skip_words_past_the_encoded_text():
    # words 3 and 4 were truncated away (-1)
    assert enumerate_spans([(0, 2), (2, 5)], [1, 2, 3, -1, -1], max_width=3) == [(0, 1), (0, 2), (1, 2), (2, 3)]


def test_pool_spans_is_the_max_over_each_range():
    torch.manual_seed(0)
    hidden = torch.randn(9, 4)
    start, end = torch.tensor([1, 2, 5, 7]), torch.tensor([2, 6, 8, 9])
    for chunk in (1, 3, 10):
        pooled = pool_spans(hidden, start, end, chunk)
        for k in range(4):
            assert torch.equal(pooled[k], hidden[start[k]:end[k]].max(0).values)


def test_negative_sampling_keeps_every_gold_span_and_samples_the_rest():
    cands = [(i, i + 1) for i in range(50)]
    gold = {(3, 4): 2, (10, 11): 1}
    spans, labels = sample_training_spans(cands, gold, neg_spans=5, generator=torch.Generator().manual_seed(0))
    assert spans[:2] == [(3, 4), (10, 11)] and labels[:2] == [2, 1]
    assert len(spans) == 7 and labels[2:] == [0] * 5
    assert not set(spans[2:]) & set(gold) and len(set(spans)) == 7
    all_spans, all_labels = sample_training_spans(cands, gold, neg_spans=-1)
    assert len(all_spans) == 50 and sum(1 for x in all_labels if x == 0) == 48


def test_overlap_negatives_add_every_candidate_overlapping_a_gold_mention():
    cands = [(i, j) for i in range(6) for j in range(i + 1, min(6, i + 3) + 1)]  # width <= 3 in 6 words
    gold = {(1, 3): 1}
    spans, labels = sample_training_spans(cands, gold, neg_spans=0, overlap_negatives=True)
    assert spans[0] == (1, 3) and labels == [1] + [0] * (len(spans) - 1)
    assert set(spans[1:]) == {s for s in cands if s != (1, 3) and s[0] < 3 and 1 < s[1]}
    assert (3, 4) not in spans and (0, 1) not in spans  # touching is not overlapping
    spans, _ = sample_training_spans(cands, gold, neg_spans=2, overlap_negatives=True)
    assert len([s for s in spans[1:] if not (s[0] < 3 and 1 < s[1])]) == 2


def test_overlapping_mentions_are_resolved_by_score():
    spans = [(0, 2), (1, 2), (1, 3), (4, 5), (5, 7)]
    scores = [0.9, 0.95, 0.6, 0.4, 0.7]
    # (1,2) wins over (0,2) and (1,3); (4,5) is under the threshold
    assert select_mentions(spans, scores, 0.5, nested=False, prefer="score") == [1, 4]
    # nested: (0,2) holds (1,2); (1,3) crosses (0,2) and is dropped
    assert select_mentions(spans, scores, 0.5, nested=True, prefer="score") == [0, 1, 4]
    assert select_mentions(spans, scores, 0.99, nested=False, prefer="score") == []


def test_overlapping_mentions_are_resolved_longest_first():
    # "New York City" beside "York" and "New York": the longest above the threshold wins, whatever its score
    spans = [(0, 1), (0, 2), (0, 3), (1, 2), (3, 4)]
    scores = [0.6, 0.8, 0.55, 0.9, 0.7]
    assert select_mentions(spans, scores, 0.5, nested=False, prefer="longest") == [2, 4]
    assert select_mentions(spans, scores, 0.56, nested=False, prefer="longest") == [1, 4]  # (0,3) is under the threshold
    # equal lengths: the higher score first
    assert select_mentions([(0, 2), (1, 3)], [0.6, 0.7], 0.5, nested=False, prefer="longest") == [1]
    # nested: the long span first, then the parts inside it
    assert select_mentions(spans, scores, 0.5, nested=True, prefer="longest") == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        select_mentions(spans, scores, 0.5, nested=False, prefer="shortest")


def test_best_set_keeps_the_non_overlapping_spans_with_the_largest_log_odds():
    # "Cotabato and Tamontaka" (0.6) against its parts (0.9 each): the parts win, where longest-first kept it
    spans = [(0, 3), (0, 1), (2, 3), (5, 7), (6, 7)]
    scores = [0.6, 0.9, 0.9, 0.95, 0.6]
    assert select_mentions(spans, scores, 0.5, nested=False) == [1, 2, 3]
    assert select_mentions(spans, scores, 0.5, nested=False, prefer="longest") == [0, 3]
    # one strong long span beats two weak parts: logit(.99) > 2 * logit(.6)
    assert select_mentions([(0, 2), (0, 1), (1, 2)], [0.99, 0.6, 0.6], 0.5, nested=False) == [0]
    # nested: the best flat set, then the spans inside / around it that cross none
    assert select_mentions(spans, scores, 0.5, nested=True) == [1, 0, 2, 3, 4]
    # under the threshold: nothing; limit keeps the highest scores
    assert select_mentions(spans, scores, 0.96, nested=False) == []
    assert select_mentions(spans, scores, 0.5, nested=False, limit=2) == [1, 3]  # 0.95 and the first 0.9


# ---------------------------------------------------------------------------- coreference
@pytest.mark.parametrize("a, b, expected", [
    (["Ketrak", "Paper", "Holdings"], ["ketrak", "paper", "holdings"], [1, 1, 1, 1, 0]),
    (["Tholyan", "Bacaibosell"], ["Bacaibosell"], [0, 1, 1, 0.5, 0]),
    (["KPH"], ["Ketrak", "Paper", "Holdings"], [0, 0, 0, 0, 1]),
    (["Glyawu"], ["Jetharnand"], [0, 0, 0, 0, 0]),
    (["the", "bank"], ["bank", "of", "the", "river"], [0, 0, 0, 0.5, 0]),
])
def test_string_features(a, b, expected):
    assert string_features(a, b) == pytest.approx(expected)
    assert string_features(b, a) == pytest.approx(expected)  # symmetric


def test_clustering_linkages_differ_as_defined():
    # mentions 0-1 and 1-2 are likely the same, 0-2 is not
    pairs = all_pairs(3)  # (0,1) (0,2) (1,2)
    probs = [0.9, 0.1, 0.8]
    assert cluster_mentions(3, pairs, probs, 0.5, "single") == [[0, 1, 2]]
    assert cluster_mentions(3, pairs, probs, 0.5, "complete") == [[0, 1], [2]]
    # average: merge 0+1 (0.9); then {0,1}-2 = (0.1 + 0.8) / 2 = 0.45 < 0.5
    assert cluster_mentions(3, pairs, probs, 0.5, "average") == [[0, 1], [2]]
    assert cluster_mentions(3, pairs, probs, 0.4, "average") == [[0, 1, 2]]


def test_clustering_edge_cases():
    assert cluster_mentions(0, [], [], 0.5) == []
    assert cluster_mentions(1, [], [], 0.5) == [[0]]
    assert cluster_mentions(3, all_pairs(3), [0.0, 0.0, 0.0], 0.5) == [[0], [1], [2]]
    assert cluster_mentions(4, [(0, 3), (1, 2)], [0.7, 0.9], 0.5) == [[0, 3], [1, 2]]  # ordered by first mention
    with pytest.raises(ValueError):
        cluster_mentions(2, [(0, 1)], [0.9], 0.5, "ward")


# ---------------------------------------------------------------------------- features
DOC = {"title": "d", "sents": [["Ketrak", "Paper", "Holdings", "hired", "Bacaibosell", "."],
                               ["KPH", "is", "in", "Glyawu", "."]],
       "vertexSet": [[{"name": "Ketrak Paper Holdings", "sent_id": 0, "pos": [0, 3], "type": "ORG"},
                      {"name": "KPH", "sent_id": 1, "pos": [0, 1], "type": "ORG"}],
                     [{"name": "Bacaibosell", "sent_id": 0, "pos": [4, 5], "type": "PER"}],
                     [{"name": "Glyawu", "sent_id": 1, "pos": [3, 4], "type": "LOC"}]]}


def test_markerless_features_put_mentions_on_their_first_subword(vocab_tokenizer):
    doc = documents_from_json([DOC])[0]
    rel = RelationInventory.from_relations([])
    marked = featurize_documents([doc], vocab_tokenizer, rel)[0]
    plain = featurize_documents([doc], vocab_tokenizer, rel, markers=False)[0]
    star = vocab_tokenizer.convert_tokens_to_ids("*")
    assert star in marked.input_ids and star not in plain.input_ids
    assert len(plain.input_ids) == len(marked.input_ids) - 8  # 4 mentions, 2 markers each
    first_word = [0, 6, 4, 9]  # global first word of each mention, in entity order
    assert plain.mention_pos == [plain.word_pos[w] for w in first_word]
    assert plain.entity_mentions == marked.entity_mentions


def test_word_ranges_and_span_view(vocab_tokenizer):
    assert word_ranges([1, 3, 4, -1], 7) == ([1, 3, 4, -1], [3, 4, 6, -1])
    assert word_ranges([1, 2], 4) == ([1, 2], [2, 3])
    doc = documents_from_json([DOC])[0]
    plain = featurize_documents([doc], vocab_tokenizer, RelationInventory.from_relations([]), markers=False)[0]
    view = span_view(doc, plain, ["LOC", "ORG"], own_ids=True)
    assert view.sent_bounds == [(0, 6), (6, 11)] and view.words[6] == "KPH"
    assert view.input_ids == plain.input_ids
    # subwords of each word decode back to the word
    for w, word in enumerate(view.words):
        pieces = vocab_tokenizer.convert_ids_to_tokens(plain.input_ids[view.word_start[w]:view.word_end[w]])
        assert "".join(p.removeprefix("##") for p in pieces) == word.lower()
    gold = view.gold
    assert gold.spans == [(0, 3), (6, 7), (4, 5), (9, 10)] and gold.entity == [0, 0, 1, 2]
    assert gold.types == [2, 2, UNKNOWN_TYPE, 1]  # PER is not in this inventory


def test_gold_mentions_keep_a_repeated_span_once():
    m = Mention("A", 0, 0, 1, "PER")
    doc = Document("t", [["A", "b"]], [Entity((m,)), Entity((m, Mention("b", 0, 1, 2, "PER")))])
    gold = gold_mentions(doc, ["PER"])
    assert gold.spans == [(0, 1), (1, 2)] and gold.entity == [0, 1]


@pytest.fixture
def vocab_tokenizer(tiny_encoder_dir):
    from docre.models.model import load_tokenizer

    return load_tokenizer(str(tiny_encoder_dir))


@pytest.mark.parametrize("max_width", [1, 3, 10])
def test_score_candidates_equals_the_plain_span_path(max_width):
    # the inference shortcut (running word maxima, first layer split) gives the logits of
    # classifier(represent(...)) for every candidate, words of one to three subwords
    torch.manual_seed(0)
    cfg = EndToEndConfig(max_span_width=max_width, hidden_size=16, width_emb_size=5, chunk_size=7)
    clf = SpanClassifier(12, 4, cfg).eval()
    sizes = [1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 2, 1]
    starts = [1 + sum(sizes[:i]) for i in range(len(sizes))]  # subword 0 is [CLS]
    ws = torch.tensor(starts)
    we = torch.tensor([s + n for s, n in zip(starts, sizes)])
    hidden = torch.randn(sum(sizes) + 2, 12)
    spans = enumerate_spans([(0, 5), (5, 12)], starts, max_width)
    fast = clf.score_candidates(hidden, spans, ws, we)
    plain = clf(clf.represent(hidden, spans, ws, we))
    assert fast.shape == (len(spans), 5)
    assert torch.allclose(fast, plain, atol=1e-5)
    # a span subset (coreference of a few mentions) and non-contiguous ranges (markers between words)
    sub = spans[3:9]
    assert torch.allclose(clf.score_candidates(hidden, sub, ws, we), clf(clf.represent(hidden, sub, ws, we)), atol=1e-5)
    gap = we.clone()
    gap[1] -= 1  # word 1 loses its last subword: ranges no longer contiguous -> the plain path
    assert torch.allclose(clf.score_candidates(hidden, spans, ws, gap), clf(clf.represent(hidden, spans, ws, gap)),
                          atol=1e-5)
