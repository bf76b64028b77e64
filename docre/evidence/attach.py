"""Evidence on predicted triples: per-sentence scores and the sentences that reach the threshold.

Every predicted triple ``(h, r, t)`` gets ``evidence_scores`` (one score per sentence of the
document) and ``evidence`` (the sentence ids whose score reaches ``evidence.threshold``):

- ATLOP (and KMGRE before its EM phase): the entity pair's localized-context attention summed
  per sentence (:func:`docre.evidence.scores.attention_per_sentence`);
- KMGRE: ``key_pair_share * s_key + (1 - key_pair_share) * s_att``, ``s_key`` from the triple's
  key mention pairs weighted by their share of the fused logit
  (:func:`docre.evidence.scores.key_pair_sentence_scores`).

Both parts are also kept on the triple under ``_evidence_parts`` (not written to result.json) so
that :mod:`docre.evidence.calibrate` can choose the threshold and the share on dev.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from docre.config import EvidenceConfig
from docre.data.documents import Document
from docre.data.features import DocFeatures
from docre.evidence.scores import (attention_per_sentence, key_pair_sentence_scores, pair_token_attention,
                                   rule_evidence, select_sentences, sentence_of_positions, token_sentence_index)

PARTS_KEY = "_evidence_parts"
SCORE_DIGITS = 4


def combine_parts(parts: dict[str, list[float]], key_pair_share: float) -> list[float]:
    """A triple's sentence scores from its parts: the attention's alone, or mixed with the key pairs'."""
    att = parts["attention"]
    key = parts.get("key_pairs")
    if key is None:
        return list(att)
    return [key_pair_share * k + (1.0 - key_pair_share) * a for a, k in zip(att, key)]


def apply_evidence(triples: Sequence[dict[str, Any]], threshold: float, key_pair_share: float) -> None:
    """(Re)compute ``evidence_scores`` and ``evidence`` of triples that carry their parts."""
    for t in triples:
        parts = t.get(PARTS_KEY)
        if parts is None:
            continue
        scores = combine_parts(parts, key_pair_share)
        t["evidence_scores"] = [round(v, SCORE_DIGITS) for v in scores]
        t["evidence"] = select_sentences(scores, threshold)


def attach_evidence(triples: list[dict[str, Any]], feat: DocFeatures, inputs: dict[str, Any],
                    relation_ids: Sequence[str], config: EvidenceConfig) -> None:
    """Fill the evidence of one document's predicted triples in place.

    Args:
        triples: the document's triples (``h_idx``, ``t_idx``, ``r``) from the prediction rule.
        feat: its features (sentence starts, mentions, entity pairs).
        inputs: ``HeadOutput.evidence`` of the document: ``mention_att`` ``[M, heads, L]`` and, for
            KMGRE, its key pairs (``head_mention``, ``tail_mention``, ``pair_index``, ``key_logits``).
        relation_ids: class index -> relation id (class 0 the threshold class).
        config: the ``evidence`` section (threshold, key_pair_share).
    """
    if not triples or not feat.sent_pos:
        return
    num_sents = len(feat.sent_pos)
    att = inputs["mention_att"].float()
    pairs = sorted({(t["h_idx"], t["t_idx"]) for t in triples})
    heads = torch.tensor([h for h, _ in pairs], dtype=torch.long)
    tails = torch.tensor([t for _, t in pairs], dtype=torch.long)
    q = pair_token_attention(att, feat.entity_mentions, heads, tails)  # [P, L]
    tok_sent = token_sentence_index(feat.sentence_spans(), att.size(-1))
    per_sent = attention_per_sentence(q, tok_sent, num_sents).cpu()  # [P, S]
    att_scores = {p: per_sent[k].tolist() for k, p in enumerate(pairs)}

    key_rows: Optional[dict[int, list[int]]] = None
    if "key_logits" in inputs:
        pair_index = inputs["pair_index"].tolist()
        key_rows = {}
        for row, j in enumerate(pair_index):
            key_rows.setdefault(j, []).append(row)
        mention_sent = sentence_of_positions(feat.sent_pos, feat.mention_pos) + [-1]  # + the virtual mention
        head_m, tail_m = inputs["head_mention"].tolist(), inputs["tail_mention"].tolist()
        logits = inputs["key_logits"].cpu()
        pair_of = {p: j for j, p in enumerate(feat.entity_pairs)}
        class_of = {r: c for c, r in enumerate(relation_ids)}
    for t in triples:
        pair = (t["h_idx"], t["t_idx"])
        parts: dict[str, list[float]] = {"attention": att_scores[pair]}
        if key_rows is not None:
            rows = key_rows.get(pair_of[pair], [])
            c = class_of[t["r"]]
            key = key_pair_sentence_scores(logits[rows, c] if rows else logits.new_zeros(0),
                                           [mention_sent[head_m[i]] for i in rows],
                                           [mention_sent[tail_m[i]] for i in rows], num_sents)
            parts["key_pairs"] = key.tolist()
        t[PARTS_KEY] = parts
    apply_evidence(triples, config.threshold, config.key_pair_share)


def rule_evidence_for(triples: Sequence[dict[str, Any]], documents: Sequence[Document]) -> list[dict[str, Any]]:
    """Copies of ``triples`` whose evidence is the simple rule's (sentences holding mentions of
    both entities, else of either), from the documents with the same titles."""
    by_title = {d.title: d for d in documents}
    out = []
    for t in triples:
        doc = by_title.get(t["title"])
        evi: list[int] = []
        if doc is not None and 0 <= t["h_idx"] < len(doc.entities) and 0 <= t["t_idx"] < len(doc.entities):
            evi = rule_evidence(doc.entities[t["h_idx"]].sent_ids, doc.entities[t["t_idx"]].sent_ids)
        out.append({**{k: v for k, v in t.items() if k != PARTS_KEY}, "evidence": evi})
    return out
