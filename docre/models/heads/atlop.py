"""ATLOP's entity-level head (spec section 2): entity pooling, localized context pooling,
head/tail extractors, group bilinear, adaptive-threshold loss."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from docre.config import KMGREConfig, ModelConfig
from docre.losses import relation_loss as relation_loss_fn
from docre.models.batch import Batch, HeadOutput
from docre.models.bilinear import GroupBilinear, PairExtractor
from docre.models.encoder import EncodedDocument
from docre.models.heads.registry import register_head
from docre.models.mention_pairs import mention_pair_context
from docre.models.pooling import pool_entities


def entity_pair_logits(
    extractor: PairExtractor, bilinear: GroupBilinear, enc: EncodedDocument, mention_emb: torch.Tensor,
    entity_mentions: list[list[int]], pairs: torch.Tensor, chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ATLOP at entity level for one document.

    ``pairs`` is ``[E, 2]`` (head, tail) entity indices. Returns logits ``[E, C]`` and the
    localized context ``[E, d]``.
    """
    ent_emb, ent_att = pool_entities(mention_emb, enc.query_att, entity_mentions)  # [n, d], [n, heads, L]
    h, t = pairs[:, 0], pairs[:, 1]
    ctx = mention_pair_context(enc.hidden, ent_att, h, t, chunk_size=chunk_size)  # [E, d]
    zh, zt = extractor.for_pairs(ent_emb, h, t, ctx)  # [E, emb] each
    return bilinear(zh, zt), ctx


@register_head("atlop")
class ATLOPHead(nn.Module):
    """Entity-level relation head of ATLOP.

    Args:
        hidden_size: encoder hidden size d.
        num_heads: encoder attention heads (unused; heads share a constructor).
        num_classes: relation classes incl. the threshold class 0.
        model_cfg: the ``model`` config section (emb_size, block_size, chunk sizes).
        relation_loss: ``train.loss``, ``"atl"`` (ATLoss) or ``"multilabel_ce"``.
    """

    def __init__(self, hidden_size: int, num_heads: int, num_classes: int, model_cfg: ModelConfig,
                 kmgre_cfg: Optional[KMGREConfig] = None, encoder_factory: Any = None, relation_loss: str = "atl"):
        super().__init__()
        self.relation_loss = relation_loss_fn(relation_loss)
        self.chunk_size = model_cfg.pair_chunk_size
        self.extractor = PairExtractor(hidden_size, model_cfg.emb_size)
        self.bilinear = GroupBilinear(model_cfg.emb_size, model_cfg.block_size, num_classes, model_cfg.pair_chunk_size)

    def forward(self, encoded: list[EncodedDocument], batch: Batch, phase: str = "joint",
                return_details: bool = False, return_evidence: bool = False) -> HeadOutput:
        """Entity-pair logits per document; ATLoss when the batch has labels. ``return_evidence``:
        nothing of the head's own (evidence reads the encoder's attention, docre.evidence)."""
        logits, details = [], []
        for enc, feat in zip(encoded, batch.features):
            pairs = torch.tensor(feat.entity_pairs, dtype=torch.long, device=enc.hidden.device).view(-1, 2)
            if pairs.numel() == 0:
                logits.append(enc.hidden.new_zeros(0, self.bilinear.linear.out_features))
                details.append({})
                continue
            mention_emb = enc.hidden[batch.mention_pos[len(logits)].to(enc.hidden.device)]
            lg, _ = entity_pair_logits(self.extractor, self.bilinear, enc, mention_emb, feat.entity_mentions,
                                       pairs, self.chunk_size)
            logits.append(lg)
            details.append({})
        loss = None
        if batch.has_labels:
            all_logits = torch.cat(logits, 0)
            all_labels = torch.cat([lab.to(all_logits.device) for lab in batch.labels], 0)
            loss = self.relation_loss(all_logits, all_labels) if all_logits.numel() else all_logits.sum()
        stats = {"loss_theta": float(loss.detach())} if loss is not None else {}
        terms = {"theta": (loss, sum(lg.size(0) for lg in logits))} if loss is not None else {}
        return HeadOutput(logits=logits, loss=loss, stats=stats, details=details if return_details else None,
                          loss_terms=terms, evidence=[{} for _ in logits] if return_evidence else None)
