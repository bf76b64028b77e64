"""The training optimizer: AdamW with its fused kernel, the same update as PyTorch's plain
per-tensor AdamW up to float rounding."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from docre.config import load_config
from docre.data import RelationInventory, read_documents
from docre.models.model import DocREModel, load_tokenizer
from docre.training.trainer import make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")


def test_fused_adamw_steps_equal_the_plain_implementation(tiny_encoder_dir: Path) -> None:
    tok = load_tokenizer(str(tiny_encoder_dir))
    docs = read_documents(Path(__file__).parents[1] / "fixtures" / "docs.json")
    rel = RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])
    cfg = load_config(overrides={"model.encoder": str(tiny_encoder_dir), "model.head": "kmgre", "model.emb_size": 32,
                                 "model.block_size": 8, "train.weight_decay": 0.01})
    torch.manual_seed(0)
    model = DocREModel.build(cfg, rel, tok)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    fused = make_optimizer(model, cfg)
    assert all(g["fused"] for g in fused.param_groups)
    assert {g["name"]: g["lr"] for g in fused.param_groups} == {
        "encoder": cfg.train.lr_encoder, "new": cfg.train.lr_new, "omega": cfg.kmgre.omega_lr}

    reference_params = {n: torch.nn.Parameter(p.clone()) for n, p in start.items()}
    names = {id(p): n for n, p in model.named_parameters()}
    reference = torch.optim.AdamW(
        [{"params": [reference_params[names[id(p)]] for p in g["params"]], "lr": g["lr"]} for g in fused.param_groups],
        eps=cfg.train.adam_eps, weight_decay=cfg.train.weight_decay, foreach=False)
    gen = torch.Generator().manual_seed(1)
    for step in range(4):
        for n, p in model.named_parameters():
            if step == 2 and n.startswith("head.key_classifier."):
                p.grad = None  # a parameter without a gradient this step (omega in an M-step) is left alone
                reference_params[n].grad = None
                continue
            g = torch.randn(p.shape, generator=gen) * 10.0 ** -step
            p.grad, reference_params[n].grad = g.clone(), g.clone()
        fused.step()
        reference.step()
    moved = 0.0
    for n, p in model.named_parameters():
        want = reference_params[n].detach()
        # 4 steps of about lr each: the parameters moved; the two implementations agree to float rounding
        torch.testing.assert_close(p.detach(), want, rtol=1e-6, atol=1e-8, msg=n)
        moved = max(moved, float((want - start[n]).abs().max()))
    assert moved > 1e-4
