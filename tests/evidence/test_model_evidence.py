"""Evidence from trained tiny models: on every predicted triple, through predict, submit, the
readable predictions, evaluate (with the rule baseline) and the inspect records; evidence
supervision (train.evidence_weight) reaches the loss and is logged."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from docre.cli import main
from docre.data import Document, read_documents
from docre.data.features import DocFeatures, featurize_documents
from docre.evaluation import official_scores
from docre.evidence.attach import PARTS_KEY
from docre.evidence.scores import sentence_of_positions
from docre.inference import predict
from docre.models.model import DocREModel, load_tokenizer
from docre.training import train

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "docs.json"
VARIANTS = {
    "atlop": {"model.head": "atlop"},
    "kmgre": {"model.head": "kmgre", "kmgre.warmup_epochs": 6, "kmgre.em_period": -1},
}

pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass
class Trained:
    variant: str
    run_dir: Path
    model: DocREModel
    docs: list[Document]
    features: list[DocFeatures]
    triples: list[dict[str, Any]]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def trained(request: pytest.FixtureRequest, tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Trained:
    from conftest import tiny_config

    tmp = tmp_path_factory.mktemp("evidence_" + request.param)
    config = tiny_config(tiny_encoder_dir, tmp / "run", FIXTURE, **{
        "train.epochs": 40, "train.batch_size": 3, "train.num_threads": 1, "train.lr_encoder": 3e-3,
        "train.lr_new": 3e-3, "train.eval_every": 5, "train.evidence_weight": 1.0, **VARIANTS[request.param]})
    result = train(config)
    model = result.model
    docs = read_documents(FIXTURE)
    feats = featurize_documents(docs, load_tokenizer(str(tiny_encoder_dir)), model.relations,
                                config.data.max_seq_length)
    triples, _ = predict(model, feats)
    return Trained(request.param, result.run_dir, model, docs, feats, triples)


def test_every_predicted_triple_has_scored_evidence(trained: Trained) -> None:
    assert trained.triples
    by_title = {d.title: d for d in trained.docs}
    threshold = trained.model.config.evidence.threshold
    for t in trained.triples:
        n = len(by_title[t["title"]].sents)
        assert len(t["evidence_scores"]) == n
        assert t["evidence"] == [s for s in range(n) if t["evidence_scores"][s] >= threshold - 1e-4]
        att = t[PARTS_KEY]["attention"]
        assert 0.0 <= sum(att) <= 1.0 + 1e-5  # attention mass within sentences (CLS/SEP keep the rest)
        if trained.variant == "kmgre":
            key = t[PARTS_KEY]["key_pairs"]
            # each key pair spreads its share over at most two sentences; shares sum to one
            assert 1.0 - 1e-5 <= sum(key) <= 2.0 + 1e-5


def test_kmgre_key_pair_scores_sit_on_key_mention_sentences(trained: Trained) -> None:
    if trained.variant != "kmgre":
        pytest.skip("KMGRE only")
    for t in trained.triples:
        feat = next(f for f in trained.features if f.title == t["title"])
        ms = sentence_of_positions(feat.sent_pos, feat.mention_pos)
        ents = {ms[m] for m in feat.entity_mentions[t["h_idx"]] + feat.entity_mentions[t["t_idx"]]}
        scored = {s for s, v in enumerate(t[PARTS_KEY]["key_pairs"]) if v > 0}
        assert scored and scored <= ents


def test_dev_validation_chose_and_saved_the_threshold(trained: Trained) -> None:
    rows = [json.loads(x) for x in (trained.run_dir / "metrics.jsonl").read_text().splitlines()]
    dev = [r for r in rows if "dev_rule_evi_f1" in r]
    chosen = [r for r in dev if "dev_evidence_threshold" in r]  # (an evaluation without triples chooses none)
    assert chosen and all(0.0 < r["dev_evidence_threshold"] < 1.0 for r in chosen)
    assert all(r["dev_num_predicted"] == 0 for r in dev if r not in chosen)
    saved = json.loads((trained.run_dir / "best_model" / "config.json").read_text())
    best = json.loads((trained.run_dir / "best_model" / "metrics.json").read_text())
    assert saved["evidence"]["threshold"] == best["evidence_threshold"]
    assert any("loss_evidence" in r for r in rows)  # evidence supervision reached the loss
    loaded, _ = DocREModel.load(trained.run_dir / "best_model")
    assert loaded.config.evidence.threshold == best["evidence_threshold"]


def test_predicted_evidence_beats_nothing_and_is_scored_officially(trained: Trained) -> None:
    s = official_scores(trained.triples, trained.docs)
    assert s["num_correct"] > 0
    assert s["evi_f1"] > 0.0


def test_disabled_evidence_gives_empty_lists(trained: Trained) -> None:
    cfg = trained.model.config.evidence
    cfg.enabled = False
    try:
        triples, _ = predict(trained.model, trained.features)
    finally:
        cfg.enabled = True
    assert [t["evidence"] for t in triples] == [[] for _ in triples]
    assert all("evidence_scores" not in t for t in triples)
    strip = lambda ts: sorted((t["title"], t["h_idx"], t["t_idx"], t["r"]) for t in ts)  # noqa: E731
    assert strip(triples) == strip(trained.triples)  # evidence never changes the relations


def test_cli_submit_predict_evaluate_and_inspect_carry_evidence(trained: Trained, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    model_dir = trained.run_dir / "best_model"
    best, _ = DocREModel.load(model_dir)
    feats = trained.features
    expected, _ = predict(best, feats)
    result = tmp_path / "result.json"
    assert main(["submit", "--model", str(model_dir), "--data", str(FIXTURE), "--out", str(result), "--quiet",
                 "--device", "cpu"]) == 0
    written = json.loads(result.read_text())
    key = lambda t: (t["title"], t["h_idx"], t["t_idx"], t["r"])  # noqa: E731
    assert {key(t): t["evidence"] for t in written} == {key(t): t["evidence"] for t in expected}
    assert all(set(t) == {"title", "h_idx", "t_idx", "r", "evidence"} for t in written)
    assert any(t["evidence"] for t in written)

    pred = tmp_path / "pred.json"
    assert main(["predict", "--model", str(model_dir), "--data", str(FIXTURE), "--out", str(pred), "--quiet",
                 "--device", "cpu"]) == 0
    recs = json.loads(pred.read_text())
    rels = [r for rec in recs for r in rec["relations"]]
    assert rels and all(len(r["evidence_scores"]) == len(rec["sents"]) for rec in recs for r in rec["relations"])
    assert {(recs[0]["title"], r["h"], r["t"], r["r"]): r["evidence"] for r in recs[0]["relations"]} == \
        {key(t): t["evidence"] for t in expected if t["title"] == recs[0]["title"]}

    capsys.readouterr()
    out_json = tmp_path / "scores.json"
    assert main(["evaluate", "--pred", str(result), "--gold", str(FIXTURE), "--evidence-rule",
                 "--out", str(out_json)]) == 0
    text = capsys.readouterr().out
    scores = json.loads(out_json.read_text())
    docs = read_documents(FIXTURE)
    assert scores["evi_f1"] == pytest.approx(official_scores(expected, docs)["evi_f1"])
    assert "evi rule" in text and 0.0 <= scores["rule_evi_f1"] <= 100.0

    insp = tmp_path / "inspect.json"
    assert main(["inspect", "--model", str(model_dir), "--data", str(FIXTURE), "--out", str(insp), "--quiet",
                 "--device", "cpu"]) == 0
    records = json.loads(insp.read_text())
    records = records["documents"] if isinstance(records, dict) and "documents" in records else records
    seen = 0
    for rec in records:
        for tr in rec["triples"]:
            if tr["predicted"]:
                exp = next(t for t in expected if key(t) == (rec["title"], tr["h"], tr["t"], tr["r"]))
                assert tr["evidence"] == exp["evidence"]
                seen += 1
            else:
                assert tr["evidence"] is None
    assert seen == len(expected)
    html = tmp_path / "inspect.html"
    assert main(["inspect", "--model", str(model_dir), "--data", str(FIXTURE), "--out", str(html), "--quiet",
                 "--device", "cpu"]) == 0
    page = html.read_text()
    assert "Evidence sentences" in page and '"evidence_scores"' in page


def test_evidence_weight_changes_the_gradient_of_the_encoder(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    """With train.evidence_weight > 0 the loss gains the KL term (and its gradient reaches the encoder)."""
    from conftest import tiny_config
    from docre.models.batch import collate

    docs = read_documents(FIXTURE)
    tok = load_tokenizer(str(tiny_encoder_dir))
    cfg = tiny_config(tiny_encoder_dir, tmp_path / "run", FIXTURE, **{"model.head": "atlop"})
    from docre.data.relations import RelationInventory
    from docre.tasks.relation import RelationTask

    rel = RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])
    torch.manual_seed(0)
    model = RelationTask().build_model(cfg, rel, tok)
    model.train()
    feats = featurize_documents(docs[:2], tok, rel)
    batch = collate(feats, rel.num_classes)
    base = model(batch, phase="joint")
    cfg.train.evidence_weight = 2.0
    model.config.train.evidence_weight = 2.0
    withe = model(batch, phase="joint")
    assert "evidence" not in base.loss_terms and "evidence" in withe.loss_terms
    l_evi, n = withe.loss_terms["evidence"]
    assert n == sum(len({(f.h, f.t) for f in d.labels if f.evidence}) for d in docs[:2])
    assert float(withe.loss) == pytest.approx(float(base.loss) + float(l_evi), rel=1e-5)
    assert withe.stats["loss_evidence"] == pytest.approx(float(l_evi) / 2.0, rel=1e-5)
    model.zero_grad()
    l_evi.backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
