"""DocRED's relation ids (Wikidata properties) are named without a relations file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from docre.cli import main
from docre.data.relations import RelationInventory
from docre.resources import wikidata_relation_labels

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docre" / "resources" / "sample" / "dev.json"


def test_the_96_docred_relations_are_shipped() -> None:
    labels = wikidata_relation_labels()
    assert len(labels) == 96
    assert labels["P17"] == "country"
    assert labels["P131"] == "located in the administrative territorial entity"
    assert labels["P1376"] == "capital of" and labels["P27"] == "country of citizenship"


def test_an_inventory_of_docred_ids_is_named() -> None:
    inv = RelationInventory(["Na", "P17", "P131"])
    assert inv.name("P17") == "country" and inv.names["P131"].startswith("located in")
    assert RelationInventory.from_relations(["P569", "P570"]).name("P570") == "date of death"
    # names given win over the labels
    assert RelationInventory(["Na", "P17"], {"P17": "nation"}).name("P17") == "nation"


@pytest.mark.parametrize("ids", [["Na", "P17", "located_in"], ["Na", "CID"], ["Na", "P17", "P99999"]])
def test_other_inventories_keep_bare_ids(ids: list) -> None:
    """Only an inventory made entirely of DocRED's relations is named: a mixed one may mean other things."""
    inv = RelationInventory(ids)
    assert inv.names == {} and inv.name(ids[1]) == ids[1]


def test_data_stats_names_relations(fixture_docs_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "stats", str(fixture_docs_path), "--tokenizer", "none", "--json"]) == 0
    table = {r["id"]: r["name"] for r in json.loads(capsys.readouterr().out)["labels"]["relations"]}
    assert table["P27"] == "country of citizenship" and table["P159"] == "headquarters location"


def test_predict_names_relations_of_a_model_saved_without_names(tiny_encoder_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture, one_thread) -> None:
    """A model directory whose relations.json lists ids only (as Re-DocRED/DocRED runs wrote it)
    still predicts relations with their names."""
    from conftest import tiny_config
    from docre.data.features import file_hash
    from docre.models.model import DocREModel, load_tokenizer

    ids = ["Na", "P17", "P19", "P26", "P36", "P108", "P131", "P150", "P159", "P569", "P1376"]
    config = tiny_config(tiny_encoder_dir, tmp_path / "run", SAMPLE, **{"model.head": "atlop"})
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    torch.manual_seed(3)
    DocREModel.build(config, RelationInventory(ids), tokenizer).save(tmp_path / "model", tokenizer)
    rel_file, cfg_file = tmp_path / "model" / "relations.json", tmp_path / "model" / "config.json"
    rel_file.write_text(json.dumps({"ids": ids}), encoding="utf-8")  # no names, as older model directories
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    cfg["relations_sha256"] = file_hash(rel_file)
    cfg_file.write_text(json.dumps(cfg), encoding="utf-8")
    out = tmp_path / "preds.json"
    assert main(["predict", "--model", str(tmp_path / "model"), "--data", str(SAMPLE), "--out", str(out),
                 "--device", "cpu", "--quiet"]) == 0
    rels = [r for d in json.loads(out.read_text(encoding="utf-8")) for r in d["relations"]]
    assert rels, "the untrained model predicts something"
    labels = wikidata_relation_labels()
    assert all(r["relation"] == labels[r["r"]] for r in rels)
