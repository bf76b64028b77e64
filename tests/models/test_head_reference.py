"""Both heads against a reference computation written plainly from the method (spec 2, 3):
loops over entities and pairs, ATLOP's context pooling per pair, the extractors on gathered
inputs and the group bilinear as one einsum. docre's heads compute the same thing faster
(entity/mention terms of the extractors computed once, context pooling from a table of
attention products, chunked bilinear skipping pairs without gradient, no mention logits in
the entity-level warm-up); their logits, losses and gradients must stay equal to this."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from docre.config import load_config
from docre.data import RelationInventory, read_documents
from docre.data.features import DocFeatures, featurize_documents
from docre.losses import adaptive_threshold_loss, binary_focal_loss
from docre.models import bilinear
from docre.models.batch import Batch, collate
from docre.models.encoder import EncodedDocument
from docre.models.key_pairs import key_instance_pseudo_labels, select_key_pairs
from docre.models.mention_pairs import enumerate_mention_pairs
from docre.models.model import DocREModel, load_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")

FIXTURE = Path(__file__).parents[1] / "fixtures" / "docs.json"


@pytest.fixture(scope="module")
def setup(tiny_encoder_dir: Path) -> tuple[Any, RelationInventory, list[DocFeatures]]:
    tok = load_tokenizer(str(tiny_encoder_dir))
    docs = read_documents(FIXTURE)
    rel = RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])
    return tok, rel, featurize_documents(docs, tok, rel)


def _model(encoder_dir: Path, setup: tuple, head: str, **overrides: Any) -> DocREModel:
    tok, rel, _ = setup
    o = {"model.encoder": str(encoder_dir), "model.head": head, "model.emb_size": 32, "model.block_size": 8}
    if head == "kmgre":  # the reference computes the paper's fusion; add_entity_logit has its own test below
        o["kmgre.add_entity_logit"] = False
    o.update(overrides)
    torch.manual_seed(0)
    return DocREModel.build(load_config(overrides=o), rel, tok)


def _leaves(model: DocREModel, batch: Batch, dtype: torch.dtype) -> list[EncodedDocument]:
    with torch.no_grad():
        encoded = model.encoder(batch.input_ids, batch.mention_pos)
    return [EncodedDocument(e.hidden.to(dtype).requires_grad_(True), e.query_att.to(dtype).requires_grad_(True))
            for e in encoded]


# ------------------------------------------------------------------ the reference computation
def _context(hidden: torch.Tensor, a_h: torch.Tensor, a_t: torch.Tensor) -> torch.Tensor:
    """ATLOP's localized context of one pair: ``H^T normalize(mean_heads(a_h * a_t))``."""
    r = (a_h * a_t).mean(0)  # [L]
    return hidden.t() @ (r / (r.sum() + 1e-5))  # [d]


def _pair_logits(extractor: Any, group_bilinear: Any, hs: torch.Tensor, ts: torch.Tensor, ctx: torch.Tensor
                 ) -> torch.Tensor:
    zh = torch.tanh(extractor.head_extractor(torch.cat([hs, ctx], -1)))
    zt = torch.tanh(extractor.tail_extractor(torch.cat([ts, ctx], -1)))
    k, b = group_bilinear.emb_size // group_bilinear.block_size, group_bilinear.block_size
    w, bias = group_bilinear.linear.weight, group_bilinear.linear.bias
    n = zh.size(0)
    return torch.einsum("nip,cipq,niq->nc", zh.view(n, k, b), w.view(-1, k, b, b), zt.view(n, k, b)) + bias


def reference_atlop(head: Any, encoded: list[EncodedDocument], batch: Batch) -> list[torch.Tensor]:
    """ATLOP's entity-level logits per document, entity by entity and pair by pair."""
    out = []
    for enc, feat, pos in zip(encoded, batch.features, batch.mention_pos):
        if not feat.entity_pairs:
            out.append(enc.hidden.new_zeros(0, head.bilinear.linear.out_features))
            continue
        m_emb, m_att = enc.hidden[pos], enc.query_att
        ent_emb = torch.stack([torch.logsumexp(m_emb[ms], 0) for ms in feat.entity_mentions])
        ent_att = torch.stack([m_att[ms].mean(0) for ms in feat.entity_mentions])
        h = [p[0] for p in feat.entity_pairs]
        t = [p[1] for p in feat.entity_pairs]
        ctx = torch.stack([_context(enc.hidden, ent_att[i], ent_att[j]) for i, j in zip(h, t)])
        out.append(_pair_logits(head.extractor, head.bilinear, ent_emb[h], ent_emb[t], ctx))
    return out


def reference_kmgre(head: Any, encoded: list[EncodedDocument], batch: Batch
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[Any]]:
    """KMGRE after its warm-up: mention logits, omega's logits, key sets by omega, fusion over K."""
    fused, m_logits, k_logits, bags = [], [], [], []
    for enc, feat, pos in zip(encoded, batch.features, batch.mention_pos):
        if not feat.entity_pairs:
            continue
        m_emb, m_att = enc.hidden[pos], enc.query_att
        pairs = enumerate_mention_pairs(feat.entity_mentions, feat.entity_pairs)
        ctx = torch.stack([_context(enc.hidden, m_att[i], m_att[j]) for i, j in zip(pairs.head, pairs.tail)])
        ml = _pair_logits(head.extractor, head.bilinear, m_emb[pairs.head], m_emb[pairs.tail], ctx)
        kl = head.key_classifier(m_emb[pairs.head].detach(), m_emb[pairs.tail].detach(), ctx.detach())
        key = select_key_pairs(torch.sigmoid(kl.detach().float()), pairs.pair_index, pairs.num_entity_pairs,
                               head.cfg.xi, head.tau)
        fused.append(torch.stack([torch.logsumexp(ml[(pairs.pair_index == e) & key], 0)
                                  for e in range(pairs.num_entity_pairs)]))
        m_logits.append(ml)
        k_logits.append(kl)
        bags.append(pairs)
    return fused, m_logits, k_logits, bags


def _grads(model: DocREModel, encoded: list[EncodedDocument]) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in model.head.named_parameters() if p.grad is not None}
    for i, e in enumerate(encoded):
        if e.hidden.grad is not None:  # (a document without entity pairs gives none)
            grads[f"hidden{i}"], grads[f"att{i}"] = e.hidden.grad.clone(), e.query_att.grad.clone()
    return grads


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], rtol: float, atol_scale: float) -> None:
    assert got.keys() == want.keys()
    for name in want:
        scale = float(want[name].abs().max()) if want[name].numel() else 1.0
        torch.testing.assert_close(got[name], want[name], rtol=rtol, atol=atol_scale * scale, msg=name)


# ------------------------------------------------------------------ ATLOP
def test_atlop_head_equals_the_reference_computation_in_float64(tiny_encoder_dir: Path, setup: tuple) -> None:
    _, rel, feats = setup
    model = _model(tiny_encoder_dir, setup, "atlop")
    model.train()
    batch = collate(feats, rel.num_classes)
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(len(f.entity_pairs), rel.num_classes, generator=gen, dtype=torch.float64) for f in feats]
    model.head.double()
    results = []
    for fn in (lambda enc: model.head(enc, batch, phase="joint").logits, lambda enc: reference_atlop(model.head, enc,
                                                                                                    batch)):
        model.zero_grad(set_to_none=True)
        encoded = _leaves(model, batch, torch.float64)
        logits = fn(encoded)
        sum((lg * w).sum() for lg, w in zip(logits, weights)).backward()
        results.append(({f"logits{i}": lg.detach() for i, lg in enumerate(logits)}, _grads(model, encoded)))
    _assert_same(results[0][0], results[1][0], rtol=1e-9, atol_scale=1e-11)
    _assert_same(results[0][1], results[1][1], rtol=1e-8, atol_scale=1e-10)


def test_atlop_head_loss_and_gradients_equal_the_reference_in_float32(tiny_encoder_dir: Path, setup: tuple) -> None:
    _, rel, feats = setup
    model = _model(tiny_encoder_dir, setup, "atlop")
    model.train()
    batch = collate(feats, rel.num_classes)
    labels = torch.cat(batch.labels, 0)
    results = []
    for fn in (lambda enc: model.head(enc, batch, phase="joint").loss,
               lambda enc: adaptive_threshold_loss(torch.cat(reference_atlop(model.head, enc, batch), 0), labels)):
        model.zero_grad(set_to_none=True)
        encoded = _leaves(model, batch, torch.float32)
        loss = fn(encoded)
        loss.backward()
        results.append((float(loss.detach()), _grads(model, encoded)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    _assert_same(results[0][1], results[1][1], rtol=1e-4, atol_scale=1e-5)



@pytest.mark.parametrize("head", ["atlop", "kmgre"])
def test_train_loss_multilabel_ce_is_the_relation_loss_of_either_head(tiny_encoder_dir: Path, setup: tuple,
                                                                      head: str) -> None:
    """train.loss multilabel_ce replaces ATLoss on the heads' entity logits (KMGRE: in its warm-up), and
    leaves the logits, hence the prediction rule, as they were."""
    from docre.losses import threshold_multilabel_ce

    _, rel, feats = setup
    batch = collate(feats, rel.num_classes)
    labels = torch.cat(batch.labels, 0)
    out = {}
    for loss in ("atl", "multilabel_ce"):
        model = _model(tiny_encoder_dir, setup, head, **{"train.loss": loss})
        model.train()
        with torch.no_grad():
            out[loss] = model(batch, phase="warmup" if head == "kmgre" else "joint")
    ml, atl = out["multilabel_ce"], out["atl"]
    assert all(torch.equal(a, b) for a, b in zip(ml.logits, atl.logits))
    logits = torch.cat(ml.logits, 0)
    assert float(ml.loss) == pytest.approx(float(threshold_multilabel_ce(logits, labels)), rel=1e-5)
    assert float(atl.loss) == pytest.approx(float(adaptive_threshold_loss(logits, labels)), rel=1e-5)
    assert float(ml.loss) != pytest.approx(float(atl.loss), rel=1e-3)


# ------------------------------------------------------------------ KMGRE
def _kmgre_reference_loss(model: DocREModel, encoded: list[EncodedDocument], batch: Batch) -> torch.Tensor:
    cfg = model.head.cfg
    fused, m_logits, k_logits, bags = reference_kmgre(model.head, encoded, batch)
    labels = [lab for lab, f in zip(batch.labels, batch.features) if f.entity_pairs]
    l_theta = adaptive_threshold_loss(torch.cat(fused, 0), torch.cat(labels, 0))
    zs, ws = zip(*(key_instance_pseudo_labels(torch.sigmoid(ml.detach().float()), p.pair_index, lab, cfg.na_policy)
                   for ml, p, lab in zip(m_logits, bags, labels)))
    z, w, kl = torch.cat(zs), torch.cat(ws), torch.cat(k_logits)
    return l_theta + binary_focal_loss(kl[w], z[w], cfg.alpha, cfg.gamma)


@pytest.mark.parametrize("phase", ["joint", "m"])
@pytest.mark.parametrize("feature_rows", [2, 1000])
def test_kmgre_training_step_equals_the_reference_computation(tiny_encoder_dir: Path, setup: tuple,
                                                              monkeypatch: pytest.MonkeyPatch, feature_rows: int,
                                                              phase: str) -> None:
    # 2 pairs of features per chunk: many chunks, and mention pairs outside K skipped within them.
    # joint: mention logits of every pair (the pseudo labels read them); m: of K's pairs only.
    monkeypatch.setattr(bilinear, "CPU_FEATURE_CHUNK_BYTES", feature_rows * 8 * 8 * 8)
    _, rel, feats = setup
    model = _model(tiny_encoder_dir, setup, "kmgre", **{"kmgre.em_period": -1})
    model.head.em_started.fill_(True)
    model.head.set_tau(0.7)
    model.train()
    batch = collate(feats, rel.num_classes)
    model.head.double()
    results = []
    for fn in (lambda enc: model.head(enc, batch, phase=phase).logits,
               lambda enc: reference_kmgre(model.head, enc, batch)[0]):
        model.zero_grad(set_to_none=True)
        encoded = _leaves(model, batch, torch.float64)
        logits = [lg for lg in fn(encoded) if lg.numel()]
        gen = torch.Generator().manual_seed(2)
        sum((lg * torch.randn(lg.shape, generator=gen, dtype=lg.dtype)).sum() for lg in logits).backward()
        results.append(({f"logits{i}": lg.detach() for i, lg in enumerate(logits)}, _grads(model, encoded)))
    _assert_same(results[0][0], results[1][0], rtol=1e-9, atol_scale=1e-11)
    _assert_same(results[0][1], results[1][1], rtol=1e-8, atol_scale=1e-10)
    # the phase's loss (joint: theta's ATLoss on fused logits + omega's focal loss; m: the ATLoss), float32
    model.float()
    model.head.set_tau(0.7)
    labels = torch.cat([lab for lab, f in zip(batch.labels, feats) if f.entity_pairs], 0)
    reference = (_kmgre_reference_loss if phase == "joint" else
                 lambda m, enc, bt: adaptive_threshold_loss(torch.cat(reference_kmgre(m.head, enc, bt)[0], 0), labels))
    results = []
    for fn in (lambda enc: model.head(enc, batch, phase=phase).loss, lambda enc: reference(model, enc, batch)):
        model.zero_grad(set_to_none=True)
        encoded = _leaves(model, batch, torch.float32)
        loss = fn(encoded)
        loss.backward()
        results.append((float(loss.detach()), _grads(model, encoded)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    assert any(n.startswith("key_classifier.") for n in results[0][1]) == (phase == "joint")  # omega trains
    _assert_same(results[0][1], results[1][1], rtol=1e-4, atol_scale=1e-5)


def test_kmgre_inference_computes_the_key_pairs_logits_alone(tiny_encoder_dir: Path, setup: tuple) -> None:
    _, rel, feats = setup
    model = _model(tiny_encoder_dir, setup, "kmgre")
    model.head.em_started.fill_(True)  # after the warm-up: inference fuses key mention pairs
    model.head.set_tau(0.7)
    model.eval()
    model.double()
    batch = collate(feats, rel.num_classes)
    batch.labels = [None] * len(feats)
    rows: list[int] = []
    model.head.bilinear.register_forward_hook(lambda mod, args, out: rows.append(out.size(0)))
    with torch.no_grad():
        encoded = _leaves(model, batch, torch.float64)
        got = model.head(encoded, batch, phase="eval").logits
        with_details = model.head(encoded, batch, phase="eval", return_details=True)
        want, _, _, bags = reference_kmgre(model.head, encoded, batch)
    n_docs = len(bags)
    key_rows = [int(d["key"].sum()) for d in with_details.details if d]
    assert rows[:n_docs] == key_rows and rows[n_docs:] == [len(p) for p in bags]  # details: every mention pair
    assert sum(key_rows) < sum(len(p) for p in bags)  # some mention pairs left out of K: their logits never computed
    for g, d, w in zip([lg for lg in got if lg.numel()], [lg for lg in with_details.logits if lg.numel()], want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(d, w, rtol=1e-9, atol=1e-11)


def test_kmgre_entity_warmup_skips_the_mention_logits_it_does_not_use(tiny_encoder_dir: Path, setup: tuple) -> None:
    _, rel, feats = setup
    model = _model(tiny_encoder_dir, setup, "kmgre", **{"kmgre.warmup_mode": "entity"})
    model.train()
    batch = collate(feats, rel.num_classes)
    calls: list[int] = []
    model.head.bilinear.register_forward_hook(lambda mod, args, out: calls.append(out.size(0)))
    runs = []
    for details in (False, True):
        calls.clear()
        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)  # the same dropout masks
        out = model(batch, phase="warmup", return_details=details)
        out.loss.backward()
        runs.append((out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, list(calls)))
    (fast, fast_grads, fast_calls), (full, full_grads, full_calls) = runs
    n_docs = sum(1 for f in feats if f.entity_pairs)
    entity_pairs = [len(f.entity_pairs) for f in feats if f.entity_pairs]
    assert fast_calls == entity_pairs  # entity level only
    assert len(full_calls) == 2 * n_docs  # with details: the mention logits as well
    assert float(fast.loss.detach()) == float(full.loss.detach()) and fast.stats == full.stats
    for a, b in zip(fast.logits, full.logits):
        assert torch.equal(a, b)
    assert fast_grads.keys() == full_grads.keys()
    for name in fast_grads:
        assert torch.equal(fast_grads[name], full_grads[name]), name


def test_kmgre_add_entity_logit_is_the_key_pairs_logit_plus_the_entity_level_one(tiny_encoder_dir: Path,
                                                                                 setup: tuple) -> None:
    """``kmgre.add_entity_logit``: inference on K's mention pairs alone gives the fused key logit plus
    ATLOP's entity-level logit, the same as with details (every mention pair computed)."""
    _, rel, feats = setup
    model = _model(tiny_encoder_dir, setup, "kmgre", **{"kmgre.add_entity_logit": True,
                                                         "kmgre.warmup_mode": "entity"})
    model.head.set_tau(0.7)
    model.eval()
    model.double()
    batch = collate(feats, rel.num_classes)
    batch.labels = [None] * len(feats)
    with torch.no_grad():
        encoded = _leaves(model, batch, torch.float64)
        model.head.em_started.fill_(False)  # the entity-level warm-up: ATLOP's logits alone
        entity_level = model.head(encoded, batch, phase="eval").logits
        model.head.em_started.fill_(True)
        both = model.head(encoded, batch, phase="eval").logits
        both_details = model.head(encoded, batch, phase="eval", return_details=True)
        model.head.cfg.add_entity_logit = False
        key_only = model.head(encoded, batch, phase="eval").logits
    assert [d["fusion"] for d in both_details.details if d][0] == "logsumexp+entity"
    for lg_both, lg_det, lg_key, lg_ent in zip(both, both_details.logits, key_only, entity_level):
        if not lg_both.numel():
            continue
        assert not torch.allclose(lg_key, lg_both)  # the entity-level logit moves the result
        torch.testing.assert_close(lg_both, lg_key + lg_ent, rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(lg_det, lg_both, rtol=1e-9, atol=1e-11)


def test_kmgre_training_step_with_the_entity_logit_reuses_single_pair_bags_exactly(tiny_encoder_dir: Path,
                                                                                   setup: tuple,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    """With ``add_entity_logit`` an entity pair whose bag holds one mention pair takes its entity-level
    logit from that pair's mention logit instead of computing it again: the training step's loss and
    gradients equal those of computing every entity pair at entity level."""
    from docre.models.heads import kmgre as kmgre_module

    _, rel, feats = setup
    batch = collate(feats, rel.num_classes)
    pairs_per_doc = [kmgre_module.single_mention_pair_bags(enumerate_mention_pairs(f.entity_mentions,
                                                                                  f.entity_pairs))["mask"]
                     for f in feats if f.entity_pairs]
    singles = torch.cat(pairs_per_doc)
    assert bool(singles.any()) and not bool(singles.all())  # both kinds of bags in the batch
    real = kmgre_module.single_mention_pair_bags
    results = []
    for reuse in (True, False):
        if not reuse:
            def none_single(pairs):  # every bag computed at entity level
                out = real(pairs)
                return {**out, "mask": torch.zeros_like(out["mask"]), "row": out["row"][:0]}
            monkeypatch.setattr(kmgre_module, "single_mention_pair_bags", none_single)
        model = _model(tiny_encoder_dir, setup, "kmgre", **{"kmgre.add_entity_logit": True})
        model.head.set_tau(0.7)
        model.head.em_started.fill_(True)
        model.train()
        model.double()
        encoded = _leaves(model, batch, torch.float64)
        out = model.head(encoded, batch, phase="joint")
        out.loss.backward()
        results.append((float(out.loss.detach()), [lg.detach() for lg in out.logits], _grads(model, encoded)))
    (loss_a, logits_a, grads_a), (loss_b, logits_b, grads_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-10)
    for a, b in zip(logits_a, logits_b):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    _assert_same(grads_a, grads_b, rtol=1e-8, atol_scale=1e-10)
