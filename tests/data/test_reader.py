"""Reading and validating DocRED-format files (docre.data.reader, docre.data.documents)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from docre.data import Document, Entity, Fact, Mention, RelationInventory, documents_from_json, read_documents
from docre.data.reader import validate_file
from docre.errors import DataError

FIXTURE_RELATIONS = RelationInventory.from_relations(["P17", "P19", "P27", "P108", "P131", "P159"])


@pytest.fixture
def raw_docs(fixture_docs_path: Path) -> list[dict[str, Any]]:
    return json.loads(fixture_docs_path.read_text(encoding="utf-8"))


def _write(tmp_path: Path, docs: Any, name: str = "docs.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(docs), encoding="utf-8")
    return path


# ---------------------------------------------------------------- reading valid data


def test_fixture_documents_are_read_into_typed_fields(fixture_docs_path: Path) -> None:
    docs = read_documents(fixture_docs_path, relations=FIXTURE_RELATIONS, require_labels=True)
    assert [d.title for d in docs] == ["Marel Tovik", "Brightwater Mills", "Lone entity"]
    assert [d.index for d in docs] == [0, 1, 2]
    first = docs[0]
    assert isinstance(first, Document) and first.has_labels
    assert len(first.sents) == 3 and first.num_words == 13 + 10 + 9
    assert len(first.entities) == 5
    # entity 0: two mentions in different sentences
    marel = first.entities[0]
    assert isinstance(marel, Entity)
    assert marel.mentions == (
        Mention(name="Marel Tovik", sent_id=0, start=0, end=2, type="PER"),
        Mention(name="Tovik", sent_id=1, start=0, end=1, type="PER"),
    )
    assert marel.type == "PER" and marel.name == "Marel Tovik"
    assert marel.names == {"Marel Tovik", "Tovik"} and marel.sent_ids == {0, 1}
    assert marel.mentions[1].pos == (0, 1)
    # the multi-label pair (1, 2) keeps both facts, in file order
    assert first.labels is not None and len(first.labels) == 5
    assert first.labels[1] == Fact(h=1, t=2, r="P131", evidence=(0,))
    assert first.labels[2] == Fact(h=1, t=2, r="P17", evidence=(0,))
    assert [(f.h, f.t, f.r) for f in docs[1].labels or []] == [(0, 1, "P159"), (2, 3, "P27")]


def test_document_with_one_entity_is_valid_and_has_no_pairs(fixture_docs_path: Path) -> None:
    lone = read_documents(fixture_docs_path)[2]
    assert len(lone.entities) == 1
    assert list(lone.entity_pairs()) == []
    assert lone.labels == []  # labelled, with no facts


def test_entity_pairs_are_all_ordered_pairs_in_row_major_order(fixture_docs_path: Path) -> None:
    doc = read_documents(fixture_docs_path)[1]  # 4 entities
    pairs = list(doc.entity_pairs())
    assert len(pairs) == 4 * 3
    assert pairs[:4] == [(0, 1), (0, 2), (0, 3), (1, 0)]
    assert all(h != t for h, t in pairs) and len(set(pairs)) == len(pairs)


def test_to_json_round_trip(raw_docs: list[dict[str, Any]]) -> None:
    docs = documents_from_json(raw_docs, "fixture")
    # the fixture carries exactly the keys docre writes back, so to_json reproduces it
    assert [d.to_json() for d in docs] == raw_docs
    again = documents_from_json([d.to_json() for d in docs], "again")
    assert again == docs


def test_unlabelled_document_has_labels_none(raw_docs: list[dict[str, Any]]) -> None:
    raw = raw_docs[0]
    raw.pop("labels")
    doc = documents_from_json([raw])[0]
    assert doc.labels is None and not doc.has_labels
    assert "labels" not in doc.to_json()


def test_extra_keys_are_kept_in_extra(raw_docs: list[dict[str, Any]]) -> None:
    raw_docs[1]["source"] = "made up"
    assert documents_from_json(raw_docs)[1].extra == {"source": "made up"}


def test_require_labels_names_the_unlabelled_document(tmp_path: Path, raw_docs: list[dict[str, Any]]) -> None:
    raw_docs[1].pop("labels")
    path = _write(tmp_path, raw_docs)
    read_documents(path)  # fine without the requirement
    with pytest.raises(DataError) as info:
        read_documents(path, require_labels=True)
    assert (info.value.file, info.value.doc_index, info.value.title, info.value.field) == (
        str(path), 1, "Brightwater Mills", "labels")


# ---------------------------------------------------------------- one problem each

Mutation = Callable[[list[dict[str, Any]]], None]


def _set(path: list[Any], value: Any) -> Mutation:
    def mutate(docs: list[dict[str, Any]]) -> None:
        target: Any = docs
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _pop(path: list[Any]) -> Mutation:
    def mutate(docs: list[dict[str, Any]]) -> None:
        target: Any = docs
        for key in path[:-1]:
            target = target[key]
        target.pop(path[-1])
    return mutate


# (mutation, relations given?, expected doc_index, title, field, words in the message)
CASES = {
    "missing sents": (_pop([1, "sents"]), False, 1, "Brightwater Mills", "sents", "missing key 'sents'"),
    "missing vertexSet": (_pop([0, "vertexSet"]), False, 0, "Marel Tovik", "vertexSet", "missing key"),
    "missing title": (_pop([1, "title"]), False, 1, None, "title", "missing key 'title'"),
    "missing mention pos": (_pop([0, "vertexSet", 0, 0, "pos"]), False, 0, "Marel Tovik", "vertexSet[0][0].pos",
                            "missing key 'pos'"),
    # "Ostrava Vale" in sentence 1 (10 words) moved to [7, 11)
    "pos outside sentence": (_set([0, "vertexSet", 1, 1, "pos"], [7, 11]), False, 0, "Marel Tovik",
                             "vertexSet[1][1].pos", "outside sentence 1"),
    "pos reversed": (_set([1, "vertexSet", 2, 0, "pos"], [5, 3]), False, 1, "Brightwater Mills",
                     "vertexSet[2][0].pos", "span"),
    "sent_id out of range": (_set([0, "vertexSet", 4, 0, "sent_id"], 3), False, 0, "Marel Tovik",
                             "vertexSet[4][0].sent_id", "out of range"),
    "entity without mentions": (_set([0, "vertexSet", 2], []), False, 0, "Marel Tovik", "vertexSet[2]",
                                "no mentions"),
    "label with unknown entity": (_set([1, "labels", 1, "t"], 4), False, 1, "Brightwater Mills", "labels[1].t",
                                  "unknown entity 4"),
    "unknown relation": (_set([1, "labels", 1, "r"], "P999"), True, 1, "Brightwater Mills", "labels[1].r",
                         "P999"),
    "head equals tail": (_set([0, "labels", 3, "t"], 0), False, 0, "Marel Tovik", "labels[3].t",
                         "same entity"),
    "label missing r": (_pop([0, "labels", 0, "r"]), False, 0, "Marel Tovik", "labels[0].r", "missing key 'r'"),
    "evidence out of range": (_set([1, "labels", 0, "evidence"], [2]), False, 1, "Brightwater Mills",
                              "labels[0].evidence", "out of range"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_located(tmp_path: Path, raw_docs: list[dict[str, Any]], case: str) -> None:
    mutate, with_relations, doc_index, title, field, words = CASES[case]
    docs = copy.deepcopy(raw_docs)
    mutate(docs)
    path = _write(tmp_path, docs)
    relations: Optional[RelationInventory] = FIXTURE_RELATIONS if with_relations else None
    with pytest.raises(DataError) as info:
        read_documents(path, relations=relations)
    err = info.value
    assert (err.file, err.doc_index, err.title, err.field) == (str(path), doc_index, title, field)
    assert words in str(err)
    assert len(err.problems) >= 1 and err.problems[0].field == field


def test_unknown_relation_is_only_an_error_with_an_inventory(raw_docs: list[dict[str, Any]]) -> None:
    raw_docs[1]["labels"][1]["r"] = "P999"
    assert documents_from_json(raw_docs)[1].labels[1].r == "P999"  # type: ignore[index]
    with pytest.raises(DataError):
        documents_from_json(raw_docs, relations=FIXTURE_RELATIONS)


def test_in_memory_source_name_is_used(raw_docs: list[dict[str, Any]]) -> None:
    raw_docs[0]["labels"][0]["h"] = 1
    raw_docs[0]["labels"][0]["t"] = 1
    with pytest.raises(DataError) as info:
        documents_from_json(raw_docs, source="<request>")
    assert info.value.file == "<request>" and info.value.field == "labels[0].t"


def test_duplicate_titles_are_rejected(tmp_path: Path, raw_docs: list[dict[str, Any]]) -> None:
    raw_docs[2]["title"] = "Marel Tovik"
    with pytest.raises(DataError) as info:
        read_documents(_write(tmp_path, raw_docs))
    assert (info.value.doc_index, info.value.title, info.value.field) == (2, "Marel Tovik", "title")


def test_top_level_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read_documents(_write(tmp_path, {"title": "x"}))
    assert info.value.doc_index is None and "list" in str(info.value)


# ---------------------------------------------------------------- collecting problems


def test_validate_file_collects_every_problem(tmp_path: Path, raw_docs: list[dict[str, Any]]) -> None:
    raw_docs[0]["vertexSet"][1][1]["pos"] = [7, 11]  # doc 0: pos outside sentence
    raw_docs[0]["labels"][4]["r"] = "P999"  # doc 0: unknown relation
    raw_docs[1]["labels"][0]["t"] = 0  # doc 1: h == t
    del raw_docs[1]["sents"]  # doc 1: missing sents
    path = _write(tmp_path, raw_docs)
    n, problems = validate_file(path, FIXTURE_RELATIONS)
    assert n == 3
    located = [(p.file, p.doc_index, p.title, p.field) for p in problems]
    assert located == [
        (str(path), 0, "Marel Tovik", "vertexSet[1][1].pos"),
        (str(path), 0, "Marel Tovik", "labels[4].r"),
        (str(path), 1, "Brightwater Mills", "sents"),
        (str(path), 1, "Brightwater Mills", "labels[0].t"),
    ]
    # read_documents stops at the first document with a problem but keeps all of its problems
    with pytest.raises(DataError) as info:
        read_documents(path, relations=FIXTURE_RELATIONS)
    assert [p.field for p in info.value.problems] == ["vertexSet[1][1].pos", "labels[4].r"]
    assert "(and 1 more problems)" in str(info.value)


def test_validate_file_on_a_clean_file(fixture_docs_path: Path) -> None:
    assert validate_file(fixture_docs_path, FIXTURE_RELATIONS) == (3, [])


def test_validate_file_reports_unparsable_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"title": "x",', encoding="utf-8")
    n, problems = validate_file(path)
    assert n == 0 and len(problems) == 1
    assert problems[0].file == str(path) and "invalid JSON" in problems[0].message


def test_empty_entity_does_not_shift_later_entity_indices(tmp_path: Path, raw_docs: list[dict[str, Any]]) -> None:
    raw_docs[1]["vertexSet"][0] = []  # doc 1 still has 4 entity slots; label (2, 3) is valid
    raw_docs[1]["labels"] = [raw_docs[1]["labels"][1]]
    _, problems = validate_file(_write(tmp_path, raw_docs))
    assert [(p.doc_index, p.field) for p in problems] == [(1, "vertexSet[0]")]
