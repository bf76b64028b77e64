"""Train (tiny) -> save -> load -> predict -> result.json -> evaluate, for ATLOP, KMGRE (shared
encoder) and KMGRE (separate key encoder); the CLI and the Python pipeline on the same model;
the demo config on the bundled sample."""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from docre.cli import main
from docre.config import Config, load_config
from docre.data import Document, read_documents
from docre.data.features import DocFeatures, featurize_documents
from docre.evaluation import official_scores
from docre.inference import predict
from docre.models.model import DocREModel, load_tokenizer
from docre.pipeline import Pipeline
from docre.training import train

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "docs.json"
DEMO_CONFIG = ROOT / "configs" / "demo.json"
RELATION_NAMES = {"P17": "country", "P19": "place of birth", "P27": "country of citizenship", "P108": "employer",
                  "P131": "located in the administrative territorial entity", "P159": "headquarters location"}

VARIANTS: dict[str, dict[str, Any]] = {
    "atlop": {"model.head": "atlop"},
    "kmgre": {"model.head": "kmgre", "kmgre.warmup_epochs": 10, "kmgre.em_period": -1},
    "kmgre_separate": {"model.head": "kmgre", "kmgre.warmup_epochs": 10, "kmgre.em_period": -1,
                       "kmgre.key_encoder": "separate"},
}


@dataclass
class Trained:
    """A tiny model trained in memory, saved to ``model_dir``, and its in-memory predictions on the fixture."""

    variant: str
    config: Config
    run_dir: Path
    model: DocREModel
    tokenizer: Any
    model_dir: Path
    docs: list[Document]
    features: list[DocFeatures]
    triples: list[dict[str, Any]]
    logits: list[torch.Tensor]


def _key(t: dict[str, Any]) -> tuple:
    return (t["title"], t["h_idx"], t["t_idx"], t["r"])


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def trained(request: pytest.FixtureRequest, tiny_encoder_dir: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from conftest import tiny_config

    variant = request.param
    tmp = tmp_path_factory.mktemp(variant)
    rel_info = tmp / "rel_info.json"
    rel_info.write_text(json.dumps(RELATION_NAMES), encoding="utf-8")
    config = tiny_config(tiny_encoder_dir, tmp / "run", FIXTURE, **{
        "train.epochs": 40, "train.batch_size": 3, "train.num_threads": 1, "train.lr_encoder": 3e-3,
        "train.lr_new": 3e-3, "train.eval_every": 10, "data.relations_file": str(rel_info), **VARIANTS[variant]})
    result = train(config)
    assert result.model is not None
    model = result.model
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    model_dir = tmp / "saved"
    model.save(model_dir, tokenizer)
    docs = read_documents(FIXTURE)
    features = featurize_documents(docs, tokenizer, model.relations, config.data.max_seq_length)
    triples, logits = predict(model, features, return_logits=True)
    assert logits is not None
    return Trained(variant, config, result.run_dir, model, tokenizer, model_dir, docs, features, triples,
                   list(logits))


# ---------------------------------------------------------------- save -> load -> predict


def test_in_memory_model_predicts_facts(trained: Trained) -> None:
    # the round trip below compares real predictions, not empty lists
    assert trained.triples
    assert official_scores(trained.triples, trained.docs)["f1"] >= 50.0
    assert [tuple(lg.shape) for lg in trained.logits] == [(20, 7), (12, 7), (0, 7)]


def test_loaded_model_gives_identical_logits(trained: Trained) -> None:
    loaded, tokenizer = DocREModel.load(trained.model_dir)
    assert not loaded.training
    assert loaded.relations.ids == trained.model.relations.ids
    assert loaded.relations.name("P27") == "country of citizenship"
    assert loaded.config == trained.model.config
    assert tokenizer.get_vocab() == trained.tokenizer.get_vocab()
    assert type(loaded.head) is type(trained.model.head)
    if trained.variant == "kmgre_separate":
        assert loaded.head.key_encoder is not None
    state, loaded_state = trained.model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[k].cpu(), loaded_state[k]) for k in state)
    triples, logits = predict(loaded, trained.features, return_logits=True)
    assert logits is not None
    for before, after in zip(trained.logits, logits):
        assert torch.equal(before, after)
    assert triples == trained.triples


def test_best_model_reproduces_its_dev_predictions(trained: Trained) -> None:
    best, _ = DocREModel.load(trained.run_dir / "best_model")
    triples, _ = predict(best, trained.features)
    written = json.loads((trained.run_dir / "dev_predictions.json").read_text())
    assert sorted(map(_key, triples)) == sorted(map(_key, written))
    saved = json.loads((trained.run_dir / "best_model" / "metrics.json").read_text())
    assert official_scores(triples, trained.docs, trained.docs)["f1"] == pytest.approx(saved["f1"])


@pytest.mark.parametrize("trained", ["kmgre", "kmgre_separate"], indirect=True)
def test_kmgre_key_threshold_tau_survives_save_and_load(trained: Trained, tmp_path: Path) -> None:
    model = trained.model
    # A tau below every p_omega makes K = all mention pairs (see the test below), so the key set surely
    # differs from the one at tau_end; the trainer saves the best model at whatever tau the schedule
    # has reached (tau_start <= tau < tau_end).
    tau_after_training = model.head.tau
    model.head.set_tau(0.0)
    try:
        _, before = predict(model, trained.features, return_logits=True)
        model.save(tmp_path / "at_tau_0", trained.tokenizer)
    finally:
        model.head.set_tau(tau_after_training)
    loaded, _ = DocREModel.load(tmp_path / "at_tau_0")
    _, after = predict(loaded, trained.features, return_logits=True)
    assert before is not None and after is not None
    assert all(torch.equal(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("trained", ["kmgre", "kmgre_separate"], indirect=True)
def test_tau_changes_the_key_set_of_the_trained_model(trained: Trained) -> None:
    """Why the test above matters: on this model, tau = 0 and tau_end select different key pairs."""
    from docre.models.batch import collate

    model = trained.model
    tau_after_training, was_training = model.head.tau, model.training
    model.eval()
    keys = []
    for tau in (0.0, trained.config.kmgre.tau_end):
        model.head.set_tau(tau)
        with torch.no_grad():
            out = model(collate(trained.features[:1], model.relations.num_classes), phase="eval", return_details=True)
        keys.append(out.details[0]["key"])
    model.head.set_tau(tau_after_training)
    model.train(was_training)
    assert bool(keys[0].all()) and not bool(keys[1].all())


# ---------------------------------------------------------------- the CLI and the pipeline on the saved model


def test_cli_predict_writes_readable_json(trained: Trained, tmp_path: Path) -> None:
    out = tmp_path / "predictions.json"
    rc = main(["predict", "--model", str(trained.model_dir), "--data", str(FIXTURE), "--out", str(out),
               "--device", "cpu", "--quiet"])
    assert rc == 0
    preds = json.loads(out.read_text(encoding="utf-8"))
    assert [(p["title"], p["index"]) for p in preds] == [("Marel Tovik", 0), ("Brightwater Mills", 1),
                                                         ("Lone entity", 2)]
    got = []
    for p, doc in zip(preds, trained.docs):
        for rel in p["relations"]:
            h, t = doc.entities[rel["h"]], doc.entities[rel["t"]]
            assert (rel["head"], rel["head_type"], rel["tail"], rel["tail_type"]) == (h.name, h.type, t.name, t.type)
            assert rel["relation"] == RELATION_NAMES[rel["r"]]
            assert 0.5 < rel["score"] <= 1.0  # predicted: the relation's logit beats the threshold class
            got.append((p["title"], rel["h"], rel["t"], rel["r"]))
        assert [r["score"] for r in p["relations"]] == sorted((r["score"] for r in p["relations"]), reverse=True)
        # the document itself comes back (without gold labels), so the file can be exported or inspected
        assert p["sents"] == doc.sents and len(p["vertexSet"]) == len(doc.entities) and "labels" not in p
    assert sorted(got) == sorted(map(_key, trained.triples))
    assert preds[2]["relations"] == []


def test_cli_submit_then_evaluate(trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = tmp_path / "result.json"
    rc = main(["submit", "--model", str(trained.model_dir), "--data", str(FIXTURE), "--out", str(result),
               "--zip", "--device", "cpu", "--quiet"])
    assert rc == 0
    submitted = json.loads(result.read_text(encoding="utf-8"))
    # CodaLab's fields only (predict's score and per-sentence evidence scores stay out of result.json)
    assert submitted == [{k: t[k] for k in ("title", "h_idx", "t_idx", "r", "evidence")} for t in trained.triples]
    assert all(set(t) == {"title", "h_idx", "t_idx", "r", "evidence"} for t in submitted)
    with zipfile.ZipFile(tmp_path / "result.zip") as zf:
        assert zf.namelist() == ["result.json"]
        assert zf.read("result.json") == result.read_bytes()
    capsys.readouterr()

    scores_path = tmp_path / "scores.json"
    rc = main(["evaluate", "--pred", str(result), "--gold", str(FIXTURE), "--train", str(FIXTURE),
               "--out", str(scores_path)])
    assert rc == 0
    printed = capsys.readouterr().out
    expected = official_scores(trained.triples, trained.docs, trained.docs)
    scores = json.loads(scores_path.read_text())
    assert scores["f1"] == pytest.approx(expected["f1"]) and scores["f1"] > 0
    assert scores["num_predicted"] == len(trained.triples) and scores["num_gold"] == 7
    assert scores["ign_f1"] == pytest.approx(expected["ign_f1"])
    relation_row = next(line for line in printed.splitlines() if line.startswith("relation"))
    assert float(relation_row.split()[-1]) == pytest.approx(expected["f1"], abs=0.005)


def test_pipeline_predicts_unlabelled_dicts(trained: Trained) -> None:
    pipe = Pipeline.from_dir(trained.model_dir, device="cpu")
    raw = [d.to_json() for d in trained.docs]
    for r in raw:
        r.pop("labels")
    preds = pipe.predict(raw)
    assert [p["title"] for p in preds] == [d.title for d in trained.docs]
    got = sorted((p["title"], r["h"], r["t"], r["r"]) for p in preds for r in p["relations"])
    assert got == sorted(map(_key, trained.triples))
    assert pipe.predict_triples(raw) == trained.triples


@pytest.mark.parametrize("trained", ["atlop"], indirect=True)
def test_cli_reports_a_damaged_model_directory(trained: Trained, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained.model_dir, broken)
    (broken / "relations.json").unlink()
    rc = main(["predict", "--model", str(broken), "--data", str(FIXTURE), "--out", str(tmp_path / "p.json"),
               "--quiet"])
    assert rc == 2
    assert "relations.json" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


# ---------------------------------------------------------------- the demo config


def test_demo_config_trains_on_the_bundled_sample(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    if not DEMO_CONFIG.exists():
        pytest.skip(f"{DEMO_CONFIG} does not exist yet")
    config = load_config(DEMO_CONFIG, overrides={
        "model.encoder": str(tiny_encoder_dir), "train.max_steps": 3, "train.output_dir": str(tmp_path / "demo"),
        "train.num_threads": 1, "data.cache_dir": "none", "logging.progress": False,
        "logging.log_every": 1})
    result = train(config)
    run = result.run_dir
    assert run == tmp_path / "demo"
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if "phase" in r] == [1, 2, 3]
    test_docs = read_documents(ROOT / "docre" / "resources" / "sample" / "test.json")
    titles = {d.title for d in test_docs}
    result_json = json.loads((run / "result.json").read_text())
    assert isinstance(result_json, list) and all(t["title"] in titles for t in result_json)
    assert (run / "best_model" / "model.safetensors").exists()
    assert result.history and result.history[-1]["dev_num_gold"] == 186
