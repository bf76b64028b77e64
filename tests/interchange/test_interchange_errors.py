"""Bad annotation files: one clear error naming the file, the document (index and title) and the
field (brat: the line), exit code 2 from the command line and no output left behind."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.cli import main
from docre.data.reader import documents_from_json
from docre.errors import DataError, DocreError
from docre.interchange import ImportOptions, export_annotations, import_annotations

TEXT = "Ada Perrin lives in Lunden.\n"
GOOD = ["T1\tPER 0 10\tAda Perrin", "T2\tLOC 20 26\tLunden", "R1\tlives_in Arg1:T1 Arg2:T2"]


def _brat(tmp_path: Path, extra: list[str], base: list[str] = GOOD) -> Path:
    src = tmp_path / "brat"
    src.mkdir()
    (src / "doc.txt").write_text(TEXT)
    (src / "doc.ann").write_text("\n".join(base + extra) + "\n")
    return src


BRAT_CASES = [
    (["T3\tPER 0 x\tAda"], "line 4", ["does not parse", "offsets"]),
    (["R2\tlives_in Arg1:T1"], "line 4", ["does not parse", "Arg2"]),
    (["X1\tsomething T1"], "line 4", ["unknown annotation id 'X1'"]),
    (["T3\tLOC 20 99\tLunden"], "line 4", ["outside the text", "28 characters"]),
    (["R2\tlives_in Arg1:T1 Arg2:T9"], "line 4", ["unknown entity 'T9'"]),
    (["E1\tMove:T1", "R2\tmoved Arg1:E1 Arg2:T2"], "line 5", ["unknown entity 'E1'", "an event"]),
    (["T3\tLOC 20 26\tLondon"], "line 4", ["'London' does not match the text", "'Lunden'"]),
    (["T1\tPER 0 3\tAda"], "line 4", ["id T1 is used twice"]),
    (["*\tCoreference T1 T7"], "line 4", ["unknown entity 'T7'"]),
    (["T3\tPER 4 10\tPerrin", "*\tCoreference T1 T3", "R2\tknows Arg1:T1 Arg2:T3"], "line 6",
     ["two mentions of the same entity"]),
    (["T3\tLOC 27 28\t"], "line 4", ["covers only whitespace"]),
]


@pytest.mark.parametrize("extra, field, fragments", BRAT_CASES)
def test_bad_ann_line_names_file_document_and_line(tmp_path: Path, extra: list[str], field: str,
                                                   fragments: list[str]):
    src = _brat(tmp_path, extra)
    with pytest.raises(DataError) as err:
        import_annotations("brat", src, tmp_path / "out.json")
    e = err.value
    assert (e.file, e.doc_index, e.title, e.field) == (str(src / "doc.ann"), 0, "doc", field)
    for f in fragments:
        assert f in str(e)
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out.relations.json").exists()


def test_label_outside_the_inventory(tmp_path: Path):
    src = _brat(tmp_path, [])
    rel = tmp_path / "rel2id.json"
    rel.write_text(json.dumps({"Na": 0, "P19": 1}))
    with pytest.raises(DataError) as err:
        import_annotations("brat", src, tmp_path / "out.json", relations=rel)
    assert err.value.field == "line 3" and "'lives_in' is not in the relation inventory" in str(err.value)


def test_ann_without_text_file(tmp_path: Path):
    src = _brat(tmp_path, [])
    (src / "doc.txt").unlink()
    with pytest.raises(DataError) as err:
        import_annotations("brat", src, tmp_path / "out.json")
    assert err.value.file == str(src / "doc.ann") and "no text file doc.txt" in str(err.value)


def test_command_prints_one_line_and_exits_2(tmp_path: Path, capsys):
    src = _brat(tmp_path, ["T3\tLOC 20 99\tLunden"])
    out = tmp_path / "out.json"
    assert main(["data", "import", "brat", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("docre: error:")
    assert "doc.ann" in err[0] and "document 0" in err[0] and "field line 4" in err[0]
    assert not out.exists()


# --- Label Studio -------------------------------------------------------------------------------------

def _region(b: int, e: int, text: str, rid: str = "r1", label: str = "PER") -> dict:
    return {"id": rid, "type": "labels", "value": {"start": b, "end": e, "text": text, "labels": [label]}}


LS_CASES = [
    ([_region(20, 99, "Lunden")], "annotations[0].result[0].value", ["outside the text"]),
    ([_region(0, 10, "Ada Peron")], "annotations[0].result[0].value", ["does not match the text"]),
    ([_region(0, 10, "Ada Perrin"), {"type": "relation", "from_id": "zz", "to_id": "r1", "labels": ["x"]}],
     "annotations[0].result[1].from_id", ["unknown entity 'zz'"]),
    ([{"id": "r1", "type": "labels", "value": {"start": "0", "end": 3, "labels": ["PER"]}}],
     "annotations[0].result[0].value.start", ["must be a character offset"]),
    ([_region(0, 10, "Ada Perrin"), _region(20, 26, "Lunden", "r2"),
      {"type": "relation", "from_id": "r1", "to_id": "r2", "labels": ["x"], "direction": "up"}],
     "annotations[0].result[2].direction", ["right, left or bi"]),
]


@pytest.mark.parametrize("result, field, fragments", LS_CASES)
def test_bad_label_studio_result_names_task_and_field(tmp_path: Path, result: list, field: str,
                                                      fragments: list[str]):
    f = tmp_path / "export.json"
    f.write_text(json.dumps([{"id": 5, "data": {"text": "Nothing.", "title": "fine"}, "annotations": []},
                             {"id": 7, "data": {"text": TEXT, "title": "Ada"}, "annotations": [{"result": result}]}]))
    with pytest.raises(DataError) as err:
        import_annotations("labelstudio", f, tmp_path / "out.json")
    e = err.value
    assert (e.file, e.doc_index, e.title, e.field) == (str(f), 1, "Ada", field)
    for frag in fragments:
        assert frag in str(e)
    assert not (tmp_path / "out.json").exists()


def test_label_studio_task_without_text(tmp_path: Path):
    f = tmp_path / "export.json"
    f.write_text(json.dumps([{"id": 3, "data": {"content": TEXT}, "annotations": [{"result": []}]}]))
    with pytest.raises(DataError) as err:
        import_annotations("labelstudio", f, tmp_path / "out.json")
    assert err.value.field == "data.text" and err.value.title == "task 3"
    # the text under another key is read with text_key
    res = import_annotations("labelstudio", f, tmp_path / "out.json", text_key="content")
    assert res.documents[0]["text"] == TEXT and res.documents[0]["vertexSet"] == []


def test_label_studio_invalid_json(tmp_path: Path):
    f = tmp_path / "export.json"
    f.write_text('[{"id": 1, "data": ')
    with pytest.raises(DataError) as err:
        import_annotations("labelstudio", f, tmp_path / "out.json")
    assert err.value.file == str(f) and "invalid JSON" in str(err.value)


def test_duplicate_titles_are_caught_by_the_reader(tmp_path: Path):
    f = tmp_path / "export.json"
    task = {"data": {"text": TEXT, "title": "same"}, "annotations": [{"result": [_region(0, 10, "Ada Perrin")]}]}
    f.write_text(json.dumps([task, task]))
    with pytest.raises(DataError) as err:
        import_annotations("labelstudio", f, tmp_path / "out.json")
    assert err.value.field == "title" and err.value.doc_index == 1 and "duplicate title" in str(err.value)


def test_unknown_options_are_refused():
    from docre.errors import ConfigError

    with pytest.raises(ConfigError, match="entities must be one of"):
        ImportOptions(entities="everything")


# --- export -------------------------------------------------------------------------------------------

DOC = {"title": "Ada", "sents": [["Ada", "Perrin", "lives", "in", "Lunden", "."]],
       "vertexSet": [[{"name": "Ada Perrin", "sent_id": 0, "pos": [0, 2], "type": "PER"}],
                     [{"name": "Lunden", "sent_id": 0, "pos": [4, 5], "type": "LOC"}]]}


def test_export_bad_prediction_names_document_and_field(tmp_path: Path, capsys):
    f = tmp_path / "preds.json"
    f.write_text(json.dumps([{**DOC, "relations": [{"h": 0, "t": 9, "r": "P551", "score": 0.9}]}]))
    with pytest.raises(DataError) as err:
        export_annotations("brat", f, tmp_path / "brat")
    assert (err.value.doc_index, err.value.title, err.value.field) == (0, "Ada", "relations[0].t")
    assert main(["data", "export", "labelstudio", str(f), "--out", str(tmp_path / "tasks.json")]) == 2
    assert "relations[0].t" in capsys.readouterr().err
    assert not (tmp_path / "brat").exists() and not list(tmp_path.glob("tasks*"))


def test_export_char_span_outside_the_text(tmp_path: Path):
    doc = json.loads(json.dumps(DOC))
    doc["text"] = "Ada Perrin"
    doc["vertexSet"][0][0]["char_span"] = [0, 10]
    doc["vertexSet"][1][0]["char_span"] = [20, 26]
    documents_from_json([doc])  # valid DocRED: the reader does not know the text
    f = tmp_path / "docs.json"
    f.write_text(json.dumps([doc]))
    with pytest.raises(DataError) as err:
        export_annotations("brat", f, tmp_path / "brat")
    assert err.value.field == "vertexSet[1][0].char_span" and "outside the document text" in str(err.value)


def test_brat_export_never_overwrites_a_collection(tmp_path: Path):
    f = tmp_path / "docs.json"
    f.write_text(json.dumps([DOC]))
    dst = tmp_path / "brat"
    dst.mkdir()
    (dst / "corrected.ann").write_text("T1\tPER 0 3\tAda\n")
    with pytest.raises(DocreError, match="not an empty folder"):
        export_annotations("brat", f, dst)
    assert [p.name for p in dst.iterdir()] == ["corrected.ann"]
