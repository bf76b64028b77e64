"""brat standoff -> DocRED on the hand-written collection tests/fixtures/brat: coreference by
``*`` lines and by a named relation, nested spans, a discontinuous span, a mention across a line
break, documents without links, files docre ignores."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from docre.cli import main
from docre.data.reader import read_documents
from docre.data.relations import RelationInventory
from docre.interchange import ImportOptions, import_annotations
from docre.interchange.brat import read_brat

BRAT = Path(__file__).parent.parent / "fixtures" / "brat"
NEWS = (BRAT / "kelmar_news.txt").read_text(encoding="utf-8")


def _mentions(doc: dict) -> list[list[tuple]]:
    return [[(m["name"], m["sent_id"], tuple(m["pos"]), m["type"], tuple(m["char_span"])) for m in e]
            for e in doc["vertexSet"]]


def _import(tmp_path: Path, **opts) -> dict[str, dict]:
    res = import_annotations("brat", BRAT, tmp_path / "out.json", options=ImportOptions(**opts))
    return {d["title"]: d for d in res.documents}


def test_news_document_entities_relations_and_sentences(tmp_path: Path):
    doc = _import(tmp_path)["kelmar_news"]
    assert doc["text"] == NEWS
    assert doc["sents"] == [
        ["Ada", "Perrin", "Joins", "Brightwater", "Mills"],
        # "Brightwater\nMills" (T5) crosses the line break: the two lines are one sentence
        ["The", "engineer", "Ada", "Perrin", "left", "Lunden", "for", "Brightwater", "Mills", "on", "Monday", "."],
        ["Perrin", "was", "born", "in", "North", "and", "South", "Kelmar", "."],
        ["She", "works", "for", "the", "Bank", "of", "Lunden", "."],
    ]
    assert _mentions(doc) == [
        # * Coreference T1 T3 T7 T10, entities in the order of their first T line
        [("Ada Perrin", 0, (0, 2), "PER", (0, 10)), ("Ada Perrin", 1, (2, 4), "PER", (48, 58)),
         ("Perrin", 2, (0, 1), "PER", (104, 110)), ("She", 3, (0, 1), "PER", (147, 150))],
        [("Brightwater Mills", 0, (3, 5), "ORG", (17, 34)), ("Brightwater Mills", 1, (7, 9), "ORG", (75, 92))],
        # T4 and T12 linked by the relation "Coref"; T12 lies inside T11 (nested spans)
        [("Lunden", 1, (5, 6), "LOC", (64, 70)), ("Lunden", 3, (6, 7), "LOC", (173, 179))],
        [("Monday", 1, (10, 11), "DATE", (96, 102))],
        # discontinuous T8 "North ... Kelmar": one mention per fragment, one entity
        [("North", 2, (4, 5), "LOC", (123, 128)), ("Kelmar", 2, (7, 8), "LOC", (139, 145))],
        [("South Kelmar", 2, (6, 8), "LOC", (133, 145))],
        [("Bank of Lunden", 3, (4, 7), "ORG", (165, 179))],
    ]
    assert doc["labels"] == [{"h": 0, "t": 4, "r": "born_in", "evidence": []},
                             {"h": 0, "t": 6, "r": "works_for", "evidence": []},
                             {"h": 6, "t": 2, "r": "based_in", "evidence": []}]
    for e in doc["vertexSet"]:
        for m in e:
            assert " ".join(NEWS[m["char_span"][0]:m["char_span"][1]].split()) == m["name"]


def test_document_without_links_groups_identical_names(tmp_path: Path):
    doc = _import(tmp_path)["notes/plain"]  # the title is the path below the collection folder
    assert [[m["char_span"] for m in e] for e in doc["vertexSet"]] == [
        [[0, 6], [68, 74]], [[13, 19], [21, 27], [52, 58]], [[34, 38], [44, 48]]]
    assert [e[0]["name"] for e in doc["vertexSet"]] == ["Lunden", "Kelmar", "king"]
    # R1 and R3 (Lunden located_in Kelmar, from other mentions) are one fact
    assert doc["labels"] == [{"h": 0, "t": 1, "r": "located_in", "evidence": []},
                             {"h": 2, "t": 1, "r": "head_of", "evidence": []}]


def test_entities_links_keeps_unlinked_mentions_apart(tmp_path: Path):
    doc = _import(tmp_path, entities="links")["notes/plain"]
    assert len(doc["vertexSet"]) == 7 and all(len(e) == 1 for e in doc["vertexSet"])
    assert doc["labels"][0] == {"h": 0, "t": 1, "r": "located_in", "evidence": []}
    assert len(doc["labels"]) == 3  # from different mention pairs now, so three facts


def test_entities_names_adds_names_to_links(tmp_path: Path):
    doc = _import(tmp_path, entities="names")["kelmar_news"]
    # the fragment "Kelmar" of T8 and the Kelmar of "South Kelmar" differ in span, not in name:
    # T8 (North, Kelmar) and T9 (South Kelmar) stay apart ("kelmar" != "south kelmar")
    assert [len(e) for e in doc["vertexSet"]] == [4, 2, 2, 1, 2, 1, 1]


def test_discontinuous_as_one_span_or_refused(tmp_path: Path):
    doc = _import(tmp_path, discontinuous="span")["kelmar_news"]
    assert _mentions(doc)[4] == [("North and South Kelmar", 2, (4, 8), "LOC", (123, 145))]
    from docre.errors import DataError

    with pytest.raises(DataError) as err:
        _import(tmp_path, discontinuous="error")
    assert err.value.field == "line 8" and "discontinuous" in str(err.value) and err.value.title == "kelmar_news"


def test_whitespace_tokenizer_keeps_lines_and_words(tmp_path: Path):
    doc = _import(tmp_path, tokenizer="whitespace")["kelmar_news"]
    # lines are sentences (lines 2 and 3 joined under "Brightwater\nMills"); words end at whitespace and
    # at span boundaries only: "Monday." is cut after the mention Monday, "Kelmar." after Kelmar
    assert doc["sents"] == [
        ["Ada", "Perrin", "Joins", "Brightwater", "Mills"],
        ["The", "engineer", "Ada", "Perrin", "left", "Lunden", "for", "Brightwater", "Mills", "on", "Monday", ".",
         "Perrin", "was", "born", "in", "North", "and", "South", "Kelmar", "."],
        ["She", "works", "for", "the", "Bank", "of", "Lunden", "."],
    ]
    assert _mentions(doc)[4] == [("North", 1, (16, 17), "LOC", (123, 128)), ("Kelmar", 1, (19, 20), "LOC", (139, 145))]


def test_counts_and_ignored_lines(tmp_path: Path):
    res = import_annotations("brat", BRAT, tmp_path / "out.json")
    r = res.report
    assert (r.documents, r.entities, r.mentions, r.facts) == (2, 10, 20, 5)
    assert r.discontinuous == 1 and r.merged_sentences == 1 and r.duplicate_facts == 1
    assert r.skipped == ["notes/unannotated"]  # a .txt without .ann: not annotated yet
    assert r.ignored == {"attribute lines": 1, "normalisation lines (not Wikipedia)": 1, "note lines": 1}
    assert r.grouped_by_name == 1


def test_command_writes_documents_and_inventory(tmp_path: Path, capsys):
    out = tmp_path / "docs.json"
    assert main(["data", "import", "brat", str(BRAT), "--out", str(out)]) == 0
    docs = read_documents(out)
    assert [d.title for d in docs] == ["kelmar_news", "notes/plain"]
    assert docs[0].entities[4].mentions[1].char_span == (139, 145)
    inv = RelationInventory.from_file(tmp_path / "docs.relations.json")
    assert inv.ids == ["Na", "based_in", "born_in", "head_of", "located_in", "works_for"]
    assert "inventory written" in capsys.readouterr().out


def test_labels_map_through_an_inventory_of_names(tmp_path: Path):
    info = tmp_path / "rel_info.json"  # DocRED's form: {id: name}
    info.write_text(json.dumps({"P19": "born in", "P108": "works for", "P159": "based in", "P131": "located in",
                                "P35": "head of"}))
    res = import_annotations("brat", BRAT, tmp_path / "out.json", relations=info)
    assert not res.relations_written and not (tmp_path / "out.relations.json").exists()
    doc = {d["title"]: d for d in res.documents}["kelmar_news"]
    assert [lab["r"] for lab in doc["labels"]] == ["P19", "P108", "P159"]  # born_in is "born in" with _


def test_inventory_file_is_written_when_missing(tmp_path: Path):
    rel = tmp_path / "new_rel2id.json"
    res = import_annotations("brat", BRAT / "notes" / "plain.ann", tmp_path / "out.json", relations=rel)
    assert res.relations_written and RelationInventory.from_file(rel).ids == ["Na", "head_of", "located_in"]
    assert [d["title"] for d in res.documents] == ["plain"]  # one document given by its .ann


def test_titles_file_names_documents(tmp_path: Path):
    src = tmp_path / "brat"
    shutil.copytree(BRAT, src)
    (src / "titles.json").write_text(json.dumps({"kelmar_news": "Kelmar news / 2004"}))
    docs = read_brat(src, ImportOptions())
    assert [d.title for d in docs] == ["Kelmar news / 2004", "notes/plain"]
