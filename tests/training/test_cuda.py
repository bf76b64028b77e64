"""The same model on a GPU: CPU/GPU agreement, training on cuda in fp32 and bf16, and a
model trained on the GPU reloaded on the CPU. Skipped (with the reason) without CUDA."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from docre.data import RelationInventory, read_documents
from docre.data.features import featurize_documents
from docre.inference import predict
from docre.models.batch import collate
from docre.models.model import DocREModel, load_tokenizer
from docre.pipeline import Pipeline
from docre.training import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available())")

FIXTURE = Path(__file__).parents[1] / "fixtures" / "docs.json"
FAST: dict[str, Any] = {"train.batch_size": 3, "train.lr_encoder": 3e-3, "train.lr_new": 3e-3,
                        "train.eval_every": 10, "logging.log_every": 1, "train.epochs": 60}


def _model(encoder_dir: Path, head: str, **overrides: Any) -> tuple[DocREModel, list]:
    from conftest import tiny_config

    cfg = tiny_config(encoder_dir, encoder_dir / "unused", FIXTURE, **{"model.head": head, **overrides})
    tok = load_tokenizer(str(encoder_dir))
    docs = read_documents(FIXTURE)
    rel = RelationInventory.from_relations(f.r for d in docs for f in d.labels)
    torch.manual_seed(0)
    return DocREModel.build(cfg, rel, tok), featurize_documents(docs, tok, rel, 0)


@pytest.mark.parametrize("head", ["atlop", "kmgre"])
def test_gpu_forward_and_gradients_match_cpu(tiny_encoder_dir: Path, head: str) -> None:
    model, feats = _model(tiny_encoder_dir, head, **{"model.window": 24})  # several windows per document
    assert max(len(f.input_ids) for f in feats) > 24
    batch = collate(feats, model.relations.num_classes)
    model.train()  # dropout 0 in the tiny encoder: deterministic
    phase = "joint"
    cpu = model(batch, phase=phase)
    cpu.loss.backward()
    cpu_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    model.cuda()
    gpu = model(batch, phase=phase)
    gpu.loss.backward()
    assert gpu.loss.item() == pytest.approx(cpu.loss.item(), rel=1e-4)
    for a, b in zip(cpu.logits, gpu.logits):
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, rtol=1e-4, atol=1e-4)
    grads = {n: p.grad.cpu() for n, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == cpu_grads.keys() and len(grads) > 10
    for n, g in grads.items():
        torch.testing.assert_close(g, cpu_grads[n], rtol=1e-3, atol=1e-5, msg=n)


@pytest.mark.parametrize("precision", ["no", "bf16"])
@pytest.mark.parametrize("head", ["atlop", "kmgre"])
def test_trains_on_gpu_and_reloads_on_cpu(tiny_encoder_dir: Path, tmp_path: Path, head: str, precision: str) -> None:
    from conftest import tiny_config

    extra = {"kmgre.warmup_epochs": 10, "kmgre.em_period": -1} if head == "kmgre" else {}
    cfg = tiny_config(tiny_encoder_dir, tmp_path / "run", FIXTURE,
                      **{**FAST, **extra, "model.head": head, "train.device": "cuda",
                         "train.mixed_precision": precision})
    result = train(cfg)
    steps = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss_theta"] for r in steps if "phase" in r]
    assert len(losses) == 60 and all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.3 * losses[0]
    assert result.best_metrics["f1"] >= 80.0  # what the CPU run reaches (test_training.py)

    # a model trained on the GPU predicts the same on the CPU and on the GPU
    docs = read_documents(FIXTURE)
    on_cpu = Pipeline.from_dir(tmp_path / "run" / "best_model", device="cpu")
    on_gpu = Pipeline.from_dir(tmp_path / "run" / "best_model", device="cuda")
    assert next(on_gpu.model.parameters()).device.type == "cuda"
    key = lambda t: (t["title"], t["h_idx"], t["t_idx"], t["r"])  # noqa: E731
    assert sorted(map(key, on_cpu.predict_triples(docs))) == sorted(map(key, on_gpu.predict_triples(docs)))
    feats = on_cpu.featurize(docs)
    _, lc = predict(on_cpu.model, feats, return_logits=True)
    _, lg = predict(on_gpu.model, feats, return_logits=True)
    for a, b in zip(lc, lg):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
