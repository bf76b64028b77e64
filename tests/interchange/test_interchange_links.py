"""Entity links through the annotation tools: brat normalisation lines and Label Studio's value.link."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.errors import DataError
from docre.interchange import ImportOptions, export_annotations, import_annotations
from docre.interchange.annotations import AnnotatedText
from docre.interchange.brat import parse_ann
from docre.interchange.annotations import ImportReport

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _linked(tmp_path: Path) -> Path:
    docs = json.loads((FIXTURES / "docs.json").read_text())
    for ent in docs[0]["vertexSet"]:
        for m in ent:
            m["link"] = {"Marel Tovik": "Marel_Tovik", "Kelmar": "Kelmar", "1990": None}.get(ent[0]["name"], "X_(y)")
    path = tmp_path / "linked.json"
    path.write_text(json.dumps(docs[:1]))
    return path


@pytest.mark.parametrize("fmt", ["brat", "labelstudio"])
def test_links_survive_export_and_import(tmp_path: Path, fmt: str):
    src = _linked(tmp_path)
    dst = tmp_path / ("brat" if fmt == "brat" else "tasks.json")
    export_annotations(fmt, src, dst)
    if fmt == "brat":
        ann = (dst / "Marel Tovik.ann").read_text()
        assert "Reference T1 Wikipedia:Marel_Tovik\tMarel Tovik" in ann
        assert sum(line.startswith("N") for line in ann.splitlines()) == 6  # 7 mentions, one of them NIL
    relations = None if fmt == "brat" else tmp_path / "tasks.relations.json"
    back = import_annotations(fmt, dst, tmp_path / "back.json", relations=relations, options=ImportOptions()).documents
    links = {e[0]["name"]: {m.get("link", "absent") for m in e} for e in back[0]["vertexSet"]}
    assert links["Marel Tovik"] == {"Marel_Tovik"} and links["Kelmar"] == {"Kelmar"}
    assert links["Ostrava Vale"] == {"X_(y)"}
    # NIL: Label Studio keeps the null; brat has no normalisation for it (no link annotation)
    assert links["1990"] == ({None} if fmt == "labelstudio" else {"absent"})


def _parse(ann: str) -> AnnotatedText:
    text = "Ada Perrin met Perrin."
    return parse_ann(ann, text, "d", "d.ann", 0, ImportOptions(), ImportReport())


def test_brat_normalisation_lines_are_checked():
    doc = _parse("T1\tPER 0 10\tAda Perrin\nN1\tReference T1 Wikipedia:Ada_Perrin\tAda Perrin\n"
                 "N2\tReference T1 Wikidata:Q1\tx\n")
    assert doc.spans[0].link == "Ada_Perrin" and doc.spans[0].has_link
    with pytest.raises(DataError) as err:
        _parse("T1\tPER 0 10\tAda Perrin\nN1\tReference T9 Wikipedia:Ada_Perrin\n")
    assert err.value.field == "line 2" and "unknown entity 'T9'" in str(err.value)
    with pytest.raises(DataError) as err:
        _parse("T1\tPER 0 10\tAda Perrin\nN1\tReference T1\n")
    assert err.value.field == "line 2" and "does not parse" in str(err.value)


def test_two_links_on_one_entity_are_refused(tmp_path: Path):
    d = tmp_path / "brat"
    d.mkdir()
    (d / "a.txt").write_text("Ada Perrin met Perrin.")
    (d / "a.ann").write_text("T1\tPER 0 10\tAda Perrin\nT2\tPER 15 21\tPerrin\n*\tCoreference T1 T2\n"
                             "N1\tReference T1 Wikipedia:Ada_Perrin\tx\nN2\tReference T2 Wikipedia:Perrin\tx\n")
    with pytest.raises(DataError) as err:
        import_annotations("brat", d, tmp_path / "out.json")
    assert "an entity has one link" in str(err.value) and not (tmp_path / "out.json").exists()
