"""The entity linker (model.task linker) on tiny in-memory models: alias table, features, training,
saving/loading, docre link / evaluate --linking, Pipeline.link and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from docre.cli import main
from docre.data.reader import documents_from_json, read_documents
from docre.linking.aliases import NIL, AliasTable, surface_form
from docre.linking.evaluate import accuracy, prior_links
from docre.linking.features import CANDIDATE_FEATURES, NIL_FEATURES, link_features, without_candidates
from tests.conftest import FIXTURES, tiny_config

#: gold link and candidates per entity name of tests/fixtures/docs.json
LINKS = {
    "Marel Tovik": ("Marel_Tovik", [["Marel_Tovik", 0.9]]),
    "Ostrava Vale": ("Ostrava_Vale", [["Ostrava_Vale", 0.7], ["Vale", 0.3]]),
    "Kelmar": ("Kelmar", [["Kelmar_(band)", 0.6], ["Kelmar", 0.4]]),  # the prior is wrong
    "Brightwater Mills": ("Brightwater_Mills", [["Brightwater_Mills", 1.0]]),
    "1990": (None, []),
    "Lunden": ("Lunden", [["Lunden", 0.8], ["Lunden_(band)", 0.2]]),
    "Ada Perrin": (None, [["Ada_Perrin_(singer)", 0.3]]),  # NIL although it has a candidate
}


def linked_docs() -> list[dict]:
    docs = json.loads((FIXTURES / "docs.json").read_text())
    for doc in docs:
        for ent in doc["vertexSet"]:
            link, cands = LINKS[ent[0]["name"]]
            for m in ent:
                m["link"], m["candidates"] = link, cands
    return docs


@pytest.fixture
def linked_path(tmp_path: Path) -> Path:
    path = tmp_path / "linked.json"
    path.write_text(json.dumps(linked_docs()))
    return path


def test_alias_table_counts_surface_forms_and_leaves_a_document_out():
    docs = documents_from_json(linked_docs())
    table = AliasTable.from_documents(docs)
    # Kelmar: one mention in each of the 3 documents, always linked to "Kelmar"
    assert table.priors("kelmar") == {"Kelmar": 1.0} and table.title_count["Kelmar"] == 3
    assert table.priors("1990") == {NIL: 1.0} and table.candidates("1990", 5) == []
    assert surface_form("  The  Ostrava Vale ") == "ostrava vale"
    without = table.without(docs[0])
    assert without.title_count["Kelmar"] == 2 and without.priors("Marel Tovik") == {}
    # the training mentions' candidate lists: the mean prior per form, also without one document
    assert table.dictionary_priors("Kelmar") == pytest.approx({"Kelmar_(band)": 0.6, "Kelmar": 0.4})
    assert without.dictionary_priors("Kelmar") == pytest.approx({"Kelmar_(band)": 0.6, "Kelmar": 0.4})
    assert without.dictionary_priors("Marel Tovik") == {} and table.candidates("Kelmar", 1) == [("Kelmar", 1.0)]
    assert table.title_count["Kelmar"] == 3  # the full table is unchanged
    assert table.type_of("Kelmar") == docs[0].entities[2].type


def test_features_take_alias_candidates_for_mentions_without(tiny_encoder_dir: Path):
    from docre.config import load_config
    from docre.models.model import load_tokenizer

    cfg = load_config().linker
    docs = documents_from_json(linked_docs())
    table = AliasTable.from_documents(docs)
    tok = load_tokenizer(str(tiny_encoder_dir))
    with_input = link_features(docs, tok, table, cfg)
    raw = link_features([without_candidates(d) for d in docs], tok, table, cfg)
    f, g = with_input[0], raw[0]
    assert f.cand_titles[2] == ["Kelmar_(band)", "Kelmar"] and f.gold[2] == 2  # option 0 is NIL
    # from the alias table only: its gold links (Kelmar: 3 of 3) and its mentions' candidate lists (band: 0.6)
    assert g.cand_titles[2] == ["Kelmar", "Kelmar_(band)"] and g.gold[2] == 1
    assert f.gold[4] == 0 and f.cand_titles[4] == []  # 1990: NIL, no candidates
    assert len(f.cand_feats[2][0]) == len(CANDIDATE_FEATURES) and len(f.nil_feats[0]) == len(NIL_FEATURES)
    idx = CANDIDATE_FEATURES.index("input_prior_max")
    assert [v[idx] for v in f.cand_feats[2]] == [0.6, 0.4] and [v[idx] for v in g.cand_feats[2]] == [1.0, 0.6]
    given = CANDIDATE_FEATURES.index("input_candidates_given")
    assert f.cand_feats[2][0][given] == 1.0 and g.cand_feats[2][0][given] == 0.0
    # the mention spans cover the mention's subwords
    assert len(f.span_start) == sum(len(e.mentions) for e in docs[0].entities)
    assert all(0 < s < e <= len(f.input_ids) - 1 for s, e in zip(f.span_start, f.span_end))


def test_prior_baseline_and_accuracy_by_hand():
    docs = documents_from_json(linked_docs())
    base = [prior_links(d) for d in docs]
    assert base[0] == ["Marel_Tovik", "Ostrava_Vale", "Kelmar_(band)", "Brightwater_Mills", None]
    s = accuracy(base, docs)
    # linked entities: doc0 4 (Kelmar wrong), doc1 3 (Kelmar wrong), doc2 1 (wrong) -> 5 of 8
    # NIL entities: 1990 right, Ada Perrin wrong (prior picks its candidate) -> 1 of 2
    assert (s["linked_entities"], s["nil_entities"]) == (8, 2)
    assert s["linked_accuracy"] == 62.5 and s["nil_accuracy"] == 50.0 and s["entity_accuracy"] == 60.0


def _train(tiny_encoder_dir: Path, tmp_path: Path, train_file: Path, **overrides):
    from docre.training import train

    cfg = tiny_config(tiny_encoder_dir, tmp_path / "run", train_file, **{
        "model.task": "linker", "data.max_seq_length": 0, "data.entity_markers": False, "train.epochs": 60,
        "train.batch_size": 3, "train.lr_new": 0.02, "data.cache": True, "linker.proj_size": 8, "linker.hidden_size": 16,
        "logging.log_every": 100, **overrides})
    return train(cfg)


def test_linker_learns_what_the_prior_gets_wrong_and_round_trips(tiny_encoder_dir, tmp_path, linked_path, one_thread,
                                                                 capsys):
    from docre.pipeline import Pipeline

    result = _train(tiny_encoder_dir, tmp_path, linked_path)
    m = result.best_metrics
    assert m["prior_entity_accuracy"] == 60.0
    assert m["entity_accuracy"] == 100.0 and m["linked_accuracy"] == 100.0 and m["nil_accuracy"] == 100.0
    model_dir = result.run_dir / "best_model"
    assert (model_dir / "aliases.json").is_file()
    # the cached encodings of the frozen encoder are kept for the next run
    assert list((tmp_path / ".cache" / "features").glob("linker_encodings_*.safetensors"))

    pipe = Pipeline.from_dir(model_dir, device="cpu")
    out = pipe.link(linked_docs())
    kelmar = out[0]["vertexSet"][2][0]
    assert kelmar["link"] == "Kelmar" and 0.0 < kelmar["link_score"] <= 1.0
    assert out[0]["vertexSet"][4][0]["link"] is None  # 1990: NIL
    # every mention of an entity carries the entity's link
    assert {m["link"] for m in out[0]["vertexSet"][0]} == {"Marel_Tovik"}

    # docre link: same documents out, links added; docre evaluate --linking on its output
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps([{k: v for k, v in d.items()} for d in json.loads((FIXTURES / "docs.json").read_text())]))
    out_path = tmp_path / "out.json"
    assert main(["link", "--model", str(model_dir), "--data", str(linked_path), "--out", str(out_path), "--quiet"]) == 0
    linked = read_documents(out_path)
    assert [e.mentions[0].link for e in linked[0].entities] == \
        ["Marel_Tovik", "Ostrava_Vale", "Kelmar", "Brightwater_Mills", None]
    assert json.loads(out_path.read_text())[0]["labels"] == linked_docs()[0]["labels"]
    capsys.readouterr()
    assert main(["evaluate", "--linking", "--pred", str(out_path), "--gold", str(linked_path)]) == 0
    table = capsys.readouterr().out
    assert "linker" in table and "100.00" in table and "prior baseline" in table and "62.50" in table
    # documents without links or candidates (raw text): candidates from the alias table
    assert main(["link", "--model", str(model_dir), "--data", str(plain), "--out", str(tmp_path / "p.json"),
                 "--quiet"]) == 0
    raw = read_documents(tmp_path / "p.json")
    assert raw[0].entities[2].mentions[0].link == "Kelmar"
    # a docre extract record (relations, id, text, mention scores) goes through unchanged, links added
    rec = json.loads((FIXTURES / "docs.json").read_text())[0]
    rec.update(id="a1", index=0, relations=[{"h": 0, "t": 2, "r": "P27", "relation": "country", "score": 0.9}])
    for ent in rec["vertexSet"]:
        for m in ent:
            m["score"] = 0.99
    (tmp_path / "extracted.jsonl").write_text(json.dumps(rec) + "\n")
    assert main(["link", "--model", str(model_dir), "--data", str(tmp_path / "extracted.jsonl"),
                 "--out", str(tmp_path / "linked.jsonl"), "--quiet"]) == 0
    back = json.loads((tmp_path / "linked.jsonl").read_text())
    assert back["relations"] == rec["relations"] and back["id"] == "a1" and back["labels"] == rec["labels"]
    assert [{k: v for k, v in m.items() if k not in ("link", "link_score")} for m in back["vertexSet"][2]] == \
        rec["vertexSet"][2]
    assert back["vertexSet"][2][0]["link"] == "Kelmar"
    assert main(["evaluate", "--linking", "--model", str(model_dir), "--gold", str(linked_path), "--no-candidates",
                 "--quiet"]) == 0
    assert "prior (+ aliases)" in capsys.readouterr().out


def test_link_refuses_a_model_without_linker_and_bad_input(tiny_encoder_dir, tmp_path, linked_path, one_thread,
                                                          capsys):
    from docre.training import train

    rel = train(tiny_config(tiny_encoder_dir, tmp_path / "rel", FIXTURES / "docs.json", **{"train.epochs": 1}))
    out = tmp_path / "out.json"
    assert main(["link", "--model", str(rel.run_dir / "best_model"), "--data", str(linked_path), "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not an entity linker" in err and "model.task = 'relation'" in err and not out.exists()
    bad = linked_docs()
    bad[1]["vertexSet"][1][0]["candidates"] = [["Lunden", "high"]]
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    assert main(["link", "--model", str(rel.run_dir / "best_model"), "--data", str(bad_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "document 1" in err and "Brightwater Mills" in err and "vertexSet[1][0].candidates[0]" in err
    assert not out.exists()


def test_inspect_records_show_an_entity_link(tiny_encoder_dir: Path):
    from docre.data.features import featurize_documents
    from docre.data.relations import RelationInventory
    from docre.inspect.attribution import _entities_json
    from docre.models.model import load_tokenizer

    docs = documents_from_json(linked_docs())
    feats = featurize_documents(docs, load_tokenizer(str(tiny_encoder_dir)), RelationInventory.from_relations([]), 0)
    ents = _entities_json(docs[0], feats[0])
    assert ents[0]["link"] == "Marel_Tovik" and ents[4]["link"] is None  # 1990: NIL
    plain = documents_from_json(json.loads((FIXTURES / "docs.json").read_text()))
    assert "link" not in _entities_json(plain[0], feats[0])[0]
