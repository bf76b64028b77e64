"""Label Studio JSON export -> DocRED on the hand-written export tests/fixtures/labelstudio:
which annotation is read, coreference relations, nested regions, relation directions, an emoji
(code points, and an older Label Studio's UTF-16 offsets)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.errors import DataError
from docre.interchange import ImportOptions, import_annotations
from docre.interchange.labelstudio import read_labelstudio

EXPORT = Path(__file__).parent.parent / "fixtures" / "labelstudio" / "export.json"


def _docs(tmp_path: Path) -> dict[str, dict]:
    res = import_annotations("labelstudio", EXPORT, tmp_path / "out.json")
    return {d["title"]: d for d in res.documents}


def test_annotated_task_entities_and_relations(tmp_path: Path):
    doc = _docs(tmp_path)["Bank of Lunden"]
    text = doc["text"]
    assert doc["sents"] == [["Ada", "Perrin", "founded", "the", "Bank", "of", "Lunden", "in", "Lunden", "."],
                            ["Perrin", "\U0001F680", "still", "runs", "the", "bank", "from", "Lunden", "."]]
    ents = [[(m["name"], m["sent_id"], m["pos"], m["type"]) for m in e] for e in doc["vertexSet"]]
    assert ents == [
        [("Ada Perrin", 0, [0, 2], "PER"), ("Perrin", 1, [0, 1], "PER")],  # Coreference a1 -> a5
        [("Bank of Lunden", 0, [4, 7], "ORG"), ("bank", 1, [5, 6], "ORG")],
        # "coref" (any case) links a3 (inside "Bank of Lunden") and a4, a4 and a7
        [("Lunden", 0, [6, 7], "LOC"), ("Lunden", 0, [8, 9], "LOC"), ("Lunden", 1, [7, 8], "LOC")],
    ]
    # after the emoji, offsets are code points: text[start:end] is the region's text
    m = doc["vertexSet"][2][2]
    assert text[m["char_span"][0]:m["char_span"][1]] == "Lunden" and m["char_span"] == [83, 89]
    # founded_by a2 -> a1; "contains" from a2 to a4 with direction left: a4 -> a2
    assert doc["labels"] == [{"h": 1, "t": 0, "r": "founded_by", "evidence": []},
                             {"h": 2, "t": 1, "r": "contains", "evidence": []}]


def test_which_annotation_is_read_and_skipped_tasks(tmp_path: Path):
    res = import_annotations("labelstudio", EXPORT, tmp_path / "out.json")
    # task 11: its annotation (the cancelled one and the empty prediction are not read);
    # task 12: no annotation, so its prediction; task 13: neither, skipped
    assert [d["title"] for d in res.documents] == ["Bank of Lunden", "Kelmar"]
    assert res.report.skipped == ["task 13"]
    assert res.report.ignored == {"'choices' results": 1}


def test_utf16_offsets_of_older_versions_are_recognised(tmp_path: Path):
    doc = _docs(tmp_path)["Kelmar"]
    text = doc["text"]
    # b2 "Lunden" was stored at UTF-16 offsets 39..45 (the emoji counts two units)
    lunden = doc["vertexSet"][1][0]
    assert lunden["char_span"] == [38, 44] and text[38:44] == "Lunden"
    assert doc["labels"] == [{"h": 1, "t": 0, "r": "capital_of", "evidence": []}]


def _task(result: list, text: str = "Ada met Ben in Lunden.") -> list:
    return [{"id": 1, "data": {"text": text}, "annotations": [{"result": result}]}]


def _region(rid: str, b: int, e: int, text: str, label: str) -> dict:
    return {"id": rid, "type": "labels", "from_name": "label", "to_name": "text",
            "value": {"start": b, "end": e, "text": text, "labels": [label]}}


def test_bidirectional_relation_gives_both_directions(tmp_path: Path):
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(_task([_region("x", 0, 3, "Ada", "PER"), _region("y", 8, 11, "Ben", "PER"),
                                   {"from_id": "x", "to_id": "y", "type": "relation", "direction": "bi",
                                    "labels": ["met", "knows"]}])))
    res = import_annotations("labelstudio", f, tmp_path / "out.json")
    assert [(lab["h"], lab["t"], lab["r"]) for lab in res.documents[0]["labels"]] == [
        (0, 1, "met"), (1, 0, "met"), (0, 1, "knows"), (1, 0, "knows")]
    assert res.documents[0]["title"] == "task 1"


def test_unlabelled_relation_is_an_error_naming_the_result(tmp_path: Path):
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(_task([_region("x", 0, 3, "Ada", "PER"), _region("y", 8, 11, "Ben", "PER"),
                                   {"from_id": "x", "to_id": "y", "type": "relation", "labels": []}])))
    with pytest.raises(DataError) as err:
        read_labelstudio(f, ImportOptions())
    assert err.value.field == "annotations[0].result[2].labels" and "has no label" in str(err.value)
    assert err.value.doc_index == 0 and err.value.title == "task 1"


def test_custom_coreference_label(tmp_path: Path):
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(_task([_region("x", 0, 3, "Ada", "PER"), _region("y", 8, 11, "Ben", "PER"),
                                   {"from_id": "x", "to_id": "y", "type": "relation", "labels": ["same_as"]}])))
    res = import_annotations("labelstudio", f, tmp_path / "out.json",
                             options=ImportOptions(coreference=("same_as",)))
    assert len(res.documents[0]["vertexSet"]) == 1 and res.documents[0]["labels"] == []
