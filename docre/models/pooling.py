"""Entity pooling (ATLOP): logsumexp over mention embeddings, mean over mention attention."""
from __future__ import annotations

import torch


def pool_entities(
    mention_emb: torch.Tensor, mention_att: torch.Tensor, entity_mentions: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entity embeddings and attention from their mentions, without a loop over entities.

    Args:
        mention_emb: ``[M, d]`` hidden states at mention markers.
        mention_att: ``[M, heads, L]`` attention rows at mention markers.
        entity_mentions: per entity, indices into the mention axis (may be empty when all
            its mentions were truncated away: the entity then gets zero vectors).
    Returns:
        ``h_e = logsumexp_m h_m`` ``[E, d]`` and ``a_e = mean_m a_m`` ``[E, heads, L]``.
    """
    n_ent = len(entity_mentions)
    counts = torch.tensor([len(m) for m in entity_mentions], device=mention_emb.device)
    flat = torch.tensor([i for m in entity_mentions for i in m], dtype=torch.long, device=mention_emb.device)
    seg = torch.repeat_interleave(torch.arange(n_ent, device=mention_emb.device), counts)
    d = mention_emb.size(-1)
    emb = mention_emb[flat]  # [M', d]
    # segment logsumexp with a detached per-entity max for stability
    mx = torch.full((n_ent, d), float("-inf"), device=emb.device, dtype=emb.dtype)
    mx = mx.scatter_reduce(0, seg.unsqueeze(1).expand(-1, d), emb.detach(), reduce="amax", include_self=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    sumexp = emb.new_zeros(n_ent, d).index_add(0, seg, torch.exp(emb - mx[seg]))
    has = (counts > 0).unsqueeze(1)
    ent_emb = torch.where(has, torch.log(sumexp.clamp(min=1e-30)) + mx, torch.zeros_like(mx))
    att = mention_att[flat]
    ent_att = mention_att.new_zeros((n_ent,) + tuple(mention_att.shape[1:])).index_add(0, seg, att)
    ent_att = ent_att / counts.clamp(min=1).view(-1, *([1] * (ent_att.dim() - 1))).to(ent_att.dtype)
    return ent_emb, ent_att
