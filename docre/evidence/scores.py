"""Per-sentence evidence scores of entity pairs and triples (pure tensor functions).

Attention (ATLOP's localized context, read per sentence as DREEAM does): the entity pair's
token distribution ``q = normalize(mean_heads(a_h * a_t))`` (the weights of its context
vector ``c = H^T q``), summed over each sentence's subwords: ``s_att[s] = sum_{l in s} q_l``.

Key mention pairs (KMGRE): a triple (h, r, t)'s fused logit is ``logsumexp`` over its key
set K of the mention logits ``l^(i,j)_r``; pair (i, j)'s share of it is
``w_ij = softmax_K(l_r)_(i,j)``. A sentence scores the shares of the key pairs that have a
mention in it: ``s_key[s] = sum_{(i,j) in K} w_ij * [s in {sent(m_i), sent(m_j)}]``.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

import torch

#: ATLOP's normaliser epsilon (as in docre.models.mention_pairs)
CONTEXT_EPS = 1e-5


def token_sentence_index(sent_spans: Sequence[tuple[int, int]], length: int) -> torch.Tensor:
    """``[length]`` sentence id of every subword position (-1: special tokens, markers past the cut)."""
    idx = torch.full((length,), -1, dtype=torch.long)
    for s, (a, b) in enumerate(sent_spans):
        if b > a:
            idx[a:min(b, length)] = s
    return idx


def sentence_of_positions(sent_pos: Sequence[int], positions: Sequence[int]) -> list[int]:
    """Sentence id of each subword position, from the sentences' first subwords (-1 for none)."""
    starts = [(p, s) for s, p in enumerate(sent_pos) if p >= 0]
    keys = [p for p, _ in starts]
    out = []
    for pos in positions:
        k = bisect_right(keys, pos) - 1
        out.append(starts[k][1] if k >= 0 and pos >= 0 else -1)
    return out


def pair_token_attention(mention_att: torch.Tensor, entity_mentions: Sequence[Sequence[int]],
                         heads: torch.Tensor, tails: torch.Tensor, eps: float = CONTEXT_EPS) -> torch.Tensor:
    """ATLOP's localized-context weights of entity pairs.

    Args:
        mention_att: ``[M, heads, L]`` last-layer attention rows at the mention markers.
        entity_mentions: per entity, its indices into the mention axis (empty: zero attention).
        heads, tails: ``[P]`` entity indices of the pairs.
    Returns:
        ``[P, L]`` ``q = r / (sum_L r + eps)``, ``r = mean_heads(a_h * a_t)``, ``a_e`` the mean of
        entity e's mention rows.
    """
    need = sorted(set(heads.tolist()) | set(tails.tolist()))
    pos = {e: k for k, e in enumerate(need)}
    rows = []
    for e in need:
        ms = list(entity_mentions[e])
        rows.append(mention_att[ms].mean(0) if ms else mention_att.new_zeros(mention_att.shape[1:]))
    ent_att = torch.stack(rows) if rows else mention_att.new_zeros((0,) + tuple(mention_att.shape[1:]))
    hi = torch.tensor([pos[int(e)] for e in heads.tolist()], dtype=torch.long, device=mention_att.device)
    ti = torch.tensor([pos[int(e)] for e in tails.tolist()], dtype=torch.long, device=mention_att.device)
    r = (ent_att[hi] * ent_att[ti]).mean(1)  # [P, L]
    return r / (r.sum(-1, keepdim=True) + eps)


def attention_per_sentence(q: torch.Tensor, token_sentence: torch.Tensor, num_sents: int) -> torch.Tensor:
    """``[P, L]`` token weights -> ``[P, S]`` summed per sentence (tokens outside sentences dropped)."""
    keep = token_sentence >= 0  # [L]
    out = q.new_zeros(q.size(0), num_sents)
    if num_sents and bool(keep.any()):
        out.index_add_(1, token_sentence[keep].to(q.device), q[:, keep.to(q.device)])
    return out


def key_pair_sentence_scores(key_logits: torch.Tensor, head_sents: Sequence[int], tail_sents: Sequence[int],
                             num_sents: int) -> torch.Tensor:
    """Sentence scores of one triple from its key mention pairs.

    Args:
        key_logits: ``[K]`` mention logits ``l^(i,j)_r`` of the triple's key pairs.
        head_sents, tail_sents: ``[K]`` sentence of each key pair's head / tail mention (-1: none).
    Returns:
        ``[S]``: the sum of ``softmax(key_logits)`` over the key pairs with a mention in each sentence.
    """
    out = torch.zeros(num_sents)
    if key_logits.numel() == 0:
        return out
    w = torch.softmax(key_logits.float().cpu(), 0)
    for k, (a, b) in enumerate(zip(head_sents, tail_sents)):
        for s in {a, b}:
            if 0 <= s < num_sents:
                out[s] += w[k]
    return out


def select_sentences(scores: Sequence[float], threshold: float) -> list[int]:
    """Sentence ids whose score reaches ``threshold`` (DREEAM's inference rule), ascending."""
    return [s for s, v in enumerate(scores) if v >= threshold]


def rule_evidence(head_sents: set[int], tail_sents: set[int]) -> list[int]:
    """The simple rule: sentences that hold mentions of both entities, else of either."""
    both = head_sents & tail_sents
    return sorted(both if both else head_sents | tail_sents)
