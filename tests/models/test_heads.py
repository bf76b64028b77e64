"""The ATLOP and KMGRE heads on a tiny BERT: shapes, which parameters each EM phase trains,
key-pair fusion at inference, the separate key encoder (spec 2, 3)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from docre.config import Config, load_config
from docre.data import RelationInventory, read_documents
from docre.data.features import DocFeatures, featurize_documents
from docre.models.batch import Batch, collate
from docre.models.model import DocREModel, load_tokenizer
from docre.training.trainer import make_optimizer


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer(tiny_encoder_dir: Path) -> Any:
    return load_tokenizer(str(tiny_encoder_dir))


@pytest.fixture(scope="module")
def relations() -> RelationInventory:
    docs = read_documents(Path(__file__).parents[1] / "fixtures" / "docs.json")
    return RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])


@pytest.fixture(scope="module")
def features(tokenizer: Any, relations: RelationInventory) -> list[DocFeatures]:
    docs = read_documents(Path(__file__).parents[1] / "fixtures" / "docs.json")
    return featurize_documents(docs, tokenizer, relations)


def _config(encoder_dir: Path, **overrides: Any) -> Config:
    o: dict[str, Any] = {"model.encoder": str(encoder_dir), "model.emb_size": 32, "model.block_size": 8,
                         "train.lr_encoder": 1e-3, "train.lr_new": 1e-3, "kmgre.omega_lr": 1e-3}
    o.update(overrides)
    return load_config(overrides=o)


def _build(encoder_dir: Path, tokenizer: Any, relations: RelationInventory, **overrides: Any
           ) -> tuple[DocREModel, Config]:
    cfg = _config(encoder_dir, **overrides)
    torch.manual_seed(0)
    return DocREModel.build(cfg, relations, tokenizer), cfg


def _batch(features: list[DocFeatures], relations: RelationInventory) -> Batch:
    return collate(features, relations.num_classes)


def _params(model: DocREModel, prefix: str) -> dict[str, torch.nn.Parameter]:
    out = {n: p for n, p in model.named_parameters() if n.startswith(prefix)}
    assert out, prefix
    return out


def _has_grad(p: torch.nn.Parameter) -> bool:
    return p.grad is not None and bool(p.grad.abs().sum() > 0)


def _none_has_grad(params: dict[str, torch.nn.Parameter]) -> bool:
    return not any(_has_grad(p) for p in params.values())


THETA = ("head.extractor.", "head.bilinear.")
OMEGA = "head.key_classifier."
ENCODER = "encoder."


# ---------------------------------------------------------------- ATLOP head


def test_atlop_logits_shape_per_document(tiny_encoder_dir: Path, tokenizer: Any, relations: RelationInventory,
                                         features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "atlop"})
    model.train()
    out = model(_batch(features, relations), phase="joint")
    c = relations.num_classes
    assert [tuple(lg.shape) for lg in out.logits] == [(20, c), (12, c), (0, c)]  # the lone entity: no pairs
    assert out.loss is not None and out.loss.shape == () and torch.isfinite(out.loss)
    assert out.stats["loss_theta"] == pytest.approx(float(out.loss.detach()))
    out.loss.backward()
    assert not _none_has_grad(_params(model, "head.bilinear.")) and not _none_has_grad(_params(model, ENCODER))


def test_atlop_document_with_one_entity_alone(tiny_encoder_dir: Path, tokenizer: Any, relations: RelationInventory,
                                              features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "atlop"})
    model.eval()
    with torch.no_grad():
        out = model(_batch(features[2:], relations), phase="eval")
    assert tuple(out.logits[0].shape) == (0, relations.num_classes)


def test_atlop_logits_do_not_depend_on_the_batch(tiny_encoder_dir: Path, tokenizer: Any,
                                                 relations: RelationInventory, features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "atlop"})
    model.eval()
    with torch.no_grad():
        together = model(_batch(features, relations), phase="eval").logits
        alone = model(_batch(features[1:2], relations), phase="eval").logits
    torch.testing.assert_close(alone[0], together[1], atol=1e-5, rtol=1e-5)  # padding changes nothing


def test_unknown_head_is_a_config_error(tiny_encoder_dir: Path) -> None:
    from docre.errors import ConfigError

    with pytest.raises(ConfigError, match="model.head"):
        _config(tiny_encoder_dir, **{"model.head": "bert"})


# ---------------------------------------------------------------- KMGRE: shapes and phases


@pytest.mark.parametrize("phase, warmup_mode", [("warmup", "pairs"), ("warmup", "entity"), ("e", "entity"),
                                                ("m", "entity"), ("joint", "entity")])
def test_kmgre_logits_shape_and_loss_in_every_phase(tiny_encoder_dir: Path, tokenizer: Any,
                                                    relations: RelationInventory, features: list[DocFeatures],
                                                    phase: str, warmup_mode: str) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations,
                      **{"model.head": "kmgre", "kmgre.warmup_mode": warmup_mode})
    model.train()
    out = model(_batch(features, relations), phase=phase)
    c = relations.num_classes
    assert [tuple(lg.shape) for lg in out.logits] == [(20, c), (12, c), (0, c)]
    assert out.loss is not None and torch.isfinite(out.loss) and out.loss.requires_grad
    assert "loss_theta" in out.stats if phase != "e" else "loss_theta" not in out.stats
    if phase != "warmup" or warmup_mode == "pairs":  # the entity-level warm-up: see the xfail test below
        assert ("loss_omega" in out.stats) == (phase != "m")
    assert {"tau", "key_fraction"} <= set(out.stats)
    assert ("zhat_pos_rate" in out.stats) == ("loss_omega" in out.stats)
    assert 0.0 < out.stats["key_fraction"] <= 1.0


def test_kmgre_pairs_warmup_trains_theta_at_mention_level_and_omega(tiny_encoder_dir: Path, tokenizer: Any,
                                                                    relations: RelationInventory,
                                                                    features: list[DocFeatures]) -> None:
    """warmup_mode = pairs (the paper's reading, spec 3.5): both modules train at the same time."""
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre", "kmgre.warmup_mode": "pairs"})
    model.train()
    model(_batch(features, relations), phase="warmup").loss.backward()
    for prefix in THETA + (ENCODER, OMEGA):
        assert not _none_has_grad(_params(model, prefix)), prefix


def test_kmgre_entity_warmup_does_not_train_omega(tiny_encoder_dir: Path, tokenizer: Any,
                                                  relations: RelationInventory,
                                                  features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre", "kmgre.warmup_mode": "entity"})
    model.train()
    out = model(_batch(features, relations), phase="warmup")
    out.loss.backward()
    for prefix in THETA + (ENCODER,):
        assert not _none_has_grad(_params(model, prefix)), prefix
    assert "loss_omega" not in out.stats
    assert _none_has_grad(_params(model, OMEGA))


def test_kmgre_m_step_gives_omega_no_gradient(tiny_encoder_dir: Path, tokenizer: Any, relations: RelationInventory,
                                              features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre"})
    model.train()
    out = model(_batch(features, relations), phase="m")
    out.loss.backward()
    assert _none_has_grad(_params(model, OMEGA))
    for prefix in THETA + (ENCODER,):
        assert not _none_has_grad(_params(model, prefix)), prefix


def test_kmgre_e_step_gives_theta_and_encoder_no_gradient(tiny_encoder_dir: Path, tokenizer: Any,
                                                          relations: RelationInventory,
                                                          features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre"})
    model.train()
    out = model(_batch(features, relations), phase="e")
    out.loss.backward()
    omega = _params(model, OMEGA)
    assert all(_has_grad(p) for p in omega.values()), [n for n, p in omega.items() if not _has_grad(p)]
    for prefix in THETA + (ENCODER,):
        assert _none_has_grad(_params(model, prefix)), prefix


def _snapshot(model: DocREModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _changed(model: DocREModel, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}


def _step(model: DocREModel, optimizer: torch.optim.Optimizer, batch: Batch, phase: str) -> set[str]:
    before = _snapshot(model)
    out = model(batch, phase=phase)
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return _changed(model, before)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_kmgre_e_and_m_steps_update_only_their_own_parameters(tiny_encoder_dir: Path, tokenizer: Any,
                                                              relations: RelationInventory,
                                                              features: list[DocFeatures],
                                                              weight_decay: float) -> None:
    model, cfg = _build(tiny_encoder_dir, tokenizer, relations,
                        **{"model.head": "kmgre", "train.weight_decay": weight_decay})
    optimizer = make_optimizer(model, cfg)
    assert {g["name"]: g["lr"] for g in optimizer.param_groups} == {"encoder": 1e-3, "new": 1e-3, "omega": 1e-3}
    model.train()
    batch = _batch(features, relations)
    omega = set(_params(model, OMEGA))
    # E, then M, then E again: Adam's moments from one phase must not move the other's parameters
    for phase in ("e", "m", "e", "m"):
        changed = _step(model, optimizer, batch, phase)
        if phase == "e":
            assert changed and changed <= omega, sorted(changed - omega)[:5]
        else:
            assert not changed & omega, sorted(changed & omega)
            for prefix in THETA + (ENCODER,):
                assert any(n.startswith(prefix) for n in changed), prefix


# ---------------------------------------------------------------- KMGRE: key pairs and fusion at inference


def _eval_details(model: DocREModel, features: list[DocFeatures], relations: RelationInventory) -> Any:
    model.eval()
    with torch.no_grad():
        return model(_batch(features, relations), phase="eval", return_details=True)


def _expected_key(p: torch.Tensor, pair_index: torch.Tensor, n_pairs: int, xi: float, tau: float) -> torch.Tensor:
    """K(h,t) = {p >= min(mean + xi (max - min), tau)}, plus the bag's first arg-max (spec 3.4), one bag at a time."""
    key = torch.zeros_like(p, dtype=torch.bool)
    for e in range(n_pairs):
        rows = (pair_index == e).nonzero().squeeze(1)
        q = p[rows].double()
        threshold = min(float(q.mean() + xi * (q.max() - q.min())), tau)
        key[rows] = q >= threshold
        key[rows[int(q.argmax())]] = True
    return key


@pytest.mark.parametrize("fusion", ["logsumexp", "mean"])
def test_kmgre_eval_logits_fuse_exactly_the_key_set(tiny_encoder_dir: Path, tokenizer: Any,
                                                    relations: RelationInventory, features: list[DocFeatures],
                                                    fusion: str) -> None:
    model, cfg = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre", "kmgre.fusion": fusion,
                                                                    "kmgre.add_entity_logit": False})
    model.head.em_started.fill_(True)  # as after the warm-up: inference fuses key mention pairs
    model.head.set_tau(0.9)
    out = _eval_details(model, features, relations)
    some_pair_left_out = False
    for b, feat in enumerate(features[:2]):
        d = out.details[b]
        assert d["fusion"] == fusion and d["entity_level"] is False
        pair_index, key, ml = d["pair_index"], d["key"], d["mention_logits"]
        # every mention pair of every ordered entity pair is an instance
        ent_of = [e for e, _ in feat.mention_ref]
        assert [(ent_of[int(h)], ent_of[int(t)]) for h, t in zip(d["head_mention"], d["tail_mention"])] == [
            feat.entity_pairs[int(e)] for e in pair_index]
        sizes = [len(feat.entity_mentions[h]) * len(feat.entity_mentions[t]) for h, t in feat.entity_pairs]
        assert len(pair_index) == sum(sizes)
        expected_key = _expected_key(d["p_omega"], pair_index, len(feat.entity_pairs), cfg.kmgre.xi, 0.9)
        assert torch.equal(key, expected_key)
        for e in range(len(feat.entity_pairs)):
            rows = (pair_index == e) & key
            some_pair_left_out |= bool(((pair_index == e) & ~key).any())
            chosen = ml[rows]  # [|K|, C]
            expected = torch.logsumexp(chosen, 0) if fusion == "logsumexp" else chosen.mean(0)
            torch.testing.assert_close(out.logits[b][e].float(), expected, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(d["entity_logits"][e], expected, atol=1e-5, rtol=1e-5)
    assert some_pair_left_out  # otherwise K = all pairs and the test would not tell fusion over K from over all


def test_kmgre_tau_bounds_the_key_threshold(tiny_encoder_dir: Path, tokenizer: Any, relations: RelationInventory,
                                            features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre"})
    model.head.em_started.fill_(True)
    model.head.set_tau(0.0)  # threshold min(., 0) = 0: every mention pair is key
    d = _eval_details(model, features, relations).details[0]
    assert bool(d["key"].all())
    model.head.set_tau(0.9)
    assert not bool(_eval_details(model, features, relations).details[0]["key"].all())


def test_kmgre_entity_warmup_predicts_at_entity_level(tiny_encoder_dir: Path, tokenizer: Any,
                                                      relations: RelationInventory,
                                                      features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre", "kmgre.warmup_mode": "entity"})
    assert not bool(model.head.em_started)
    out = _eval_details(model, features, relations)
    assert out.details[0]["entity_level"] is True
    atlop, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "atlop"})
    atlop.encoder.load_state_dict(model.encoder.state_dict())
    atlop.head.extractor.load_state_dict(model.head.extractor.state_dict())
    atlop.head.bilinear.load_state_dict(model.head.bilinear.state_dict())
    atlop.eval()
    with torch.no_grad():
        expected = atlop(_batch(features, relations), phase="eval").logits
    for got, want in zip(out.logits, expected):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)  # theta acts as ATLOP's head
    model.train()
    model(_batch(features, relations), phase="m")  # the first EM step switches to key-pair fusion
    assert bool(model.head.em_started)
    assert _eval_details(model, features, relations).details[0]["entity_level"] is False


def test_kmgre_pairs_warmup_fuses_all_mention_pairs(tiny_encoder_dir: Path, tokenizer: Any,
                                                    relations: RelationInventory,
                                                    features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre", "kmgre.warmup_mode": "pairs",
                                                                    "kmgre.add_entity_logit": False})
    model.train()
    with torch.no_grad():
        out = model(_batch(features[:1], relations), phase="warmup", return_details=True)
    d = out.details[0]
    assert bool(d["key"].all())  # K = all mention pairs
    for e in range(20):
        torch.testing.assert_close(out.logits[0][e].float(),
                                   torch.logsumexp(d["mention_logits"][d["pair_index"] == e], 0), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- KMGRE: separate key encoder


def test_kmgre_separate_key_encoder(tiny_encoder_dir: Path, tokenizer: Any, relations: RelationInventory,
                                    features: list[DocFeatures]) -> None:
    model, cfg = _build(tiny_encoder_dir, tokenizer, relations,
                        **{"model.head": "kmgre", "kmgre.key_encoder": "separate"})
    assert model.head.key_encoder is not None
    groups = model.parameter_groups()
    assert set(groups) == {"encoder", "new", "omega", "key_encoder"}
    key_ids = {id(p) for p in groups["key_encoder"]}
    assert key_ids == {id(p) for p in model.head.key_encoder.parameters()}
    assert not key_ids & {id(p) for p in groups["encoder"]}
    assert len(groups["key_encoder"]) == len(groups["encoder"])  # a second encoder of the same architecture
    lrs = {g["name"]: g["lr"] for g in make_optimizer(model, cfg).param_groups}
    assert lrs["key_encoder"] == cfg.train.lr_encoder

    key_encoder = _params(model, "head.key_encoder.")
    batch = _batch(features, relations)
    model.train()
    model(batch, phase="e").loss.backward()
    assert not _none_has_grad(key_encoder) and not _none_has_grad(_params(model, OMEGA))
    for prefix in THETA + (ENCODER,):
        assert _none_has_grad(_params(model, prefix)), prefix

    model.zero_grad(set_to_none=True)
    model(batch, phase="m").loss.backward()
    assert _none_has_grad(key_encoder) and _none_has_grad(_params(model, OMEGA))
    for prefix in THETA + (ENCODER,):
        assert not _none_has_grad(_params(model, prefix)), prefix


def test_invalid_phase_is_rejected(tiny_encoder_dir: Path, tokenizer: Any, relations: RelationInventory,
                                   features: list[DocFeatures]) -> None:
    model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre"})
    with pytest.raises(ValueError, match="phase"):
        model(_batch(features, relations), phase="train")


# ---------------------------------------------------------------- KMGRE: options that are not in the paper


def test_kmgre_add_entity_logit_adds_atlops_logit_to_the_fused_key_pairs(tiny_encoder_dir: Path, tokenizer: Any,
                                                                         relations: RelationInventory,
                                                                         features: list[DocFeatures]) -> None:
    model, cfg = _build(tiny_encoder_dir, tokenizer, relations,
                        **{"model.head": "kmgre", "kmgre.add_entity_logit": True})
    model.head.em_started.fill_(True)
    model.head.set_tau(0.9)
    out = _eval_details(model, features, relations)
    atlop, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "atlop"})
    atlop.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("head.key_classifier")
                           and k not in ("head.em_started", "head.tau_value")})
    atlop.eval()
    with torch.no_grad():
        entity_level = atlop(_batch(features, relations), phase="eval").logits
    for b in range(2):
        d = out.details[b]
        assert d["fusion"] == "logsumexp+entity"
        fused = torch.stack([torch.logsumexp(d["mention_logits"][(d["pair_index"] == e) & d["key"]], 0)
                             for e in range(len(features[b].entity_pairs))])
        torch.testing.assert_close(out.logits[b].float(), fused + entity_level[b], atol=1e-4, rtol=1e-4)
    # both terms train theta in an M-step
    model.train()
    model(_batch(features, relations), phase="m").loss.backward()
    for prefix in THETA + (ENCODER,):
        assert not _none_has_grad(_params(model, prefix)), prefix


def test_kmgre_omega_to_encoder_lets_omegas_loss_reach_the_encoder(tiny_encoder_dir: Path, tokenizer: Any,
                                                                   relations: RelationInventory,
                                                                   features: list[DocFeatures]) -> None:
    for flag in (False, True):
        model, _ = _build(tiny_encoder_dir, tokenizer, relations, **{"model.head": "kmgre",
                                                                     "kmgre.omega_to_encoder": flag})
        model.head.em_started.fill_(True)
        model.train()
        model(_batch(features, relations), phase="e").loss.backward()  # an E-step: L_omega only
        assert all(_has_grad(p) for p in _params(model, OMEGA).values())
        for prefix in THETA:
            assert _none_has_grad(_params(model, prefix)), prefix
        assert _none_has_grad(_params(model, ENCODER)) is not flag, flag
