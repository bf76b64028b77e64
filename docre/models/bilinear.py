"""ATLOP's group bilinear classifier, computed in bounded chunks of pairs."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


#: Bytes of one block's bilinear features built at once on the CPU (see :func:`feature_chunk_rows`).
CPU_FEATURE_CHUNK_BYTES = 8 * 2**20


def _group_outer(zh: torch.Tensor, zt: torch.Tensor, k: int, b: int) -> torch.Tensor:
    """``vec([z_h^i (z_t^i)^T]_{i=1..k})``: ``[n, k*b]`` x2 -> ``[n, k*b*b]``."""
    return (zh.view(-1, k, b, 1) * zt.view(-1, k, 1, b)).reshape(zh.size(0), k * b * b)


def feature_chunk_rows(device: torch.device, b: int, element_size: int, chunk_size: int) -> int:
    """Pairs whose features ``[pairs, b*b]`` of one block are built at once.

    On the CPU, at most :data:`CPU_FEATURE_CHUNK_BYTES` (512 pairs at block 64): the features
    of one block of one chunk are written into a buffer reused for every block and chunk,
    and read back by the matrix product while they are still in the cache. Building all
    blocks of 1,024 pairs at once (200 MB at emb 768 / block 64, fresh memory at every call)
    cost as much as the matrix product that read them (``bench/profile_heads.py``). On an
    accelerator, ``chunk_size`` pairs.
    """
    if device.type != "cpu":
        return chunk_size
    return max(1, min(chunk_size, CPU_FEATURE_CHUNK_BYTES // (b * b * element_size)))


class _ChunkedGroupBilinear(torch.autograd.Function):
    """Group bilinear computed block by block, ``logits = sum_i W_i vec(z_h^i (z_t^i)^T) + b``,
    for chunks of pairs: only one block's ``[chunk, b*b]`` features exist at a time, in the
    forward and the backward pass alike (the backward rebuilds them; unlike activation
    checkpointing it does not repeat the forward matrix product), never ``[pairs, emb*block]``.

    The backward pass skips the pairs whose logits get no gradient (KMGRE's mention pairs
    outside the key set K): they add exactly zero to every gradient.
    """

    @staticmethod
    def forward(ctx, zh, zt, weight, bias, k: int, b: int, chunk: int):  # type: ignore[override]
        n, bb = zh.size(0), b * b
        rows = feature_chunk_rows(zh.device, b, zh.element_size(), chunk)
        out = zh.new_empty(n, weight.size(0))
        buf = zh.new_empty(min(rows, n), b, b)
        for s in range(0, n, rows):
            a, t = zh[s: s + rows].view(-1, k, b), zt[s: s + rows].view(-1, k, b)
            c = a.size(0)
            feats = buf[:c]  # [c, b, b]: z_h^i (z_t^i)^T of block i
            for i in range(k):
                torch.mul(a[:, i, :, None], t[:, i, None, :], out=feats)
                w_i = weight[:, i * bb: (i + 1) * bb]  # [C, b*b]
                if i == 0:
                    torch.addmm(bias, feats.view(c, bb), w_i.t(), out=out[s: s + c])
                else:
                    out[s: s + c].addmm_(feats.view(c, bb), w_i.t())
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
    for upstream gradient ``grad_out [n, C]``, one block of one chunk of features at a time."""
    n, bb = zh.size(0), b * b
    grad_w = torch.zeros_like(weight) if n == 0 else torch.empty_like(weight)
    grad_zh = zh.new_empty(k, n, b)  # block-major: each block's rows are contiguous
    grad_zt = zt.new_empty(k, n, b)
    rows = feature_chunk_rows(zh.device, b, zh.element_size(), chunk)
    buf = zh.new_empty(min(rows, n), b, b)
    gbuf = zh.new_empty(min(rows, n), b, b)
    for s in range(0, n, rows):
        g = grad_out[s: s + rows]  # [c, C]
        a, t = zh[s: s + rows].view(-1, k, b), zt[s: s + rows].view(-1, k, b)
        c = a.size(0)
        feats, gf = buf[:c], gbuf[:c]
        for i in range(k):
            w_i = weight[:, i * bb: (i + 1) * bb]  # [C, b*b]
            torch.mul(a[:, i, :, None], t[:, i, None, :], out=feats)  # [c, b, b]
            grad_w[:, i * bb: (i + 1) * bb].addmm_(g.t(), feats.view(c, bb), beta=0 if s == 0 else 1)
            torch.mm(g, w_i, out=gf.view(c, bb))  # d loss / d features of block i, [c, b, b]
            # row vector times matrix ([c, 1, b] x [c, b, b]): 4x faster on the CPU than the same
            # products written as matrix times column vector
            torch.bmm(t[:, i, None, :], gf.transpose(1, 2), out=grad_zh[i, s: s + c].view(c, 1, b))
            torch.bmm(a[:, i, None, :], gf, out=grad_zt[i, s: s + c].view(c, 1, b))
    return (grad_zh.permute(1, 0, 2).reshape(n, k * b), grad_zt.permute(1, 0, 2).reshape(n, k * b), grad_w)


class GroupBilinear(nn.Module):
    """``logits = W_r vec([z_h^i (z_t^i)^T]_{i=1..k}) + b_r`` with k = emb_size / block_size blocks.

    The ``[pairs, emb_size * block_size]`` bilinear features (716 MB for the largest Re-DocRED
    document's mention pairs with emb 768, block 64) never exist: one block of at most
    ``chunk_size`` pairs at a time, in training too, so memory stays bounded by one chunk of
    one block whatever the number of pairs.
    """

    def __init__(self, emb_size: int, block_size: int, num_classes: int, chunk_size: int = 1024):
        super().__init__()
        if emb_size % block_size:
            raise ValueError("emb_size must be a multiple of block_size")
        self.emb_size, self.block_size, self.chunk_size = emb_size, block_size, chunk_size
        self.linear = nn.Linear(emb_size * block_size, num_classes)
        self._cast_cache: Optional[tuple] = None  # (key, weight, bias) in a low precision (_cast_weight)

    def forward(self, zh: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        """zh, zt: ``[n_pairs, emb_size]`` -> logits ``[n_pairs, num_classes]``."""
        k, b = self.emb_size // self.block_size, self.block_size
        if zh.size(0) == 0:
            return zh.new_zeros(0, self.linear.out_features) + self.linear.bias.sum() * 0
        weight, bias = self.linear.weight, self.linear.bias
        if zh.dtype != weight.dtype:  # under autocast
            weight, bias = self._cast_weight(zh.dtype)
        return _ChunkedGroupBilinear.apply(zh.contiguous(), zt.contiguous(), weight, bias, k, b, self.chunk_size)

    def _cast_weight(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight and bias in ``dtype``. Without gradients (prediction under ``--precision``) the
        cast copy is kept until the weight changes: the weight is 9.5 MB at emb 768 / block 64 / 97
        classes and the head is called once per document."""
        weight, bias = self.linear.weight, self.linear.bias
        if torch.is_grad_enabled():
            return weight.to(dtype), bias.to(dtype)
        key = (dtype, weight.data_ptr(), weight._version, bias._version)
        cached = self._cast_cache
        if cached is None or cached[0] != key:
            cached = (key, weight.detach().to(dtype), bias.detach().to(dtype))
            self._cast_cache = cached
        return cached[1], cached[2]

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
        entity (or mention) and gathered, not once per pair. emb ``[N, d]``; head, tail
        ``[P]`` indices into it; ctx ``[P, d]`` -> zh, zt ``[P, emb]``. Equal to
        :meth:`forward` up to float rounding.
        """
        d = emb.size(-1)
        zs = []
        for layer, index in ((self.head_extractor, head), (self.tail_extractor, tail)):
            own = F.linear(emb, layer.weight[:, :d]).index_select(0, index)  # [P, emb]: W[:, :d] h, gathered
            zs.append(torch.tanh(own + F.linear(ctx, layer.weight[:, d:], layer.bias)))  # [P, emb]
        return zs[0], zs[1]
