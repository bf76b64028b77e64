"""Mention-pair enumeration and localized context per mention pair (spec 3, 3.1)."""
from __future__ import annotations

import time

import pytest
import torch

from docre.models.mention_pairs import (
    DENSE_CONTEXT_BYTES,
    MentionPairs,
    enumerate_mention_pairs,
    localized_context_pooling,
    mention_pair_context,
)


def test_enumerate_mention_pairs_by_hand() -> None:
    # Entities with 2, 1, 3 mentions; mention indices deliberately not contiguous.
    entity_mentions = [[4, 0], [2], [1, 5, 3]]
    pairs = enumerate_mention_pairs(entity_mentions, [(0, 1), (2, 0), (1, 2)])
    # (0,1): 4-2, 0-2 | (2,0): 1-4, 1-0, 5-4, 5-0, 3-4, 3-0 (head-major) | (1,2): 2-1, 2-5, 2-3
    assert pairs.head.tolist() == [4, 0, 1, 1, 5, 5, 3, 3, 2, 2, 2]
    assert pairs.tail.tolist() == [2, 2, 4, 0, 4, 0, 4, 0, 1, 5, 3]
    assert pairs.pair_index.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2]
    assert pairs.num_entity_pairs == 3
    assert len(pairs) == 11
    assert pairs.head.dtype == pairs.tail.dtype == pairs.pair_index.dtype == torch.long


def test_enumerate_mention_pairs_empty_and_invalid() -> None:
    empty = enumerate_mention_pairs([[0], [1]], [])
    assert isinstance(empty, MentionPairs)
    assert empty.num_entity_pairs == 0
    assert empty.head.tolist() == empty.tail.tolist() == empty.pair_index.tolist() == []
    with pytest.raises(ValueError, match="without mentions"):
        enumerate_mention_pairs([[0], [], [1]], [(0, 2), (1, 0)])


def _naive_enumeration(entity_mentions: list[list[int]], entity_pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    return [
        (mi, mj, k)
        for k, (h, t) in enumerate(entity_pairs)
        for mi in entity_mentions[h]
        for mj in entity_mentions[t]
    ]


def test_enumerate_mention_pairs_largest_document_scale() -> None:
    # Spec 5: 42 entities, 62 mentions, 1,722 ordered pairs (the largest Re-DocRED document).
    gen = torch.Generator().manual_seed(0)
    counts = [1] * 42
    for e in torch.randint(0, 42, (20,), generator=gen).tolist():
        counts[e] += 1
    order = torch.randperm(62, generator=gen).tolist()
    entity_mentions, start = [], 0
    for c in counts:
        entity_mentions.append(order[start : start + c])
        start += c
    entity_pairs = [(h, t) for h in range(42) for t in range(42) if h != t]
    assert len(entity_pairs) == 1722

    enumerate_mention_pairs(entity_mentions, entity_pairs)  # warm-up
    t0 = time.perf_counter()
    pairs = enumerate_mention_pairs(entity_mentions, entity_pairs)
    elapsed_ms = (time.perf_counter() - t0) * 1e3
    print(f"enumerate_mention_pairs: {len(entity_pairs)} entity pairs, {len(pairs)} mention pairs, {elapsed_ms:.2f} ms")

    got = list(zip(pairs.head.tolist(), pairs.tail.tolist(), pairs.pair_index.tolist()))
    assert got == _naive_enumeration(entity_mentions, entity_pairs)


def _naive_context(hidden: torch.Tensor, mention_att: torch.Tensor, head: list[int], tail: list[int]) -> torch.Tensor:
    rows = []
    for i, j in zip(head, tail):
        r = (mention_att[i] * mention_att[j]).mean(0)  # [L]
        q = r / (r.sum() + 1e-5)
        rows.append(hidden.t() @ q)  # [d]
    return torch.stack(rows)


def test_localized_context_pooling_by_hand() -> None:
    hidden = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # L = 3, d = 2
    head_att = torch.tensor([[[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]])  # [1, heads=2, L]
    tail_att = torch.tensor([[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]])
    # products per head: [.25, .25, 0] and [.25, 0, 0]; mean over heads: [.25, .125, 0]; sum .375
    # c = (.25 * [1, 2] + .125 * [3, 4]) / (.375 + 1e-5) = [.625, 1.0] / .37501
    expected = torch.tensor([[0.625, 1.0]]) / 0.37501
    got = localized_context_pooling(hidden, head_att, tail_att)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_localized_context_pooling_chunked_equals_whole() -> None:
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(9, 5, generator=gen)
    head_att = torch.rand(7, 3, 9, generator=gen)
    tail_att = torch.rand(7, 3, 9, generator=gen)
    whole = localized_context_pooling(hidden, head_att, tail_att)
    for chunk in (1, 2, 7, 100):
        torch.testing.assert_close(localized_context_pooling(hidden, head_att, tail_att, chunk_size=chunk), whole)


def _context_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    L, d, heads = 11, 6, 4
    hidden = torch.randn(L, d, generator=gen)
    mention_att = torch.softmax(torch.randn(5, heads, L, generator=gen), dim=-1)  # [M, heads, L]
    pairs = enumerate_mention_pairs([[0, 3], [1], [2, 4]], [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)])
    return hidden, mention_att, pairs.head, pairs.tail


@pytest.mark.parametrize("dense_bytes", [0, DENSE_CONTEXT_BYTES], ids=["gathering", "dense"])
def test_mention_pair_context_matches_naive_loop_for_any_chunk(dense_bytes: int) -> None:
    hidden, mention_att, head, tail = _context_inputs()
    expected = _naive_context(hidden, mention_att, head.tolist(), tail.tolist())
    for chunk in (1, 3, 1000):
        got = mention_pair_context(hidden, mention_att, head, tail, chunk_size=chunk, dense_bytes=dense_bytes)
        assert got.shape == (head.numel(), hidden.size(1))
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_mention_pair_context_gradients_flow_and_match_without_recompute() -> None:
    hidden, mention_att, head, tail = _context_inputs()
    weights = torch.randn(head.numel(), hidden.size(1), generator=torch.Generator().manual_seed(3))
    grads = []
    for chunk, recompute, dense in ((3, True, 0), (3, False, 0), (1000, True, 0), (3, True, DENSE_CONTEXT_BYTES),
                                    (1000, True, DENSE_CONTEXT_BYTES)):
        h = hidden.clone().requires_grad_(True)
        a = mention_att.clone().requires_grad_(True)
        (mention_pair_context(h, a, head, tail, chunk_size=chunk, recompute=recompute, dense_bytes=dense)
         * weights).sum().backward()
        assert h.grad is not None and a.grad is not None
        assert h.grad.abs().sum() > 0 and a.grad.abs().sum() > 0
        grads.append((h.grad, a.grad))
    # The naive computation's gradients are the reference.
    h = hidden.clone().requires_grad_(True)
    a = mention_att.clone().requires_grad_(True)
    (_naive_context(h, a, head.tolist(), tail.tolist()) * weights).sum().backward()
    for gh, ga in grads:
        torch.testing.assert_close(gh, h.grad, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ga, a.grad, atol=1e-5, rtol=1e-5)


def test_mention_pair_context_no_pairs() -> None:
    hidden, mention_att, _, _ = _context_inputs()
    empty = torch.zeros(0, dtype=torch.long)
    assert mention_pair_context(hidden, mention_att, empty, empty).shape == (0, hidden.size(1))
    with pytest.raises(ValueError):
        mention_pair_context(hidden, mention_att, empty, empty, chunk_size=0)


def test_mention_pair_context_keeps_no_chunk_rows_for_backward() -> None:
    # Gathering path with recompute: the autograd graph holds only H, the per-mention attention
    # and index tensors: no gathered [chunk, heads, L] rows, so the backward pass stays bounded too.
    hidden, mention_att, head, tail = _context_inputs()
    hidden.requires_grad_(True)
    mention_att.requires_grad_(True)
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        mention_pair_context(hidden, mention_att, head, tail, chunk_size=3, dense_bytes=0)
    float_storages = {t.data_ptr() for t in saved if t.is_floating_point() and t.numel()}  # empty placeholders: ptr 0
    assert saved and float_storages <= {hidden.data_ptr(), mention_att.data_ptr()}


def test_dense_and_gathering_context_agree_on_a_large_document_with_a_zero_attention_row() -> None:
    # A document of Re-DocRED's size (its largest: 62 mentions, 1,024 subwords, 16 MB of products).
    # The last mention has zero attention, as the virtual mention of an entity cut away.
    gen = torch.Generator().manual_seed(4)
    L, d, heads, m = 512, 16, 12, 31
    hidden = torch.randn(L, d, generator=gen)
    mention_att = torch.softmax(torch.randn(m, heads, L, generator=gen) * 3, dim=-1)
    mention_att[-1] = 0.0
    entity_mentions = [list(range(i, min(i + 3, m))) for i in range(0, m, 3)]
    pairs = enumerate_mention_pairs(entity_mentions, [(h, t) for h in range(len(entity_mentions))
                                                      for t in range(len(entity_mentions)) if h != t])
    weights = torch.randn(len(pairs), d, generator=gen)

    def context_and_grads(dense: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        h = hidden.to(dtype).requires_grad_(True)
        a = mention_att.to(dtype).requires_grad_(True)
        ctx = mention_pair_context(h, a, pairs.head, pairs.tail, chunk_size=256, dense_bytes=dense)
        (ctx * weights.to(dtype)).sum().backward()
        return ctx.detach(), h.grad, a.grad

    assert len(pairs) > 512  # several chunks
    reference = context_and_grads(0, torch.float64)  # the gathering path in float64
    dense = context_and_grads(DENSE_CONTEXT_BYTES, torch.float32)
    for got, ref in zip(dense, reference):
        # the zero row's attention gradient is amplified by 1 / eps: tolerance relative to the largest value
        torch.testing.assert_close(got.double(), ref, atol=1e-6 * float(ref.abs().max()), rtol=1e-4)
    results = [reference, dense]
    zero_rows = (pairs.head == m - 1) | (pairs.tail == m - 1)
    assert bool(zero_rows.any()) and results[1][0][zero_rows].abs().max() == 0  # no attention: no context


def test_dense_context_keeps_no_heads_sized_tensors_for_backward() -> None:
    # The dense path's autograd graph holds the [L, M, heads] rows once and [L, chunk] columns
    # per chunk, never [chunk, heads, L] gathered rows.
    hidden, mention_att, head, tail = _context_inputs()
    hidden.requires_grad_(True)
    mention_att.requires_grad_(True)
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    chunk = 3
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        mention_pair_context(hidden, mention_att, head, tail, chunk_size=chunk)
    m, heads, L = mention_att.shape
    sizes = [t.numel() for t in saved if t.is_floating_point()]
    assert sizes and max(sizes) <= max(m * heads * L, hidden.numel())
    assert sorted(sizes).count(m * heads * L) <= 2  # the permuted rows (both bmm operands), nothing gathered
    assert all(s in (m * heads * L, hidden.numel(), L * chunk, chunk, 0) or s <= L * chunk for s in sizes)
