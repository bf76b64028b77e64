"""KMGRE's mention-level head (spec section 3).

Each ordered entity pair is a bag whose instances are its mention pairs (m_i, m_j).

- Relation extractor (theta, 3.1): ATLOP's head/tail extractors and group bilinear applied
  per mention pair on ``[h_mi; c^(i,j)]`` / ``[h_mj; c^(i,j)]`` -> mention logits ``l^(i,j)``.
- Key-instance classifier (omega, 3.2): its own extractor layers and a scalar output
  ``p_omega(z_(i,j) = 1)``; on the shared encoder (default) its inputs are detached, so its
  gradients never reach the encoder; with ``key_encoder = separate`` it has its own encoder.
- E-step (3.3): pseudo labels zhat from theta (no gradient), binary focal loss, omega only.
- M-step (3.4): key set K by omega's threshold, entity logits fused over K, ATLoss, theta only.
- Inference (3.6): K by omega, fused logits, ATLOP's prediction rule.

Phases (see :mod:`docre.training.em`): ``warmup``, ``e``, ``m``, ``joint``, ``eval``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import nn

from docre.config import KMGREConfig, ModelConfig
from docre.losses import binary_focal_loss
from docre.losses import relation_loss as relation_loss_fn
from docre.models.batch import Batch, HeadOutput
from docre.models.bilinear import GroupBilinear, PairExtractor
from docre.models.encoder import EncodedDocument
from docre.models.heads.atlop import entity_pair_logits
from docre.models.heads.registry import register_head
from docre.models.key_pairs import fuse_key_pairs, key_instance_pseudo_labels, select_key_pairs
from docre.models.mention_pairs import MentionPairs, enumerate_mention_pairs, mention_pair_context

PHASES = ("warmup", "e", "m", "joint", "eval")


class KeyInstanceClassifier(nn.Module):
    """omega: ``p_omega(z=1 | m_i, m_j) = sigmoid(w_k . [z'_h; z'_t] + b_k)`` with its own
    extractors ``z'_h = tanh(W'_h [h_mi; c])``, ``z'_t = tanh(W'_t [h_mj; c])``."""

    def __init__(self, hidden_size: int, emb_size: int):
        super().__init__()
        self.extractor = PairExtractor(hidden_size, emb_size)
        self.classifier = nn.Linear(2 * emb_size, 1)

    def forward(self, hs: torch.Tensor, ts: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """``[P, d]`` x3 -> key-instance logits ``[P]``."""
        zh, zt = self.extractor(hs, ts, ctx)
        return self.classifier(torch.cat([zh, zt], dim=-1)).squeeze(-1)

    def for_pairs(self, emb: torch.Tensor, head: torch.Tensor, tail: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """``forward(emb[head], emb[tail], ctx)`` without gathering per pair (see
        :meth:`PairExtractor.for_pairs`): emb ``[M, d]``, head/tail ``[P]``, ctx ``[P, d]`` -> ``[P]``."""
        zh, zt = self.extractor.for_pairs(emb, head, tail, ctx)
        return self.classifier(torch.cat([zh, zt], dim=-1)).squeeze(-1)


def single_mention_pair_bags(pairs: MentionPairs) -> dict[str, torch.Tensor]:
    """The entity pairs whose bag holds a single mention pair (both entities have one mention):
    ``mask`` ``[E]`` and, for those, ``row`` (their mention pair's row); ``num_rows`` = P."""
    sizes = torch.bincount(pairs.pair_index, minlength=pairs.num_entity_pairs)  # [E]
    starts = torch.cumsum(sizes, 0) - sizes  # first row of each bag (rows are grouped by bag)
    mask = sizes == 1
    return {"mask": mask, "row": starts[mask], "num_rows": torch.tensor(len(pairs))}


def with_virtual_mentions(enc: EncodedDocument, mention_emb: torch.Tensor, entity_mentions: list[list[int]]
                          ) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    """Give entities whose every mention was truncated away one zero "virtual" mention
    (zero embedding, zero attention), as ATLOP scores them from zero vectors."""
    if all(entity_mentions):
        return mention_emb, enc.query_att, entity_mentions
    m = mention_emb.size(0)
    emb = torch.cat([mention_emb, mention_emb.new_zeros(1, mention_emb.size(1))], 0)
    att = torch.cat([enc.query_att, enc.query_att.new_zeros(1, *enc.query_att.shape[1:])], 0)
    return emb, att, [ms if ms else [m] for ms in entity_mentions]


@register_head("kmgre")
class KMGREHead(nn.Module):
    """Key Mention Pairs Guided relation head.

    Args:
        hidden_size, num_heads: the encoder's.
        num_classes: relation classes incl. threshold class 0.
        model_cfg: ``model`` section (emb_size, block_size, pair_chunk_size).
        kmgre_cfg: ``kmgre`` section (key_encoder, na_policy, focal alpha/gamma, xi, tau, fusion, warm-up).
        encoder_factory: builds a second pretrained encoder for ``key_encoder = separate``.
        relation_loss: ``train.loss``, the loss of theta's entity logits (``"atl"`` or ``"multilabel_ce"``).
    """

    def __init__(self, hidden_size: int, num_heads: int, num_classes: int, model_cfg: ModelConfig,
                 kmgre_cfg: Optional[KMGREConfig] = None, encoder_factory: Optional[Callable[[], nn.Module]] = None,
                 relation_loss: str = "atl"):
        super().__init__()
        self.cfg = kmgre_cfg or KMGREConfig()
        self.relation_loss = relation_loss_fn(relation_loss)  # M-step / warm-up loss of theta (train.loss)
        self.chunk_size = model_cfg.pair_chunk_size
        self.num_classes = num_classes
        # theta
        self.extractor = PairExtractor(hidden_size, model_cfg.emb_size)
        self.bilinear = GroupBilinear(model_cfg.emb_size, model_cfg.block_size, num_classes, model_cfg.pair_chunk_size)
        # omega
        self.key_encoder: Optional[nn.Module] = None
        if self.cfg.key_encoder == "separate":
            if encoder_factory is None:
                raise ValueError("key_encoder = 'separate' needs an encoder factory")
            self.key_encoder = encoder_factory()
        self.key_classifier = KeyInstanceClassifier(hidden_size, self.cfg.key_emb_size)
        # set once the EM phase starts; saved with the model (inference uses fused logits then)
        self.register_buffer("em_started", torch.zeros((), dtype=torch.bool))
        # tau of the key-set threshold; a buffer so a saved model selects K as it did when saved
        self.register_buffer("tau_value", torch.tensor(float(self.cfg.tau_end)))

    @property
    def tau(self) -> float:
        return float(self.tau_value)

    def set_tau(self, tau: float) -> None:
        self.tau_value.fill_(float(tau))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"new": list(self.extractor.parameters()) + list(self.bilinear.parameters()),
                  "omega": list(self.key_classifier.parameters())}
        if self.key_encoder is not None:
            groups["key_encoder"] = list(self.key_encoder.parameters())
        return groups

    def trains_omega(self, phase: str) -> bool:
        """E-steps and joint steps train omega; the warm-up does only in ``warmup_mode = pairs``
        (the entity-level warm-up trains theta alone, omega from the first EM step)."""
        return phase in ("e", "joint") or (phase == "warmup" and self.cfg.warmup_mode == "pairs")

    def encoder_needs_grad(self, phase: str) -> bool:
        """The shared encoder gets no gradient in an E-step (omega's inputs are detached), unless
        ``omega_to_encoder`` lets omega's loss reach it."""
        return phase != "e" or self.omega_reaches_encoder

    @property
    def omega_reaches_encoder(self) -> bool:
        return self.cfg.omega_to_encoder and self.key_encoder is None

    @property
    def fusion_name(self) -> str:
        """The fusion as recorded in attribution details (``logsumexp+entity`` with ``add_entity_logit``)."""
        return self.cfg.fusion + ("+entity" if self.cfg.add_entity_logit else "")

    # ------------------------------------------------------------------ forward
    def forward(self, encoded: list[EncodedDocument], batch: Batch, phase: str = "joint",
                return_details: bool = False, return_evidence: bool = False) -> HeadOutput:
        """Entity-pair logits per document; the phase's loss when the batch has labels.

        ``return_evidence``: ``HeadOutput.evidence`` per document holds the key mention pairs the
        fusion read: ``head_mention``/``tail_mention``/``pair_index`` ``[|K|]`` and their mention
        logits ``key_logits`` ``[|K|, C]`` (empty while the model is still entity-level)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        if phase == "warmup" and self.training:
            self.em_started.fill_(False)
        elif phase in ("e", "m", "joint") and self.training:
            self.em_started.fill_(True)
        entity_warmup = self.cfg.warmup_mode == "entity" and not bool(self.em_started)
        need_entity_logits = entity_warmup or self.cfg.add_entity_logit
        key_encoded = None
        if self.key_encoder is not None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and phase in ("warmup", "e", "joint")):
                key_encoded = self.key_encoder(batch.input_ids, batch.mention_pos)
        need_theta_grad = phase in ("warmup", "m", "joint")
        need_omega_grad = self.trains_omega(phase)
        # Mention-level logits: the fusion reads those of K; the E-step pseudo labels and the
        # details read all of them; the entity-level warm-up reads none unless omega trains.
        all_mention_logits = return_details or (self.trains_omega(phase) and batch.has_labels and phase != "eval")
        need_mention_logits = all_mention_logits or not entity_warmup
        # (in the entity-level warm-up, mention logits only feed the pseudo labels: no gradient)
        theta_mention_grad = torch.is_grad_enabled() and need_theta_grad and not entity_warmup

        ent_logits, theta_logits, m_logits, k_logits, bags, selections = [], [], [], [], [], []
        evidence: list[dict[str, Any]] = []
        for b, (enc, feat) in enumerate(zip(encoded, batch.features)):
            device = enc.hidden.device
            if not feat.entity_pairs:
                empty = enc.hidden.new_zeros(0, self.num_classes)
                for lst in (ent_logits, theta_logits, m_logits):
                    lst.append(empty)
                k_logits.append(enc.hidden.new_zeros(0))
                bags.append(None)
                selections.append(None)
                evidence.append({})
                continue
            mention_emb = enc.hidden[batch.mention_pos[b].to(device)]  # [M, d]
            mention_emb, mention_att, ent_ms = with_virtual_mentions(enc, mention_emb, feat.entity_mentions)
            pairs = enumerate_mention_pairs(ent_ms, feat.entity_pairs, device=device)
            bags.append(pairs)
            # localized context c^(i,j) of every mention pair (3.1), read by theta and omega
            with torch.set_grad_enabled(theta_mention_grad):
                ctx = mention_pair_context(enc.hidden, mention_att, pairs.head, pairs.tail, self.chunk_size)
            # ATLOP's entity-level logits (the warm-up's, and add_entity_logit's). After the warm-up an
            # entity pair with a single mention pair is left out: its entity-level logit is exactly that
            # mention pair's logit (one mention pools to itself), taken from theta's mention level below.
            single = None
            with torch.set_grad_enabled(torch.is_grad_enabled() and need_theta_grad):
                if need_entity_logits:
                    ep = torch.tensor(feat.entity_pairs, dtype=torch.long, device=device)
                    if not entity_warmup:
                        single = single_mention_pair_bags(pairs)
                        ep = ep[~single["mask"]]
                    lg, _ = entity_pair_logits(self.extractor, self.bilinear,
                                               EncodedDocument(enc.hidden, mention_att), mention_emb, ent_ms, ep,
                                               self.chunk_size) if ep.numel() else (mention_emb.new_zeros(
                                                   0, self.num_classes), None)
                    theta_logits.append(lg)
            # omega: key-instance classifier (3.2)
            with torch.set_grad_enabled(torch.is_grad_enabled() and need_omega_grad):
                if key_encoded is not None:
                    kenc = key_encoded[b]
                    k_emb = kenc.hidden[batch.mention_pos[b].to(device)]
                    k_emb, k_att, _ = with_virtual_mentions(kenc, k_emb, feat.entity_mentions)
                    k_ctx = mention_pair_context(kenc.hidden, k_att, pairs.head, pairs.tail, self.chunk_size)
                    k_logits.append(self.key_classifier.for_pairs(k_emb, pairs.head, pairs.tail, k_ctx))
                elif self.omega_reaches_encoder:
                    k_ctx = ctx if ctx.requires_grad or not need_omega_grad else mention_pair_context(
                        enc.hidden, mention_att, pairs.head, pairs.tail, self.chunk_size)
                    k_logits.append(self.key_classifier.for_pairs(mention_emb, pairs.head, pairs.tail, k_ctx))
                else:
                    k_logits.append(self.key_classifier.for_pairs(mention_emb.detach(), pairs.head, pairs.tail,
                                                                  ctx.detach()))
            # key set K (3.4)
            p_omega = torch.sigmoid(k_logits[-1].detach().float())
            selected = select_key_pairs(p_omega, pairs.pair_index, pairs.num_entity_pairs, self.cfg.xi, self.tau)
            if phase == "warmup" and not entity_warmup:
                key = torch.ones_like(p_omega, dtype=torch.bool)  # K = all mention pairs
            else:
                key = selected
            # theta: mention-level relation extractor (3.1), on every mention pair or on K's alone
            rows = None if all_mention_logits else key.nonzero().squeeze(1)  # [|K|]
            with torch.set_grad_enabled(theta_mention_grad):
                if not need_mention_logits:
                    m_logits.append(None)
                elif rows is None and theta_mention_grad:
                    # every mention pair's logits (the E-step's pseudo labels read them), but only K's
                    # with a gradient: the fusion reads K alone, so the others' backward would be zeros
                    rows = key.nonzero().squeeze(1)
                    zh, zt = self.extractor.for_pairs(mention_emb, pairs.head[rows], pairs.tail[rows], ctx[rows])
                    key_logits = self.bilinear(zh, zt)  # [|K|, C]
                    needed = None  # the rows whose logits the E-step reads (None: all of them)
                    if not return_details and self.cfg.na_policy != "threshold_class" and batch.labels[b] is not None:
                        # NA bags' pseudo labels do not read their logits (skip: left out; all_key: all key)
                        positive = (batch.labels[b][:, 1:] > 0).any(-1).to(device)  # [E]
                        needed = positive.index_select(0, pairs.pair_index)
                    m_logits.append(self._all_mention_logits(mention_emb, pairs, ctx, key, key_logits, needed))
                elif rows is None:
                    zh, zt = self.extractor.for_pairs(mention_emb, pairs.head, pairs.tail, ctx)  # [P, emb] each
                    m_logits.append(self.bilinear(zh, zt))  # [P, C]
                else:
                    zh, zt = self.extractor.for_pairs(mention_emb, pairs.head[rows], pairs.tail[rows], ctx[rows])
                    m_logits.append(None)
                    key_logits = self.bilinear(zh, zt)  # [|K|, C]
            if single is not None:
                # the entity-level logits of every entity pair: computed ones, and single-pair bags' own
                theta_logits[-1] = self._with_single_bag_logits(theta_logits[-1], single, rows, m_logits[-1],
                                                                None if rows is None else key_logits)
            # fusion of K's mention logits into entity logits (3.4)
            if return_evidence:
                evidence.append({"entity_level": True} if entity_warmup else self._key_pair_evidence(
                    pairs, key, rows, m_logits[-1], None if rows is None else key_logits))
            if entity_warmup:
                ent_logits.append(theta_logits[-1])
            else:
                if rows is None:
                    fused = fuse_key_pairs(m_logits[-1], key, pairs.pair_index, pairs.num_entity_pairs,
                                           self.cfg.fusion)
                else:
                    fused = fuse_key_pairs(key_logits, torch.ones_like(rows, dtype=torch.bool),
                                           pairs.pair_index[rows], pairs.num_entity_pairs, self.cfg.fusion)
                # add_entity_logit (not in the paper): ATLOP's entity-level logit beside K's fused one
                ent_logits.append(fused + theta_logits[-1] if self.cfg.add_entity_logit else fused)
            selections.append({"key": key, "p_omega": p_omega, "selected": selected})

        loss, stats, terms = None, {}, {}
        if batch.has_labels and phase != "eval":
            loss, stats, terms = self._losses(phase, ent_logits, m_logits, k_logits, bags, selections, batch)
        details = None
        if return_details:
            details = []
            for b, pairs in enumerate(bags):
                if pairs is None:
                    details.append({})
                    continue
                info = selections[b]
                details.append({
                    "head_mention": pairs.head.cpu(), "tail_mention": pairs.tail.cpu(),
                    "pair_index": pairs.pair_index.cpu(), "p_omega": info["p_omega"].cpu(),
                    "mention_logits": m_logits[b].detach().float().cpu(), "key": info["key"].cpu(),
                    "entity_logits": ent_logits[b].detach().float().cpu(), "fusion": self.fusion_name,
                    "entity_level": entity_warmup,
                })
        return HeadOutput(logits=ent_logits, loss=loss, stats=stats, details=details, loss_terms=terms,
                          evidence=evidence if return_evidence else None)

    def _all_mention_logits(self, mention_emb: torch.Tensor, pairs: MentionPairs, ctx: torch.Tensor,
                            key: torch.Tensor, key_logits: torch.Tensor, needed: Optional[torch.Tensor] = None
                            ) -> torch.Tensor:
        """``[P, C]`` logits of every mention pair without gradient: K's from ``key_logits``, the rest
        computed under ``no_grad`` (they only feed the E-step's pseudo labels and the details).
        ``needed`` ``[P]``: compute only these rows outside K; the others are 0 (rows of NA bags, which
        the pseudo labels of ``na_policy`` skip and all_key do not read)."""
        full = key_logits.detach().new_zeros(len(pairs), key_logits.size(-1))
        full[key] = key_logits.detach()
        rest = ((~key) & needed if needed is not None else ~key).nonzero().squeeze(1)
        if rest.numel():
            with torch.no_grad():
                zh, zt = self.extractor.for_pairs(mention_emb, pairs.head[rest], pairs.tail[rest], ctx[rest])
                full[rest] = self.bilinear(zh, zt).to(full.dtype)
        return full

    @staticmethod
    def _with_single_bag_logits(multi_logits: torch.Tensor, single: dict[str, torch.Tensor],
                                rows: Optional[torch.Tensor], all_logits: Optional[torch.Tensor],
                                key_logits: Optional[torch.Tensor]) -> torch.Tensor:
        """``[E, C]`` entity-level logits from those computed for the bags of several mention pairs
        (``multi_logits``, in entity-pair order) and, for a bag of one mention pair, that pair's
        mention-level logits (a bag's only pair is always in K)."""
        mask, only_row = single["mask"], single["row"]
        source = all_logits if rows is None else key_logits
        if rows is not None:
            pos = torch.full((int(single["num_rows"]),), -1, dtype=torch.long, device=rows.device)
            pos[rows] = torch.arange(rows.numel(), device=rows.device)
            only_row = pos[only_row]
        single_logits = source[only_row]
        out = single_logits.new_empty(mask.numel(), single_logits.size(-1))
        out[mask] = single_logits
        out[~mask] = multi_logits.to(out.dtype)
        return out

    @staticmethod
    def _key_pair_evidence(pairs: MentionPairs, key: torch.Tensor, rows: Optional[torch.Tensor],
                           all_logits: Optional[torch.Tensor], key_logits: Optional[torch.Tensor]) -> dict[str, Any]:
        """The key mention pairs of one document and their mention logits (docre.evidence)."""
        if rows is None:
            rows = key.nonzero().squeeze(1)
            key_logits = all_logits[rows]
        return {"head_mention": pairs.head[rows], "tail_mention": pairs.tail[rows],
                "pair_index": pairs.pair_index[rows], "key_logits": key_logits.detach().float(),
                "entity_level": False}

    def _losses(self, phase: str, ent_logits: list[torch.Tensor], m_logits: list[Optional[torch.Tensor]],
                k_logits: list[torch.Tensor], bags: list[Optional[MentionPairs]],
                selections: list[Optional[dict[str, torch.Tensor]]], batch: Batch
                ) -> tuple[torch.Tensor, dict[str, float], dict[str, tuple[torch.Tensor, int]]]:
        """The phase's loss, the scalars to log, and the loss terms (mean, items) it sums."""
        device = ent_logits[0].device
        terms: dict[str, tuple[torch.Tensor, int]] = {}
        labels = [lab.to(device) for lab in batch.labels]
        stats: dict[str, float] = {"tau": self.tau}
        total = ent_logits[0].new_zeros(())
        if phase in ("warmup", "m", "joint"):
            all_logits = torch.cat(ent_logits, 0)
            l_theta = self.relation_loss(all_logits, torch.cat(labels, 0)) if all_logits.numel() else total
            total = total + l_theta
            terms["theta"] = (l_theta, all_logits.size(0))
            stats["loss_theta"] = float(l_theta.detach())
        if self.trains_omega(phase):
            zs, masks = [], []
            for pairs, ml, lab in zip(bags, m_logits, labels):
                if pairs is None:
                    continue
                z, w = key_instance_pseudo_labels(torch.sigmoid(ml.detach().float()), pairs.pair_index, lab,
                                                  self.cfg.na_policy)
                zs.append(z)
                masks.append(w)
            if zs:
                z, w = torch.cat(zs), torch.cat(masks)
                kl = torch.cat([k for k, p in zip(k_logits, bags) if p is not None])
                l_omega = binary_focal_loss(kl[w], z[w], self.cfg.alpha, self.cfg.gamma)
                stats["zhat_pos_rate"] = float(z[w].mean()) if bool(w.any()) else 0.0
                terms["omega"] = (l_omega, int(w.sum()))
            else:
                l_omega = total * 0.0
            total = total + l_omega
            stats["loss_omega"] = float(l_omega.detach())
        # fraction of mention pairs in K (as selected by omega at the current tau)
        n_key = n_all = 0
        for info in selections:
            if info is None:
                continue
            n_key += int(info["selected"].sum())
            n_all += info["selected"].numel()
        stats["key_fraction"] = n_key / max(1, n_all)
        return total, stats, terms
