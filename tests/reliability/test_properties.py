"""Property-based tests of the DocRED reader (hypothesis).

Random *valid* documents must be accepted and survive ``Document.to_json()`` unchanged;
the same documents with one random fault must be rejected with a :class:`DataError`
whose message names the document and the field, and never with another exception type.
"""
from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docre.data.reader import documents_from_json, read_documents
from docre.data.relations import RelationInventory
from docre.errors import DataError

RELATIONS = ("P17", "P19", "P26", "P131", "P159")
INVENTORY = RelationInventory.from_relations(RELATIONS)
TYPES = ("PER", "LOC", "ORG", "TIME", "NUM", "MISC")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.text(min_size=1, max_size=8)
titles = st.text(min_size=1, max_size=12)


@st.composite
def docred_document(draw: st.DrawFn, title: Optional[str] = None) -> dict[str, Any]:
    """One valid DocRED document: 1-4 sentences, 0-4 entities of 1-3 in-range mentions,
    labels over distinct entity pairs with evidence inside the document."""
    sents = draw(st.lists(st.lists(words, min_size=1, max_size=8), min_size=1, max_size=4))
    vertex_set = []
    for _ in range(draw(st.integers(0, 4))):
        mentions = []
        for _ in range(draw(st.integers(1, 3))):
            sid = draw(st.integers(0, len(sents) - 1))
            start = draw(st.integers(0, len(sents[sid]) - 1))
            end = draw(st.integers(start + 1, len(sents[sid])))
            mentions.append({"name": " ".join(sents[sid][start:end]), "sent_id": sid, "pos": [start, end],
                             "type": draw(st.sampled_from(TYPES))})
        vertex_set.append(mentions)
    doc: dict[str, Any] = {"title": title if title is not None else draw(titles), "sents": sents,
                           "vertexSet": vertex_set}
    pairs = [(h, t) for h in range(len(vertex_set)) for t in range(len(vertex_set)) if h != t]
    labels = []
    if pairs:
        for h, t in draw(st.lists(st.sampled_from(pairs), max_size=5)):
            labels.append({"h": h, "t": t, "r": draw(st.sampled_from(RELATIONS)),
                           "evidence": draw(st.lists(st.integers(0, len(sents) - 1), max_size=3, unique=True))})
    if labels or draw(st.booleans()):  # unlabelled documents (a test set) have no "labels" key
        doc["labels"] = labels
    return doc


@st.composite
def docred_corpus(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(titles, min_size=1, max_size=3, unique=True))
    return [draw(docred_document(title=name)) for name in names]


# ------------------------------------------------------------------ corruptions
# Each corruption edits one document in place and returns the field (a fragment of
# DataError.field) that the error must name; ``None`` when it does not apply to the doc.
def _mention_paths(doc: dict) -> list[tuple[int, int]]:
    return [(e, m) for e, ent in enumerate(doc["vertexSet"]) for m in range(len(ent))]


def _corruptions(doc: dict, n_docs: int) -> list[str]:
    kinds = ["del_title", "del_sents", "del_vertexSet", "title_int", "sents_str", "sents_empty",
             "sent_not_list", "word_int", "vertexSet_dict", "labels_dict", "doc_list"]
    if doc["vertexSet"]:
        kinds += ["empty_entity", "entity_dict", "mention_list"]
        kinds += ["sent_id_str", "sent_id_bool", "sent_id_high", "sent_id_neg", "pos_str", "pos_past_end",
                  "pos_reversed", "pos_empty", "pos_three", "del_pos", "del_sent_id", "del_name", "name_int",
                  "type_int"]
    if doc.get("labels"):
        kinds += ["h_eq_t", "h_str", "h_bool", "t_unknown", "t_negative", "r_unknown", "r_int", "del_r", "del_h",
                  "evidence_high", "evidence_str", "label_list"]
    if n_docs > 1:
        kinds.append("duplicate_title")
    return kinds


def _corrupt(draw: st.DrawFn, docs: list[dict], i: int, kind: str) -> tuple[str, Optional[RelationInventory], int]:
    """Apply ``kind`` to ``docs[i]``; return (field fragment, inventory to read with, doc index)."""
    doc = docs[i]
    n_sents = len(doc["sents"])
    if kind.startswith("del_") and kind[4:] in ("title", "sents", "vertexSet"):
        del doc[kind[4:]]
        return kind[4:], None, i
    if kind == "title_int":
        doc["title"] = 7
        return "title", None, i
    if kind == "sents_str":
        doc["sents"] = " ".join(w for s in doc["sents"] for w in s)
        return "sents", None, i
    if kind == "sents_empty":
        doc["sents"] = []
        return "sents", None, i
    if kind == "sent_not_list":
        s = draw(st.integers(0, n_sents - 1))
        doc["sents"][s] = " ".join(doc["sents"][s])
        return f"sents[{s}]", None, i
    if kind == "word_int":
        s = draw(st.integers(0, n_sents - 1))
        w = draw(st.integers(0, len(doc["sents"][s]) - 1))
        doc["sents"][s][w] = draw(st.sampled_from([3, None, ["w"], 1.5]))
        return f"sents[{s}]", None, i
    if kind == "vertexSet_dict":
        doc["vertexSet"] = {"0": doc["vertexSet"]}
        return "vertexSet", None, i
    if kind == "labels_dict":
        doc["labels"] = {"h": 0, "t": 1, "r": "P17"}
        return "labels", None, i
    if kind == "doc_list":
        docs[i] = list(doc.items())
        return "", None, i
    if kind == "duplicate_title":
        j = draw(st.sampled_from([j for j in range(len(docs)) if j != i]))
        docs[max(i, j)]["title"] = docs[min(i, j)]["title"]
        return "title", None, max(i, j)
    if kind in ("empty_entity", "entity_dict"):
        e = draw(st.integers(0, len(doc["vertexSet"]) - 1))
        doc["vertexSet"][e] = [] if kind == "empty_entity" else {"name": "x"}
        return f"vertexSet[{e}]", None, i
    if kind in ("h_eq_t", "h_str", "h_bool", "t_unknown", "t_negative", "r_unknown", "r_int", "del_r", "del_h",
                "evidence_high", "evidence_str", "label_list"):
        j = draw(st.integers(0, len(doc["labels"]) - 1))
        lab = doc["labels"][j]
        fld = f"labels[{j}]"
        if kind == "h_eq_t":
            lab["t"] = lab["h"]
            return f"{fld}.t", None, i
        if kind == "h_str":
            lab["h"] = str(lab["h"])
            return f"{fld}.h", None, i
        if kind == "h_bool":
            lab["h"] = bool(lab["h"])
            return f"{fld}.h", None, i
        if kind == "t_unknown":
            lab["t"] = len(doc["vertexSet"]) + draw(st.integers(0, 3))
            return f"{fld}.t", None, i
        if kind == "t_negative":
            lab["t"] = -1
            return f"{fld}.t", None, i
        if kind == "r_unknown":
            lab["r"] = "P999999"
            return f"{fld}.r", INVENTORY, i
        if kind == "r_int":
            lab["r"] = 17
            return f"{fld}.r", None, i
        if kind in ("del_r", "del_h"):
            del lab[kind[4:]]
            return f"{fld}.{kind[4:]}", None, i
        if kind == "evidence_high":
            lab["evidence"] = [n_sents + draw(st.integers(0, 3))]
            return f"{fld}.evidence", None, i
        if kind == "evidence_str":
            lab["evidence"] = "0"
            return f"{fld}.evidence", None, i
        doc["labels"][j] = [lab["h"], lab["t"], lab["r"]]
        return fld, None, i
    # mention-level faults
    e, m = draw(st.sampled_from(_mention_paths(doc)))
    mention = doc["vertexSet"][e][m]
    fld = f"vertexSet[{e}][{m}]"
    sent_len = len(doc["sents"][mention["sent_id"]])
    start, end = mention["pos"]
    if kind == "mention_list":
        doc["vertexSet"][e][m] = [mention["name"], mention["sent_id"], mention["pos"]]
        return fld, None, i
    if kind == "sent_id_str":
        mention["sent_id"] = str(mention["sent_id"])
        return f"{fld}.sent_id", None, i
    if kind == "sent_id_bool":
        mention["sent_id"] = mention["sent_id"] == 1
        return f"{fld}.sent_id", None, i
    if kind == "sent_id_high":
        mention["sent_id"] = n_sents + draw(st.integers(0, 3))
        return f"{fld}.sent_id", None, i
    if kind == "sent_id_neg":
        mention["sent_id"] = -1
        return f"{fld}.sent_id", None, i
    if kind == "pos_str":
        mention["pos"] = [str(start), end]
        return f"{fld}.pos", None, i
    if kind == "pos_past_end":
        mention["pos"] = [start, sent_len + draw(st.integers(1, 5))]
        return f"{fld}.pos", None, i
    if kind == "pos_reversed":
        mention["pos"] = [end, start]
        return f"{fld}.pos", None, i
    if kind == "pos_empty":
        mention["pos"] = [start, start]
        return f"{fld}.pos", None, i
    if kind == "pos_three":
        mention["pos"] = [start, end, end]
        return f"{fld}.pos", None, i
    if kind in ("del_pos", "del_sent_id", "del_name"):
        del mention[kind[4:]]
        return f"{fld}.{kind[4:]}", None, i
    if kind == "name_int":
        mention["name"] = 42
        return f"{fld}.name", None, i
    if kind == "type_int":
        mention["type"] = ["PER"]
        return f"{fld}.type", None, i
    raise AssertionError(kind)


@st.composite
def corrupted_corpus(draw: st.DrawFn) -> tuple[list[dict], str, Optional[RelationInventory], int, str]:
    docs = draw(docred_corpus())
    i = draw(st.integers(0, len(docs) - 1))
    kind = draw(st.sampled_from(_corruptions(docs[i], len(docs))))
    bad = copy.deepcopy(docs)
    fld, inventory, where = _corrupt(draw, bad, i, kind)
    return bad, fld, inventory, where, kind


# ------------------------------------------------------------------------ tests
@SETTINGS
@given(docred_corpus())
def test_valid_documents_are_accepted_and_round_trip(raw: list[dict]) -> None:
    original = copy.deepcopy(raw)
    docs = documents_from_json(raw, relations=INVENTORY)
    assert raw == original, "validation must not modify its input"
    assert [d.to_json() for d in docs] == raw
    assert [d.index for d in docs] == list(range(len(raw)))
    # and once more through the validated objects: a fixed point
    assert [d.to_json() for d in documents_from_json([d.to_json() for d in docs])] == raw


@settings(max_examples=30, deadline=None)
@given(docred_corpus())
def test_valid_documents_round_trip_through_a_file(raw: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.json"
        path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        assert [d.to_json() for d in read_documents(path, relations=INVENTORY)] == raw


@SETTINGS
@given(corrupted_corpus())
def test_corrupted_documents_raise_data_error_naming_the_field(case: tuple) -> None:
    bad, fld, inventory, where, kind = case
    try:
        documents_from_json(bad, source="corpus.json", relations=inventory)
    except DataError as exc:
        message = str(exc)
        assert exc.file == "corpus.json" and message.startswith("corpus.json"), (kind, message)
        assert exc.doc_index == where and f"document {where}" in message, (kind, message)
        if fld:
            assert exc.field is not None and exc.field.startswith(fld), (kind, exc.field, fld)
            assert f"field {exc.field}" in message, (kind, message)
    except Exception as exc:  # noqa: BLE001 -- any other type is the failure this test looks for
        pytest.fail(f"{kind}: {type(exc).__name__} instead of DataError: {exc}")
    else:
        pytest.fail(f"{kind}: corrupted input accepted: {bad!r}")


@SETTINGS
@given(corrupted_corpus())
def test_validate_file_reports_the_same_fault(case: tuple) -> None:
    """``validate_file`` (``docre data validate``) collects problems instead of raising; the
    fault must be among them and nothing else may escape."""
    from docre.data.reader import validate_file

    bad, fld, inventory, where, kind = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.json"
        path.write_text(json.dumps(bad), encoding="utf-8")
        n, problems = validate_file(path, relations=inventory)
    assert n == len(bad)
    assert any(p.doc_index == where and (not fld or (p.field or "").startswith(fld)) for p in problems), (
        kind, [str(p) for p in problems])


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(
                        ["title", "sents", "vertexSet", "labels", "h", "t", "r", "pos", "sent_id", "name",
                         "evidence", "type"]), c, max_size=5), max_leaves=25))
def test_arbitrary_json_never_raises_anything_but_data_error(raw: Any) -> None:
    """Any JSON value at all, as a corpus or as one document: accepted or a DataError."""
    for corpus in (raw, [raw]):
        try:
            documents_from_json(corpus, relations=INVENTORY)
        except DataError:
            pass
