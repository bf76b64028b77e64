"""Export then import: the same entities and relations come back (brat and Label Studio), predictions
travel with their scores, a text and its character offsets are kept when the document has them."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from docre.cli import main
from docre.data.reader import documents_from_json, read_documents
from docre.data.relations import RelationInventory
from docre.interchange import ExportOptions, ImportOptions, export_annotations, from_docred, import_annotations
from docre.pipeline import readable_predictions

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _export_import(fmt: str, src: Path, tmp_path: Path, tokenizer: str = "spacy", **export_kw) -> list[dict]:
    dst = tmp_path / ("brat" if fmt == "brat" else "tasks.json")
    export_annotations(fmt, src, dst, **export_kw)
    relations = None if fmt == "brat" else tmp_path / "tasks.relations.json"  # brat: found in the folder
    res = import_annotations(fmt, dst, tmp_path / "back.json", relations=relations,
                             options=ImportOptions(tokenizer=tokenizer))
    return res.documents


def _entities_and_relations(raw: dict, index: int = 0) -> tuple[list[frozenset], set]:
    """A document's entities as sets of (character span, type) in its exported text, and its facts
    over them. For an imported document the spans are its char_span; for the original, where
    export puts its mentions."""
    if "char_span" in raw["vertexSet"][0][0] and isinstance(raw.get("text"), str):
        ents = [frozenset((m["char_span"][0], m["char_span"][1], m["type"]) for m in e) for e in raw["vertexSet"]]
    else:
        ann, _ = from_docred(raw, "<test>", index, ExportOptions())
        spans = iter(ann.spans)
        ents = [frozenset((s.fragments[0][0], s.fragments[0][1], s.type) for s in [next(spans) for _ in e])
                for e in raw["vertexSet"]]
    facts = {(ents[f["h"]], ents[f["t"]], f["r"]) for f in raw.get("labels") or []}
    return ents, facts


@pytest.mark.parametrize("fmt", ["brat", "labelstudio"])
def test_gold_documents_come_back_word_for_word_with_the_whitespace_tokenizer(fmt: str, tmp_path: Path):
    original = json.loads((FIXTURES / "docs.json").read_text())
    back = {d["title"]: d for d in _export_import(fmt, FIXTURES / "docs.json", tmp_path, "whitespace")}
    assert sorted(back) == sorted(d["title"] for d in original)
    for doc in original:
        b = back[doc["title"]]
        assert b["sents"] == doc["sents"]
        assert [[{k: m[k] for k in ("name", "sent_id", "pos", "type")} for m in e] for e in b["vertexSet"]] == \
            doc["vertexSet"]
        assert [(f["h"], f["t"], f["r"]) for f in b["labels"]] == [(f["h"], f["t"], f["r"]) for f in doc["labels"]]


@pytest.mark.parametrize("fmt", ["brat", "labelstudio"])
def test_gold_documents_come_back_with_spacy(fmt: str, tmp_path: Path):
    original = json.loads((FIXTURES / "docs.json").read_text())
    back = {d["title"]: d for d in _export_import(fmt, FIXTURES / "docs.json", tmp_path)}
    for i, doc in enumerate(original):
        assert _entities_and_relations(back[doc["title"]]) == _entities_and_relations(doc, i)
    read_documents(tmp_path / "back.json")  # what import wrote is valid DocRED


def _predictions(tmp_path: Path) -> Path:
    """``docre predict``'s output format, built by its own function with scored triples."""
    docs = read_documents(FIXTURES / "docs.json")
    names = {"P19": "place of birth", "P108": "employer", "P17": "country", "P131": "located in",
             "P159": "headquarters location"}
    relations = RelationInventory.from_relations(names, names)
    triples = [{"title": "Marel Tovik", "h_idx": 0, "t_idx": 1, "r": "P19", "score": 0.93},
               {"title": "Marel Tovik", "h_idx": 0, "t_idx": 3, "r": "P108", "score": 0.61},
               {"title": "Brightwater Mills", "h_idx": 0, "t_idx": 1, "r": "P159", "score": 0.55}]
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(readable_predictions(docs, triples, relations)))
    return path


def test_predictions_export_with_scores_and_names_to_brat(tmp_path: Path):
    preds = _predictions(tmp_path)
    rep = export_annotations("brat", preds, tmp_path / "brat", min_score=0.6)
    assert (rep.relations, rep.below_min_score) == (2, 1)
    ann = (tmp_path / "brat" / "Marel Tovik.ann").read_text()
    # relations by name (brat-safe), scored in a note, mentions tied by an equivalence
    assert "R1\tplace_of_birth Arg1:T1 Arg2:T3\n#1\tAnnotatorNotes R1\tscore 0.9300\n" in ann
    assert "R2\temployer Arg1:T2 Arg2:T6\n#2\tAnnotatorNotes R2\tscore 0.6100\n" in ann  # closest mentions
    assert "*\tCoreference T1 T2\n" in ann
    assert (tmp_path / "brat" / "Brightwater Mills.ann").read_text().count("\tR") == 0
    conf = (tmp_path / "brat" / "annotation.conf").read_text()
    assert "place_of_birth\tArg1:<ENTITY>, Arg2:<ENTITY>" in conf and "Coreference\tArg1" in conf
    res = import_annotations("brat", tmp_path / "brat", tmp_path / "back.json")
    back = {d["title"]: d for d in res.documents}
    assert [(f["h"], f["t"], f["r"]) for f in back["Marel Tovik"]["labels"]] == [(0, 1, "P19"), (0, 3, "P108")]
    assert str(res.relations_path) == str(tmp_path / "brat" / "relations.json") and not res.relations_written


def test_predictions_export_to_label_studio(tmp_path: Path):
    preds = _predictions(tmp_path)
    assert main(["data", "export", "labelstudio", str(preds), "--out", str(tmp_path / "tasks.json"),
                 "--labels", "id"]) == 0
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    first = tasks[0]
    assert first["data"]["title"] == "Marel Tovik" and first["data"]["text"].startswith("Marel Tovik was born in")
    pred = first["predictions"][0]
    rels = [r for r in pred["result"] if r["type"] == "relation"]
    assert [(r["labels"], r.get("score")) for r in rels] == [
        (["Coreference"], None), (["Coreference"], None), (["P19"], 0.93), (["P108"], 0.61)]
    assert pred["score"] == 0.61  # the least certain relation, so Label Studio can sort by it
    region = pred["result"][0]
    assert region["value"] == {"start": 0, "end": 11, "text": "Marel Tovik", "labels": ["PER"]}
    config = (tmp_path / "tasks.label_config.xml").read_text()
    assert '<Relation value="P19"/>' in config and '<Label value="PER"/>' in config and '$text' in config
    inv = RelationInventory.from_file(tmp_path / "tasks.relations.json")
    assert inv.names["P19"] == "place of birth"
    # Label Studio's own export of these tasks, nobody having corrected them: the predictions come back
    res = import_annotations("labelstudio", tmp_path / "tasks.json", tmp_path / "back.json",
                             relations=tmp_path / "tasks.relations.json")
    assert [(f["h"], f["t"], f["r"]) for f in res.documents[0]["labels"]] == [(0, 1, "P19"), (0, 3, "P108")]


def test_a_corrected_label_studio_task_imports_the_correction(tmp_path: Path):
    preds = _predictions(tmp_path)
    export_annotations("labelstudio", preds, tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    result = tasks[0]["predictions"][0]["result"]
    # the annotator deletes the employer relation and relabels place of birth as country of citizenship
    corrected = [r for r in result if r.get("labels") != ["employer"]]
    for r in corrected:
        if r.get("labels") == ["place of birth"]:
            r["labels"] = ["country of citizenship"]
    tasks[0]["annotations"] = [{"result": corrected, "was_cancelled": False}]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    # the exported inventory lists every DocRED relation, not only the predicted ones: P27 is there
    inv = RelationInventory.from_file(tmp_path / "tasks.relations.json")
    assert "P27" in inv and len(inv) - 1 == 96
    res = import_annotations("labelstudio", tmp_path / "export.json", tmp_path / "back.json",
                             relations=tmp_path / "tasks.relations.json")
    assert [(f["h"], f["t"], f["r"]) for f in res.documents[0]["labels"]] == [(0, 1, "P27")]


def test_text_and_offsets_of_a_document_are_kept(tmp_path: Path):
    """A DWIE article converted by data_prep.convert_dwie keeps its text: export writes that text and
    the original offsets, and import gives the same entities back."""
    from data_prep.convert_dwie import convert_dwie

    docs, _, _ = convert_dwie(FIXTURES / "dwie" / "annos_with_content", "train")
    src = tmp_path / "dwie.json"
    src.write_text(json.dumps(docs))
    export_annotations("brat", src, tmp_path / "brat")
    assert (tmp_path / "brat" / "DW_100.txt").read_text() == docs[0]["text"]
    ann = (tmp_path / "brat" / "DW_100.ann").read_text()
    assert "T1\ttype::person 0 10\tAda Perrin\n" in ann and "\ttype::location 131 137\tKelmar\n" in ann
    back = import_annotations("brat", tmp_path / "brat", tmp_path / "back.json").documents[0]
    assert _entities_and_relations(back) == _entities_and_relations(docs[0])
    # "Kelmar" inside the word "Kelmarian" is its own word now
    words = [w for sent in back["sents"] for w in sent]
    assert words[words.index("Kelmar"):words.index("Kelmar") + 3] == ["Kelmar", "ian", "citizen"]


def test_entities_sharing_a_name_without_links_need_entities_links(tmp_path: Path, caplog):
    doc = {"title": "two Parises", "sents": [["Paris", "met", "Paris", "."]],
           "vertexSet": [[{"name": "Paris", "sent_id": 0, "pos": [0, 1], "type": "PER"}],
                         [{"name": "Paris", "sent_id": 0, "pos": [2, 3], "type": "PER"}]],
           "labels": [{"h": 0, "t": 1, "r": "met", "evidence": []}]}
    src = tmp_path / "docs.json"
    src.write_text(json.dumps([doc]))
    with caplog.at_level(logging.WARNING):
        rep = export_annotations("brat", src, tmp_path / "brat")
    assert rep.name_collisions == ["two Parises"] and "--entities links" in caplog.text
    back = import_annotations("brat", tmp_path / "brat", tmp_path / "back.json",
                              options=ImportOptions(entities="links")).documents[0]
    assert len(back["vertexSet"]) == 2 and back["labels"] == [{"h": 0, "t": 1, "r": "met", "evidence": []}]
    from docre.errors import DataError

    with pytest.raises(DataError, match="same entity"):  # by name they are one entity
        import_annotations("brat", tmp_path / "brat", tmp_path / "back.json")


def test_unsafe_titles_travel_through_titles_json(tmp_path: Path):
    doc = json.loads((FIXTURES / "docs.json").read_text())[2]
    doc["title"] = "AC/DC: .hidden?"
    src = tmp_path / "docs.json"
    src.write_text(json.dumps([doc]))
    export_annotations("brat", src, tmp_path / "brat")
    assert (tmp_path / "brat" / "AC_DC: .hidden?.ann").exists()
    assert import_annotations("brat", tmp_path / "brat", tmp_path / "back.json").documents[0]["title"] == doc["title"]


# --- real data ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, tokenizer", [("brat", "whitespace"), ("labelstudio", "spacy")])
def test_redocred_dev_round_trip(data_dir: Path, tmp_path: Path, fmt: str, tokenizer: str):
    path = data_dir / "redocred" / "dev_revised.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    original = json.loads(path.read_text(encoding="utf-8"))[:150]
    src = tmp_path / "dev150.json"
    src.write_text(json.dumps(original))
    back = {d["title"]: d for d in _export_import(fmt, src, tmp_path, tokenizer)}
    same = sum(_entities_and_relations(back[d["title"]]) == _entities_and_relations(d, i)
               for i, d in enumerate(original))
    assert same == len(original) == 150
    documents_from_json(list(back.values()))


def test_the_annotation_loop_keeps_the_original_text(tmp_path: Path):
    """import -> docre predict's output -> export: the tool gets the annotated text back, not the
    words joined by spaces (readable_predictions keeps a document's text)."""
    res = import_annotations("brat", FIXTURES / "brat", tmp_path / "docs.json")
    docs = read_documents(tmp_path / "docs.json")
    triples = [{"title": "kelmar_news", "h_idx": 0, "t_idx": 5, "r": "born_in", "score": 0.8}]
    preds = readable_predictions(docs, triples, res.relations)
    assert preds[0]["text"] == (FIXTURES / "brat" / "kelmar_news.txt").read_text()
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    rep = export_annotations("brat", tmp_path / "preds.json", tmp_path / "out")
    assert rep.text_from_words == 0
    assert (tmp_path / "out" / "kelmar_news.txt").read_text() == preds[0]["text"]
    ann = (tmp_path / "out" / "kelmar_news.ann").read_text()
    assert "T5\tORG 17 34\tBrightwater Mills\n" in ann  # the offsets of the annotated text
    assert "R1\tborn_in Arg1:T4 Arg2:T12\n#1\tAnnotatorNotes R1\tscore 0.8000\n" in ann  # She -> South Kelmar


def test_gold_relations_named_from_an_inventory(tmp_path: Path):
    info = tmp_path / "rel_info.json"
    info.write_text(json.dumps({"P19": "place of birth", "P108": "employer", "P17": "country"}))
    assert main(["data", "export", "brat", str(FIXTURES / "docs.json"), "--out", str(tmp_path / "brat"),
                 "--relations", str(info)]) == 0
    ann = (tmp_path / "brat" / "Marel Tovik.ann").read_text()
    assert "\tplace_of_birth Arg1:" in ann and "\temployer Arg1:" in ann
    # P131 is not in that file: DocRED's own label names it
    assert "\tlocated_in_the_administrative_territorial_entity Arg1:" in ann
    back = {d["title"]: d for d in import_annotations("brat", tmp_path / "brat", tmp_path / "back.json").documents}
    original = json.loads((FIXTURES / "docs.json").read_text())[0]
    assert sorted(f["r"] for f in back["Marel Tovik"]["labels"]) == sorted(f["r"] for f in original["labels"])


def _conf_relations(conf: str) -> list[str]:
    """The relation labels an annotation.conf declares (the coreference relation aside)."""
    section = conf.split("[relations]\n", 1)[1].split("\n\n", 1)[0]
    return [line.split("\t")[0] for line in section.splitlines() if "symmetric-transitive" not in line]


def test_export_declares_the_whole_inventory_not_only_predicted_relations(tmp_path: Path):
    """An annotator must be able to add a relation the model missed: the config lists them all."""
    preds = _predictions(tmp_path)  # predicts P19, P108, P159 only
    export_annotations("brat", preds, tmp_path / "brat")
    declared = _conf_relations((tmp_path / "brat" / "annotation.conf").read_text())
    assert len(declared) == 96 and "country_of_citizenship" in declared and "place_of_birth" in declared
    assert len(RelationInventory.from_file(tmp_path / "brat" / "relations.json")) == 97  # Na + 96

    # --model: that model's inventory, exactly (the sample model knows 10 relations)
    model = tmp_path / "model"
    model.mkdir()
    sample = RelationInventory.from_file(Path(__file__).parents[2] / "docre" / "resources" / "sample" /
                                         "relations.json")
    sample.save(model / "relations.json")
    assert main(["data", "export", "labelstudio", str(preds), "--out", str(tmp_path / "tasks.json"),
                 "--model", str(model)]) == 0
    config = (tmp_path / "tasks.label_config.xml").read_text()
    relations = re.findall(r'<Relation value="([^"]+)"/>', config)
    assert relations == ["Coreference", *[sample.name(r) for r in sample.ids[1:]]]
    assert "spouse" in relations and "date of birth" in relations  # never predicted, still offered
    assert RelationInventory.from_file(tmp_path / "tasks.relations.json").ids == sample.ids


def test_export_of_other_relation_ids_declares_those_found(tmp_path: Path):
    raw = json.loads((FIXTURES / "docs.json").read_text())
    for doc in raw:
        for lab in doc.get("labels") or []:
            lab["r"] = "located_in" if lab["r"] == "P131" else "works_for"
    src = tmp_path / "docs.json"
    src.write_text(json.dumps(raw))
    export_annotations("brat", src, tmp_path / "brat")
    assert _conf_relations((tmp_path / "brat" / "annotation.conf").read_text()) == ["located_in", "works_for"]
