"""ATLOP's group bilinear classifier, computed in bounded chunks of pairs."""
from __future__ import annotations

import torch
from torch import nn


def _group_outer(zh: torch.Tensor, zt: torch.Tensor, k: int, b: int) -> torch.Tensor:
    """``vec([z_h^i (z_t^i)^T]_{i=1..k})``: ``[n, k*b]`` x2 -> ``[n, k*b*b]``."""
    return (zh.view(-1, k, b, 1) * zt.view(-1, k, 1, b)).reshape(zh.size(0), k * b * b)


class _ChunkedGroupBilinear(torch.autograd.Function):
    """Group bilinear whose ``[pairs, emb*block]`` features exist one chunk at a time, in the
    forward and the backward pass alike (the backward recomputes them chunk by chunk; unlike
    activation checkpointing it does not repeat the forward matrix product)."""

    @staticmethod
    def forward(ctx, zh, zt, weight, bias, k: int, b: int, chunk: int):  # type: ignore[override]
        out = zh.new_empty(zh.size(0), weight.size(0))
        for s in range(0, zh.size(0), chunk):
            feats = _group_outer(zh[s: s + chunk], zt[s: s + chunk], k, b)  # [c, k*b*b]
            torch.addmm(bias, feats, weight.t(), out=out[s: s + chunk])
        ctx.save_for_backward(zh, zt, weight)
        ctx.kbc = (k, b, chunk)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        zh, zt, weight = ctx.saved_tensors
        k, b, chunk = ctx.kbc
        grad_w = torch.zeros_like(weight)
        grad_zh = torch.empty_like(zh)
        grad_zt = torch.empty_like(zt)
        for s in range(0, zh.size(0), chunk):
            g = grad_out[s: s + chunk]  # [c, C]
            a, c = zh[s: s + chunk], zt[s: s + chunk]
            grad_w.addmm_(g.t(), _group_outer(a, c, k, b))
            gf = (g @ weight).view(-1, k, b, b)  # d loss / d features, [c, k, b, b]
            grad_zh[s: s + chunk] = torch.matmul(gf, c.view(-1, k, b, 1)).reshape(a.shape)
            grad_zt[s: s + chunk] = torch.matmul(gf.transpose(-1, -2), a.view(-1, k, b, 1)).reshape(c.shape)
        grad_b = grad_out.sum(0) if ctx.has_bias else None
        return grad_zh, grad_zt, grad_w, grad_b, None, None, None


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
        zh = torch.tanh(self.head_extractor(torch.cat([hs, ctx], dim=-1)))
        zt = torch.tanh(self.tail_extractor(torch.cat([ts, ctx], dim=-1)))
        return zh, zt
