"""Mention pairs: the instances of KMGRE's multiple-instance bags (spec 3, 3.1).

Every ordered entity pair (h, t) is a bag whose instances are the mention pairs
(m_i, m_j), m_i in M(h), m_j in M(t). This module enumerates them and computes their
localized context c^(i,j) = H^T normalize(mean_heads(a_mi * a_mj)) (ATLOP's localized
context pooling applied to a pair of mentions instead of a pair of entities).

Everything here is a pure tensor function; the per-pair work is vectorised and, where
a tensor of shape ``[n_mention_pairs, heads, seq_len]`` could be large (spec 5: 180 MB
for the largest Re-DocRED document), done in chunks of bounded size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from torch.utils.checkpoint import checkpoint

#: ATLOP's normaliser: q = r / (sum_L r + eps).
CONTEXT_EPS = 1e-5
#: Largest ``[L, N, N]`` table of attention products (bytes) for which
#: :func:`mention_pair_context` takes its dense path (all of Re-DocRED's documents: at most
#: 62 mentions and 1,024 subwords, 16 MB); above it, the chunked gathering path.
DENSE_CONTEXT_BYTES = 64 * 2**20


@dataclass
class MentionPairs:
    """All mention pairs of a document's ordered entity pairs, grouped by entity pair.

    Attributes:
        head: ``[P]`` index of the head mention m_i in the document's mention list.
        tail: ``[P]`` index of the tail mention m_j in the document's mention list.
        pair_index: ``[P]`` which ordered entity pair (``0..E-1``, the caller's order)
            the mention pair belongs to; non-decreasing.
        num_entity_pairs: E.
    """

    head: torch.Tensor
    tail: torch.Tensor
    pair_index: torch.Tensor
    num_entity_pairs: int

    def __len__(self) -> int:
        return int(self.head.numel())

    def to(self, device: Union[torch.device, str]) -> "MentionPairs":
        """The same pairs with their index tensors on ``device``."""
        return MentionPairs(
            self.head.to(device), self.tail.to(device), self.pair_index.to(device), self.num_entity_pairs
        )


def enumerate_mention_pairs(
    entity_mentions: Sequence[Sequence[int]],
    entity_pairs: Sequence[tuple[int, int]],
    device: Optional[Union[torch.device, str]] = None,
) -> MentionPairs:
    """Enumerate the instances (m_i, m_j) of every entity-pair bag (spec 3).

    Args:
        entity_mentions: ``entity_mentions[e]`` = indices of entity e's mentions in the
            document's mention list.
        entity_pairs: ordered ``(h, t)`` entity pairs; a pair's position in this list is
            its ``pair_index``.
        device: where to put the returned tensors (default: CPU).

    Returns:
        :class:`MentionPairs` with ``P = sum over pairs of |M(h)| * |M(t)|`` rows,
        grouped by entity pair in the given order and, within a pair, head-major
        (m_i varies slowest).

    Raises:
        ValueError: an entity of some pair has no mention (its bag would be empty).
    """
    # Flatten the ragged mention lists: entity e owns flat[offsets[e] : offsets[e] + counts[e]].
    counts = torch.tensor([len(ms) for ms in entity_mentions], dtype=torch.long)  # [n_entities]
    flat = torch.tensor([m for ms in entity_mentions for m in ms], dtype=torch.long)  # [n_mentions]
    offsets = torch.cumsum(counts, 0) - counts  # [n_entities]

    pairs = torch.tensor(list(entity_pairs), dtype=torch.long).reshape(-1, 2)  # [E, 2]
    num_pairs = pairs.size(0)
    n_head = counts[pairs[:, 0]]  # [E]
    n_tail = counts[pairs[:, 1]]  # [E]
    if num_pairs and bool(((n_head == 0) | (n_tail == 0)).any()):
        bad = int(((n_head == 0) | (n_tail == 0)).nonzero()[0, 0])
        raise ValueError(f"entity pair {bad} {tuple(pairs[bad].tolist())} has an entity without mentions")

    sizes = n_head * n_tail  # [E] bag sizes
    pair_index = torch.repeat_interleave(torch.arange(num_pairs), sizes)  # [P]
    starts = torch.cumsum(sizes, 0) - sizes  # [E] first row of each bag
    local = torch.arange(pair_index.numel()) - starts[pair_index]  # [P] row inside its bag
    nt = n_tail[pair_index]  # [P]
    head = flat[offsets[pairs[pair_index, 0]] + torch.div(local, nt, rounding_mode="floor")]  # [P]
    tail = flat[offsets[pairs[pair_index, 1]] + local % nt]  # [P]

    result = MentionPairs(head=head, tail=tail, pair_index=pair_index, num_entity_pairs=num_pairs)
    return result.to(device) if device is not None else result


def _pool_context(hidden: torch.Tensor, head_att: torch.Tensor, tail_att: torch.Tensor, eps: float) -> torch.Tensor:
    """c = H^T normalize(mean_heads(a_h * a_t)) for one block of pairs.

    hidden ``[L, d]``; head_att, tail_att ``[n, heads, L]`` -> ``[n, d]``.
    """
    r = torch.einsum("nhl,nhl->nl", head_att, tail_att) / head_att.size(1)  # [n, L] mean over heads
    q = r / (r.sum(-1, keepdim=True) + eps)  # [n, L]
    return q @ hidden  # [n, d]


def localized_context_pooling(
    hidden: torch.Tensor,
    head_att: torch.Tensor,
    tail_att: torch.Tensor,
    chunk_size: Optional[int] = None,
    eps: float = CONTEXT_EPS,
) -> torch.Tensor:
    """Localized context pooling (ATLOP; spec 2 and 3.1) for given attention rows.

    c = H^T q,  q = normalize(mean over heads(a_h * a_t)), where normalize divides by
    (sum over L + eps), as ATLOP does.

    Args:
        hidden: ``[L, d]`` encoder output H.
        head_att: ``[P, heads, L]`` attention of each pair's head (mention or entity).
        tail_att: ``[P, heads, L]`` attention of each pair's tail.
        chunk_size: if given, the pairs are processed ``chunk_size`` at a time, bounding
            the intermediate products; the inputs themselves are already ``[P, heads, L]``
            (use :func:`mention_pair_context` to avoid building them at all).
        eps: the normaliser's epsilon.

    Returns:
        ``[P, d]`` context vectors.
    """
    if chunk_size is None or chunk_size >= head_att.size(0):
        return _pool_context(hidden, head_att, tail_att, eps)
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    parts = [
        _pool_context(hidden, head_att[s : s + chunk_size], tail_att[s : s + chunk_size], eps)
        for s in range(0, head_att.size(0), chunk_size)
    ]
    return torch.cat(parts, 0) if parts else hidden.new_zeros(0, hidden.size(-1))


def _pool_mention_chunk(
    hidden: torch.Tensor, mention_att: torch.Tensor, head: torch.Tensor, tail: torch.Tensor, eps: float
) -> torch.Tensor:
    """Context of one chunk of mention pairs; gathers ``[chunk, heads, L]`` rows only here."""
    return _pool_context(hidden, mention_att.index_select(0, head), mention_att.index_select(0, tail), eps)


def _dense_pair_context(
    hidden: torch.Tensor, att: torch.Tensor, head: torch.Tensor, tail: torch.Tensor, chunk_size: int, eps: float
) -> torch.Tensor:
    """:func:`mention_pair_context` from the table of all attention products.

    ``sum_heads a_i * a_j`` at every position for every pair (i, j) of the N rows of ``att``
    is one batched matrix product over positions, ``[L, N, heads] x [L, heads, N]``, without
    gathering ``[P, heads, L]`` rows; each pair then reads its column. The mean over heads
    is folded into the normaliser: ``r / H / (sum(r / H) + eps) = r / (sum(r) + eps * H)``.
    The backward pass is two batched matrix products and a scatter of ``[L, P]`` columns.
    """
    n, heads, length = att.shape
    rows = att.permute(2, 0, 1).contiguous()  # [L, N, heads]
    products = torch.bmm(rows, rows.transpose(1, 2)).view(length, n * n)  # [L, N*N]
    column = head * n + tail  # [P] column of each pair
    parts = []
    for s in range(0, head.numel(), chunk_size):
        r = products.index_select(1, column[s: s + chunk_size])  # [L, c] = heads * mean_heads(a_i * a_j)
        q = r / (r.sum(0, keepdim=True) + eps * heads)  # [L, c]
        parts.append(q.t() @ hidden)  # [c, d]
    return torch.cat(parts, 0)


def mention_pair_context(
    hidden: torch.Tensor,
    mention_att: torch.Tensor,
    head: torch.Tensor,
    tail: torch.Tensor,
    chunk_size: int = 1024,
    recompute: bool = True,
    eps: float = CONTEXT_EPS,
    dense_bytes: int = DENSE_CONTEXT_BYTES,
) -> torch.Tensor:
    """Localized context c^(i,j) of every mention pair (spec 3.1), in bounded memory.

    c^(i,j) = H^T normalize(mean_heads(a_mi * a_mj)), computed from the per-mention
    attention taken once, by one of two paths with the same result (up to float rounding):

    - dense, when the ``[L, M, M]`` table of attention products takes at most
      ``dense_bytes``: one batched matrix product gives ``sum_heads a_mi * a_mj`` for all
      mention pairs at every position (:func:`_dense_pair_context`); no ``[P, heads, L]``
      rows exist, and the backward pass keeps ``[L, chunk]`` tensors per chunk;
    - gathering, otherwise: the rows of ``chunk_size`` pairs at a time, so that no
      ``[P, heads, L]`` tensor over all P pairs is ever created (peak ``[chunk, heads, L]``).

    Args:
        hidden: ``[L, d]`` encoder output H.
        mention_att: ``[M, heads, L]`` attention row a_m of every mention.
        head: ``[P]`` head-mention index of each pair (into ``mention_att``).
        tail: ``[P]`` tail-mention index of each pair.
        chunk_size: pairs per chunk.
        recompute: gathering path: when gradients are needed, recompute each chunk's
            gathered rows in the backward pass (activation checkpointing) instead of keeping
            them for all chunks, so the backward pass is bounded by the chunk too. Results
            and gradients are the same either way.
        eps: the normaliser's epsilon.
        dense_bytes: the largest table of attention products for the dense path (0: never).

    Returns:
        ``[P, d]`` context vectors; differentiable w.r.t. ``hidden`` and ``mention_att``.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if not head.numel():
        return hidden.new_zeros(0, hidden.size(-1))
    n, _, length = mention_att.shape
    if n * n * length * mention_att.element_size() <= dense_bytes:
        return _dense_pair_context(hidden, mention_att, head, tail, chunk_size, eps)
    use_checkpoint = recompute and torch.is_grad_enabled() and (hidden.requires_grad or mention_att.requires_grad)
    parts = []
    for s in range(0, head.numel(), chunk_size):
        h, t = head[s : s + chunk_size], tail[s : s + chunk_size]
        if use_checkpoint:
            parts.append(checkpoint(_pool_mention_chunk, hidden, mention_att, h, t, eps, use_reentrant=False))
        else:
            parts.append(_pool_mention_chunk(hidden, mention_att, h, t, eps))
    return torch.cat(parts, 0)
