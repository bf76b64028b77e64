"""ATLOP's group bilinear classifier, computed in bounded chunks of pairs."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class GroupBilinear(nn.Module):
    """``logits = W_r vec([z_h^i (z_t^i)^T]_{i=1..k}) + b_r`` with k = emb_size / block_size blocks.

    The ``[pairs, emb_size * block_size]`` bilinear features are built ``chunk_size`` pairs
    at a time; in training, chunks are recomputed in the backward pass (activation
    checkpointing) so memory stays bounded by one chunk whatever the number of pairs.
    """

    def __init__(self, emb_size: int, block_size: int, num_classes: int, chunk_size: int = 1024):
        super().__init__()
        if emb_size % block_size:
            raise ValueError("emb_size must be a multiple of block_size")
        self.emb_size, self.block_size, self.chunk_size = emb_size, block_size, chunk_size
        self.linear = nn.Linear(emb_size * block_size, num_classes)

    def _chunk(self, zh: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        k, b = self.emb_size // self.block_size, self.block_size
        b1 = zh.view(-1, k, b)
        b2 = zt.view(-1, k, b)
        feats = (b1.unsqueeze(3) * b2.unsqueeze(2)).reshape(-1, self.emb_size * b)  # [n, emb*block]
        return self.linear(feats)

    def forward(self, zh: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        """zh, zt: ``[n_pairs, emb_size]`` -> logits ``[n_pairs, num_classes]``."""
        n = zh.size(0)
        if n <= self.chunk_size:
            return self._chunk(zh, zt)
        outs = []
        for s in range(0, n, self.chunk_size):
            a, c = zh[s: s + self.chunk_size], zt[s: s + self.chunk_size]
            if torch.is_grad_enabled() and (a.requires_grad or c.requires_grad):
                outs.append(checkpoint(self._chunk, a, c, use_reentrant=False))
            else:
                outs.append(self._chunk(a, c))
        return torch.cat(outs, 0)


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
