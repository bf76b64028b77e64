"""Entity-linking fields on mentions: ``link``, ``candidates``, ``link_score`` are read, validated and written back."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.data.documents import mention_json
from docre.data.reader import documents_from_json, read_documents, validate_file
from docre.errors import DataError


def _doc(**mention_fields) -> dict:
    m = {"name": "Bonn", "sent_id": 0, "pos": [0, 1], "type": "LOC", **mention_fields}
    return {"title": "d0", "sents": [["Bonn", "is", "a", "city", "."]], "vertexSet": [[m]]}


def test_links_and_candidates_are_kept_and_written_back():
    doc = documents_from_json([_doc(link="Bonn", candidates=[["Bonn", 0.9], ["Bonn_(band)", 1]])])[0]
    m = doc.entities[0].mentions[0]
    assert m.link == "Bonn" and m.has_link and m.candidates == (("Bonn", 0.9), ("Bonn_(band)", 1.0))
    assert mention_json(m)["candidates"] == [["Bonn", 0.9], ["Bonn_(band)", 1.0]]
    assert doc.to_json()["vertexSet"][0][0]["link"] == "Bonn"


def test_null_link_is_nil_and_a_missing_link_is_no_annotation():
    nil = documents_from_json([_doc(link=None)])[0].entities[0].mentions[0]
    none = documents_from_json([_doc()])[0].entities[0].mentions[0]
    assert nil.link is None and nil.has_link and mention_json(nil)["link"] is None
    assert none.link is None and not none.has_link and "link" not in mention_json(none)


@pytest.mark.parametrize("fields, field, fragment", [
    ({"candidates": [["Bonn", "high"]]}, "vertexSet[0][0].candidates[0]", "[title, prior] pair"),
    ({"candidates": [["Bonn"]]}, "vertexSet[0][0].candidates[0]", "[title, prior] pair"),
    ({"candidates": [[1, 0.5]]}, "vertexSet[0][0].candidates[0]", "[title, prior] pair"),
    ({"candidates": {"Bonn": 0.5}}, "vertexSet[0][0].candidates", "list of [title, prior] pairs"),
    ({"candidates": [["Bonn", True]]}, "vertexSet[0][0].candidates[0]", "[title, prior] pair"),
    ({"link": 42}, "vertexSet[0][0].link", "string) or null"),
    ({"link": ["Bonn"]}, "vertexSet[0][0].link", "string) or null"),
    ({"link_score": "x"}, "vertexSet[0][0].link_score", "a number or null"),
])
def test_bad_link_fields_name_file_document_and_field(tmp_path: Path, fields: dict, field: str, fragment: str):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([_doc(), {**_doc(**fields), "title": "second"}]))
    with pytest.raises(DataError) as err:
        read_documents(path)
    e = err.value
    assert e.file == str(path) and e.doc_index == 1 and e.title == "second" and e.field == field
    assert fragment in str(e)
    n, problems = validate_file(path)
    assert n == 2 and [p.field for p in problems] == [field]
