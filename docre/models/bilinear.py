"""ATLOP's group bilinear classifier, computed in bounded chunks of pairs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


#: Bytes of bilinear features built at once on the CPU (see :func:`feature_chunk_rows`).
CPU_FEATURE_CHUNK_BYTES = 24 * 2**20


def _group_outer(zh: torch.Tensor, zt: torch.Tensor, k: int, b: int) -> torch.Tensor:
    """``vec([z_h^i (z_t^i)^T]_{i=1..k})``: ``[n, k*b]`` x2 -> ``[n, k*b*b]``."""
    return (zh.view(-1, k, b, 1) * zt.view(-1, k, 1, b)).reshape(zh.size(0), k * b * b)


def _group_outer_into(buf: torch.Tensor, zh: torch.Tensor, zt: torch.Tensor, k: int, b: int) -> torch.Tensor:
    """:func:`_group_outer` of ``c = zh.size(0)`` pairs written into the first rows of ``buf``
    (``[>= c, k, b, b]``); returns them as ``[c, k*b*b]``."""
    c = zh.size(0)
    out = buf[:c]
    torch.mul(zh.view(c, k, b, 1), zt.view(c, k, 1, b), out=out)
    return out.view(c, k * b * b)


def feature_chunk_rows(device: torch.device, k: int, b: int, element_size: int, chunk_size: int) -> int:
    """Pairs whose ``[pairs, k*b*b]`` features are built at once.

    On the CPU, at most :data:`CPU_FEATURE_CHUNK_BYTES` of features: one such buffer is
    allocated per call and reused chunk after chunk while it stays in the cache. A chunk of
    1,024 pairs (200 MB at emb 768 / block 64) was fresh memory on every call, and writing
    it cost as much as the matrix product that reads it (``bench/profile_heads.py``). On an
    accelerator, ``chunk_size`` pairs (larger kernels, a caching allocator).
    """
    if device.type != "cpu":
        return chunk_size
    return max(1, min(chunk_size, CPU_FEATURE_CHUNK_BYTES // (k * b * b * element_size)))


class _ChunkedGroupBilinear(torch.autograd.Function):
    """Group bilinear whose ``[pairs, emb*block]`` features exist one chunk at a time, in the
    forward and the backward pass alike (the backward recomputes them chunk by chunk; unlike
    activation checkpointing it does not repeat the forward matrix product). One feature
    buffer (and in the backward one gradient buffer) serves every chunk.

    The backward pass skips the pairs whose logits get no gradient (KMGRE's mention pairs
    outside the key set K): they add exactly zero to every gradient.
    """

    @staticmethod
    def forward(ctx, zh, zt, weight, bias, k: int, b: int, chunk: int):  # type: ignore[override]
        n = zh.size(0)
        rows = feature_chunk_rows(zh.device, k, b, zh.element_size(), chunk)
        out = zh.new_empty(n, weight.size(0))
        buf = zh.new_empty(min(rows, n), k, b, b)
        for s in range(0, n, rows):
            feats = _group_outer_into(buf, zh[s: s + rows], zt[s: s + rows], k, b)  # [c, k*b*b]
            torch.addmm(bias, feats, weight.t(), out=out[s: s + rows])
        ctx.save_for_backward(zh, zt, weight)
        ctx.kbc = (k, b, chunk)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        zh, zt, weight = ctx.saved_tensors
        k, b, chunk = ctx.kbc
        grad_out = grad_out.contiguous()
        grad_b = grad_out.sum(0) if ctx.has_bias else None
        live = (grad_out != 0).any(1)  # [n] pairs whose logits get a gradient
        if bool(live.all()):
            grad_zh, grad_zt, grad_w = _group_bilinear_backward(zh, zt, weight, grad_out, k, b, chunk)
        else:
            idx = live.nonzero().squeeze(1)
            g_zh, g_zt, grad_w = _group_bilinear_backward(zh.index_select(0, idx), zt.index_select(0, idx), weight,
                                                          grad_out.index_select(0, idx), k, b, chunk)
            grad_zh = torch.zeros_like(zh).index_copy_(0, idx, g_zh)
            grad_zt = torch.zeros_like(zt).index_copy_(0, idx, g_zt)
        return grad_zh, grad_zt, grad_w, grad_b, None, None, None


def _group_bilinear_backward(zh: torch.Tensor, zt: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor,
                             k: int, b: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of the group bilinear w.r.t. zh, zt ``[n, k*b]`` and the weight ``[C, k*b*b]``
    for upstream gradient ``grad_out [n, C]``, one chunk of features at a time."""
    n = zh.size(0)
    grad_w = torch.zeros_like(weight) if n == 0 else None
    grad_zh = torch.empty_like(zh)
    grad_zt = torch.empty_like(zt)
    rows = feature_chunk_rows(zh.device, k, b, zh.element_size(), chunk)
    buf = zh.new_empty(min(rows, n), k, b, b)
    gbuf = zh.new_empty(min(rows, n), k, b, b)
    for s in range(0, n, rows):
        g = grad_out[s: s + rows]  # [c, C]
        a, t = zh[s: s + rows], zt[s: s + rows]
        c = a.size(0)
        feats = _group_outer_into(buf, a, t, k, b)  # [c, k*b*b]
        if grad_w is None:
            grad_w = torch.mm(g.t(), feats)  # [C, k*b*b]
        else:
            grad_w.addmm_(g.t(), feats)
        gf = gbuf[:c]  # d loss / d features, [c, k, b, b]
        torch.mm(g, weight, out=gf.view(c, k * b * b))
        gf = gf.view(c * k, b, b)
        torch.bmm(gf, t.reshape(c * k, b, 1), out=grad_zh[s: s + c].view(c * k, b, 1))
        torch.bmm(gf.transpose(1, 2), a.reshape(c * k, b, 1), out=grad_zt[s: s + c].view(c * k, b, 1))
    return grad_zh, grad_zt, grad_w


class GroupBilinear(nn.Module):
    """``logits = W_r vec([z_h^i (z_t^i)^T]_{i=1..k}) + b_r`` with k = emb_size / block_size blocks.

    The ``[pairs, emb_size * block_size]`` bilinear features (716 MB for the largest Re-DocRED
    document's mention pairs with emb 768, block 64) are built ``chunk_size`` pairs at a time,
    in training too, so memory stays bounded by one chunk whatever the number of pairs.
    """

    def __init__(self, emb_size: int, block_size: int, num_classes: int, chunk_size: int = 1024):
        super().__init__()
        if emb_size % block_size:
            raise ValueError("emb_size must be a multiple of block_size")
        self.emb_size, self.block_size, self.chunk_size = emb_size, block_size, chunk_size
        self.linear = nn.Linear(emb_size * block_size, num_classes)

    def forward(self, zh: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        """zh, zt: ``[n_pairs, emb_size]`` -> logits ``[n_pairs, num_classes]``."""
        k, b = self.emb_size // self.block_size, self.block_size
        if zh.size(0) == 0:
            return zh.new_zeros(0, self.linear.out_features) + self.linear.bias.sum() * 0
        weight, bias = self.linear.weight, self.linear.bias
        if zh.dtype != weight.dtype:  # under autocast
            weight, bias = weight.to(zh.dtype), bias.to(zh.dtype)
        return _ChunkedGroupBilinear.apply(zh.contiguous(), zt.contiguous(), weight, bias, k, b, self.chunk_size)

    def reference_forward(self, zh: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        """The plain (all pairs at once) computation, for tests."""
        k, b = self.emb_size // self.block_size, self.block_size
        return self.linear(_group_outer(zh, zt, k, b))


class PairExtractor(nn.Module):
    """ATLOP's head/tail extractors: ``z_h = tanh(W_h [h; c])``, ``z_t = tanh(W_t [t; c])``."""

    def __init__(self, hidden_size: int, emb_size: int):
        super().__init__()
        self.head_extractor = nn.Linear(2 * hidden_size, emb_size)
        self.tail_extractor = nn.Linear(2 * hidden_size, emb_size)

    def forward(self, hs: torch.Tensor, ts: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hs, ts, ctx ``[P, d]`` (each pair's head, tail and context) -> zh, zt ``[P, emb]``."""
        zh = torch.tanh(self.head_extractor(torch.cat([hs, ctx], dim=-1)))
        zt = torch.tanh(self.tail_extractor(torch.cat([ts, ctx], dim=-1)))
        return zh, zt

    def for_pairs(self, emb: torch.Tensor, head: torch.Tensor, tail: torch.Tensor, ctx: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` for pairs given by index: ``forward(emb[head], emb[tail], ctx)``.

        ``W_h [h; c] = W_h[:, :d] h + W_h[:, d:] c``: the first term is computed once per
        entity (or mention) and gathered, not once per pair, and the context terms of both
        extractors are one matrix product. emb ``[N, d]``; head, tail ``[P]`` indices into it;
        ctx ``[P, d]`` -> zh, zt ``[P, emb]``. Equal to :meth:`forward` up to float rounding.
        """
        d = emb.size(-1)
        wh, wt = self.head_extractor.weight, self.tail_extractor.weight  # [emb, 2d]
        e = wh.size(0)
        own = F.linear(emb, torch.cat([wh[:, :d], wt[:, :d]], 0))  # [N, 2*emb]: W_h[:, :d] h_n, W_t[:, :d] h_n
        shared = F.linear(ctx, torch.cat([wh[:, d:], wt[:, d:]], 0),
                          torch.cat([self.head_extractor.bias, self.tail_extractor.bias]))  # [P, 2*emb]
        zh = torch.tanh(own[:, :e].index_select(0, head) + shared[:, :e])  # [P, emb]
        zt = torch.tanh(own[:, e:].index_select(0, tail) + shared[:, e:])  # [P, emb]
        return zh, zt
