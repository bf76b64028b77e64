"""Evidence supervision (``train.evidence_weight``): the entity pair's localized-context
attention, read per sentence, pulled towards the gold evidence distribution (the loss of
DREEAM, an evidence-guided ATLOP).

For an entity pair whose facts carry gold evidence E (the union over its relations), the
target is uniform over E, ``y_s = [s in E] / |E|``; the model's distribution is the pair's
token weights ``q`` summed per sentence, ``p_s`` (:mod:`docre.evidence.scores`); the loss is
``KL(y || p) = sum_s y_s (log y_s - log(p_s + eps))``, averaged over such pairs. Pairs without
gold evidence (NA pairs, and Re-DocRED's facts added without evidence) are left out.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from docre.data.features import DocFeatures
from docre.evidence.scores import attention_per_sentence, pair_token_attention, token_sentence_index

#: added to p_s before the log (sentences the attention gives nothing)
EVIDENCE_LOG_EPS = 1e-5


def evidence_kl(sentence_att: torch.Tensor, target: torch.Tensor, eps: float = EVIDENCE_LOG_EPS) -> torch.Tensor:
    """``[P, S]`` attention mass per sentence and ``[P, S]`` gold distributions -> mean ``KL(y || p)``."""
    gold = target > 0
    logy = torch.where(gold, target.clamp(min=1e-30).log(), torch.zeros_like(target))
    logp = torch.log(torch.where(gold, sentence_att, torch.ones_like(sentence_att)) + eps)  # only gold terms count
    return torch.where(gold, target * (logy - logp), torch.zeros_like(target)).sum(-1).mean()


def document_evidence_targets(feat: DocFeatures) -> tuple[list[int], Optional[torch.Tensor]]:
    """Pair indices with gold evidence inside the document's kept sentences and their ``[P, S]``
    uniform target distributions (None when the document has none)."""
    if not feat.evidence or not feat.sent_pos:
        return [], None
    num_sents = len(feat.sent_pos)
    rows, targets = [], []
    for j, evi in enumerate(feat.evidence):
        kept = [s for s in evi if 0 <= s < num_sents and feat.sent_pos[s] >= 0]
        if not kept:
            continue
        y = torch.zeros(num_sents)
        y[kept] = 1.0 / len(kept)
        rows.append(j)
        targets.append(y)
    return rows, (torch.stack(targets) if targets else None)


def evidence_loss(mention_atts: Sequence[torch.Tensor], features: Sequence[DocFeatures]
                  ) -> tuple[Optional[torch.Tensor], int]:
    """The evidence loss of a batch: (mean KL over its pairs with gold evidence, their number);
    (None, 0) when no pair has any.

    ``mention_atts``: per document ``[M, heads, L]`` attention rows at the mention markers.
    """
    parts, n = [], 0
    for att, feat in zip(mention_atts, features):
        rows, target = document_evidence_targets(feat)
        if target is None:
            continue
        pairs = torch.tensor([feat.entity_pairs[j] for j in rows], dtype=torch.long)
        q = pair_token_attention(att, feat.entity_mentions, pairs[:, 0], pairs[:, 1])  # [P, L]
        tok_sent = token_sentence_index(feat.sentence_spans(), att.size(-1))
        p = attention_per_sentence(q.float(), tok_sent, len(feat.sent_pos))  # [P, S]
        parts.append(evidence_kl(p, target.to(p.device)) * len(rows))
        n += len(rows)
    if not n:
        return None, 0
    return torch.stack(parts).sum() / n, n
