"""Model features: entity markers, subword positions, entity pairs, labels, truncation (docre.data.features)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docre.data import Document, RelationInventory, documents_from_json, read_documents
from docre.data.features import DocFeatures, featurize_documents, load_features
from docre.models.batch import collate
from docre.models.model import load_tokenizer


@pytest.fixture(scope="module")
def vocab_tokenizer(tiny_encoder_dir: Path) -> Any:
    """The tiny encoder's word-piece tokenizer, loaded the way docre loads tokenizers: every
    fixture word is one piece of its vocabulary, unknown words split into letters."""
    tok = load_tokenizer(str(tiny_encoder_dir))
    assert tok.tokenize("Marel * Tovik Qz") == ["marel", "*", "tovik", "q", "##z"]
    return tok


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return read_documents(Path(__file__).parents[1] / "fixtures" / "docs.json")


@pytest.fixture(scope="module")
def relations(docs: list[Document]) -> RelationInventory:
    inv = RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])
    assert inv.ids == ["Na", "P17", "P19", "P27", "P108", "P131", "P159"]
    return inv


def _global_start(doc: Document, sent_id: int, start: int) -> int:
    return sum(len(s) for s in doc.sents[:sent_id]) + start


def _tokens(tok: Any, feat: DocFeatures) -> list[str]:
    return tok.convert_ids_to_tokens(feat.input_ids)


def _check_markers(tok: Any, doc: Document, feat: DocFeatures) -> None:
    """Every kept mention: its position holds '*', immediately before its first word's first piece."""
    tokens = _tokens(tok, feat)
    assert tokens[0] == tok.cls_token and tokens[-1] == tok.sep_token
    assert len(feat.mention_pos) == len(feat.mention_ref)
    for m, (e, k) in enumerate(feat.mention_ref):
        mention = doc.entities[e].mentions[k]
        pos = feat.mention_pos[m]
        assert tokens[pos] == "*", (doc.title, e, k)
        assert pos == feat.word_pos[_global_start(doc, mention.sent_id, mention.start)] - 1
        assert m in feat.entity_mentions[e]


# ---------------------------------------------------------------- markers and positions


def test_marked_tokens_of_the_first_sentence(vocab_tokenizer: Any, docs: list[Document],
                                             relations: RelationInventory) -> None:
    feat = featurize_documents(docs[:1], vocab_tokenizer, relations)[0]
    tokens = _tokens(vocab_tokenizer, feat)
    # sentence 0: "Marel Tovik was born in Ostrava Vale , a town in Kelmar ." with mentions
    # [0,2) "Marel Tovik", [5,7) "Ostrava Vale", [11,12) "Kelmar", each between two markers
    assert tokens[:20] == ["[CLS]", "*", "marel", "tovik", "*", "was", "born", "in", "*", "ostrava", "vale", "*",
                           ",", "a", "town", "in", "*", "kelmar", "*", "."]
    # 32 words + 7 mentions x 2 markers + CLS + SEP
    assert len(feat.input_ids) == 32 + 14 + 2
    assert feat.word_pos[:5] == [2, 3, 5, 6, 7]
    # per entity, in vertexSet order: Marel Tovik (sent 0, sent 1), Ostrava Vale (sent 0, sent 1),
    # Kelmar, Brightwater Mills, 1990
    assert feat.mention_pos == [1, 20, 8, 31, 16, 26, 37]
    assert feat.entity_mentions == [[0, 1], [2, 3], [4], [5], [6]]
    assert feat.mention_ref == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0), (4, 0)]
    assert feat.num_mentions == 7 and feat.num_truncated_mentions == 0
    assert (feat.title, feat.doc_index) == ("Marel Tovik", 0)


def test_every_marker_precedes_its_mention(vocab_tokenizer: Any, docs: list[Document],
                                           relations: RelationInventory) -> None:
    for doc, feat in zip(docs, featurize_documents(docs, vocab_tokenizer, relations)):
        _check_markers(vocab_tokenizer, doc, feat)


def test_markers_with_multi_piece_words(vocab_tokenizer: Any, relations: RelationInventory) -> None:
    # "Qzvx" and "Wyk" are not in the vocabulary: they split into letters ("q", "##z", ...)
    doc = documents_from_json([{
        "title": "pieces",
        "sents": [["Qzvx", "Wyk", "and", "Jqo", "Pfx", "in", "Kelmar", "."]],
        "vertexSet": [[{"name": "Qzvx Wyk", "sent_id": 0, "pos": [0, 2], "type": "PER"}],
                      [{"name": "Jqo Pfx", "sent_id": 0, "pos": [3, 5], "type": "PER"}],
                      [{"name": "Kelmar", "sent_id": 0, "pos": [6, 7], "type": "LOC"}]],
    }])[0]
    feat = featurize_documents([doc], vocab_tokenizer, relations)[0]
    tokens = _tokens(vocab_tokenizer, feat)
    assert tokens[:9] == ["[CLS]", "*", "q", "##z", "##v", "##x", "w", "##y", "##k"]
    assert tokens[9] == "*" and tokens[11] == "*" and tokens[12] == "j"
    assert feat.word_pos[:4] == [2, 6, 10, 12]
    assert feat.mention_pos == [1, 11, 20]
    _check_markers(vocab_tokenizer, doc, feat)


def test_adjacent_and_nested_mentions_share_nothing_but_keep_their_markers(
        vocab_tokenizer: Any, relations: RelationInventory) -> None:
    doc = documents_from_json([{
        "title": "adjacent",
        "sents": [["Ada", "Perrin", "Kelmar", "Lunden", "."]],
        "vertexSet": [[{"name": "Ada Perrin", "sent_id": 0, "pos": [0, 2]}],
                      [{"name": "Perrin", "sent_id": 0, "pos": [1, 2]}],  # nested in mention 0
                      [{"name": "Kelmar", "sent_id": 0, "pos": [2, 3]}],  # right after mention 0
                      [{"name": "Lunden", "sent_id": 0, "pos": [3, 4]}]],
    }])[0]
    feat = featurize_documents([doc], vocab_tokenizer, relations)[0]
    _check_markers(vocab_tokenizer, doc, feat)
    assert len(set(feat.mention_pos)) == 4


# ---------------------------------------------------------------- pairs and labels


def test_entity_pairs_are_all_ordered_pairs(vocab_tokenizer: Any, docs: list[Document],
                                            relations: RelationInventory) -> None:
    feats = featurize_documents(docs, vocab_tokenizer, relations)
    for doc, feat in zip(docs, feats):
        n = len(doc.entities)
        assert feat.num_entities == n
        assert feat.entity_pairs == [(h, t) for h in range(n) for t in range(n) if h != t]
    assert [len(f.entity_pairs) for f in feats] == [20, 12, 0]


def test_labels_hold_gold_class_indices(vocab_tokenizer: Any, docs: list[Document],
                                        relations: RelationInventory) -> None:
    feats = featurize_documents(docs, vocab_tokenizer, relations)
    first = feats[0]
    assert first.labels is not None and len(first.labels) == 20
    gold = {j: sorted(c) for j, c in enumerate(first.labels) if c}
    idx = first.entity_pairs.index
    r = relations.index
    assert gold == {
        idx((0, 1)): [r("P19")],
        idx((1, 2)): sorted([r("P131"), r("P17")]),  # multi-label pair
        idx((0, 3)): [r("P108")],
        idx((3, 1)): [r("P159")],
    }
    assert idx((1, 2)) == 5 and first.labels[5] == [5, 1]  # in file order, P131 then P17
    second = feats[1]
    assert {second.entity_pairs[j]: c for j, c in enumerate(second.labels or []) if c} == {
        (0, 1): [r("P159")], (2, 3): [r("P27")]}
    assert feats[2].labels == []  # one entity: labelled, no pairs


def test_unlabelled_document_has_no_labels(vocab_tokenizer: Any, docs: list[Document],
                                           relations: RelationInventory) -> None:
    raw = docs[1].to_json()
    raw.pop("labels")
    doc = documents_from_json([raw])[0]
    feat = featurize_documents([doc], vocab_tokenizer, relations)[0]
    assert feat.labels is None
    batch = collate([feat], relations.num_classes)
    assert batch.labels == [None] and not batch.has_labels


def test_collate_marks_na_pairs_in_column_zero(vocab_tokenizer: Any, docs: list[Document],
                                               relations: RelationInventory) -> None:
    feat = featurize_documents(docs[:1], vocab_tokenizer, relations)[0]
    lab = collate([feat], relations.num_classes).labels[0]
    assert lab is not None and tuple(lab.shape) == (20, relations.num_classes)
    assert lab[5].tolist() == [0, 1, 0, 0, 0, 1, 0]  # P17 and P131
    assert lab[1].tolist() == [1, 0, 0, 0, 0, 0, 0]  # (0, 2): NA
    assert float(lab[:, 0].sum()) == 20 - 4


# ---------------------------------------------------------------- truncation


def test_truncation_counts_dropped_mentions(vocab_tokenizer: Any, docs: list[Document],
                                            relations: RelationInventory) -> None:
    feat = featurize_documents(docs[:1], vocab_tokenizer, relations, max_seq_length=20)[0]
    tokens = _tokens(vocab_tokenizer, feat)
    assert len(tokens) == 20 and tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    # 18 content tokens: markers at 1, 8 and 16 fit; those at 20, 26, 31, 37 do not
    assert feat.mention_pos == [1, 8, 16]
    assert feat.num_truncated_mentions == 4 and feat.num_mentions == 7
    assert feat.entity_mentions == [[0], [1], [2], [], []]
    assert feat.mention_ref == [(0, 0), (1, 0), (2, 0)]
    assert feat.word_pos[11] == 17 and feat.word_pos[12] == -1  # "Kelmar" kept, "." cut
    assert len(feat.entity_pairs) == 20  # pairs and labels do not depend on truncation
    _check_markers(vocab_tokenizer, docs[0], feat)


@pytest.mark.parametrize("max_len", [6, 12, 25, 40])
def test_truncation_keeps_exactly_the_mentions_inside(vocab_tokenizer: Any, docs: list[Document],
                                                      relations: RelationInventory, max_len: int) -> None:
    full = featurize_documents(docs, vocab_tokenizer, relations, max_seq_length=0)
    cut = featurize_documents(docs, vocab_tokenizer, relations, max_seq_length=max_len)
    for doc, f, c in zip(docs, full, cut):
        assert len(c.input_ids) == min(len(f.input_ids), max_len)
        assert c.input_ids[:-1] == f.input_ids[: len(c.input_ids) - 1]
        kept = [(ref, pos) for ref, pos in zip(f.mention_ref, f.mention_pos) if pos <= max_len - 2]
        assert list(zip(c.mention_ref, c.mention_pos)) == kept
        assert c.num_truncated_mentions == len(f.mention_pos) - len(kept)
        _check_markers(vocab_tokenizer, doc, c)


def test_long_document_is_kept_whole_up_to_max_seq_length(vocab_tokenizer: Any,
                                                          relations: RelationInventory) -> None:
    sents = [["Ada", "Perrin", "was", "a", "citizen", "of", "Kelmar", "."] for _ in range(80)]
    doc = documents_from_json([{
        "title": "long",
        "sents": sents,
        "vertexSet": [[{"name": "Ada Perrin", "sent_id": 0, "pos": [0, 2]}],
                      [{"name": "Kelmar", "sent_id": 79, "pos": [6, 7]}]],
        "labels": [{"h": 0, "t": 1, "r": "P27", "evidence": [0, 79]}],
    }])[0]
    whole = featurize_documents([doc], vocab_tokenizer, relations, max_seq_length=1024)[0]
    assert len(whole.input_ids) == 640 + 4 + 2 > 512
    assert whole.num_truncated_mentions == 0 and whole.mention_pos[1] == 2 + 79 * 8 + 6 - 1 + 2
    _check_markers(vocab_tokenizer, doc, whole)
    cut = featurize_documents([doc], vocab_tokenizer, relations, max_seq_length=512)[0]
    assert len(cut.input_ids) == 512 and cut.num_truncated_mentions == 1
    assert cut.entity_mentions == [[0], []]


# ---------------------------------------------------------------- cache


def test_feature_cache_round_trip(tmp_path: Path, vocab_tokenizer: Any, docs: list[Document],
                                  relations: RelationInventory) -> None:
    first = load_features(docs, "hash-a", vocab_tokenizer, relations, 1024, tmp_path)
    files = list(tmp_path.glob("features-*.json"))
    assert len(files) == 1
    again = load_features(docs, "hash-a", vocab_tokenizer, relations, 1024, tmp_path)
    assert again == first  # tuples restored from JSON lists
    assert isinstance(again[0].entity_pairs[0], tuple) and isinstance(again[0].mention_ref[0], tuple)
    load_features(docs, "hash-b", vocab_tokenizer, relations, 1024, tmp_path)
    load_features(docs, "hash-a", vocab_tokenizer, relations, 64, tmp_path)
    assert len(list(tmp_path.glob("features-*.json"))) == 3  # content hash and length are in the key
    assert json.loads(files[0].read_text())[0]["title"] == "Marel Tovik"
