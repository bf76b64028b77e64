"""GlobalPointer span scorer (GPLinker, Su 2022), an alternative to SpERT's span classifier.

A span from word ``a`` to word ``b`` (its first subword ``i``, its last subword ``j``) gets, for
each entity type ``t``, the score

    S_t(i, j) = (q_i^T R_{j-i} k_j) / sqrt(p) + (u_t . h_i + v_t . h_j) / 2

where ``q = W_q h + b_q`` and ``k = W_k h + b_k`` (one projection of size ``p`` shared by every type,
"Efficient GlobalPointer"), ``R_{j-i}`` the rotary position encoding (the relative position of the
span's ends enters the dot product), and the second term a per-type bias from one small dense
layer. The span is a mention of type ``t`` when ``S_t > 0``; training is the multi-label
categorical cross-entropy (:func:`docre.losses.multilabel_categorical_crossentropy`) over every
candidate span and type of a document, so no negative sampling is needed.

For the rest of the pipeline the scores become the class probabilities of the span classifier's
convention (class 0: not a mention): ``p(mention) = sigmoid(max_t S_t)`` (``e2e.mention_threshold``
0.5 is exactly GlobalPointer's ``S > 0``) and the types share it by ``softmax_t S_t``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from docre.config import EndToEndConfig
from docre.losses import multilabel_categorical_crossentropy

WordSpan = tuple[int, int]


def rotary(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position encoding of ``x [N, p]`` (p even) at integer ``positions [N]``: each pair of
    dimensions ``(2m, 2m+1)`` rotated by the angle ``position * base^(-2m/p)``, so that
    ``rotary(q, a) . rotary(k, b)`` depends on the positions only through ``b - a``."""
    p = x.size(-1)
    freq = base ** (-torch.arange(0, p, 2, device=x.device, dtype=torch.float32) / p)  # [p/2]
    angle = positions.to(torch.float32).unsqueeze(-1) * freq  # [N, p/2]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return out.flatten(-2)


class GlobalPointer(nn.Module):
    """Per-type span scores from a document's hidden states.

    Args:
        hidden_size: encoder hidden size d.
        num_types: entity types T.
        cfg: the ``e2e`` config section (``pointer_size`` p, ``dropout``).
    """

    def __init__(self, hidden_size: int, num_types: int, cfg: EndToEndConfig):
        super().__init__()
        if cfg.pointer_size % 2:
            raise ValueError(f"e2e.pointer_size must be even (rotary encoding), got {cfg.pointer_size}")
        self.size = cfg.pointer_size
        self.num_types = num_types
        self.dropout = nn.Dropout(cfg.dropout)
        self.query_key = nn.Linear(hidden_size, 2 * cfg.pointer_size)
        self.type_bias = nn.Linear(hidden_size, 2 * num_types)

    def forward(self, hidden: torch.Tensor, spans: Sequence[WordSpan], word_start: torch.Tensor,
                word_end: torch.Tensor) -> torch.Tensor:
        """Scores ``[S, T]`` of word spans ``[a, b)``, from ``hidden [L, d]`` and each word's subword
        range ``[word_start[w], word_end[w])``."""
        if not spans:
            return hidden.new_zeros(0, self.num_types)
        sp = torch.tensor(spans, dtype=torch.long, device=hidden.device)
        i = word_start[sp[:, 0]]  # first subword of the span
        j = word_end[sp[:, 1] - 1] - 1  # last subword of the span
        ends = torch.unique(torch.cat([i, j]))  # the subwords that begin or end a candidate
        h = self.dropout(hidden[ends])
        qk = self.query_key(h)
        q = rotary(qk[:, : self.size], ends)
        k = rotary(qk[:, self.size:], ends)
        bias = self.type_bias(h)  # [U, 2T]
        row = torch.full((hidden.size(0),), -1, dtype=torch.long, device=hidden.device)
        row[ends] = torch.arange(ends.numel(), device=hidden.device)
        ri, rj = row[i], row[j]
        base = (q[ri] * k[rj]).sum(-1) / math.sqrt(self.size)  # [S]
        return base.unsqueeze(-1) + (bias[ri, 0::2] + bias[rj, 1::2]) / 2

    @staticmethod
    def loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Multi-label categorical cross-entropy of one document, one row per type: ``scores [S, T]``,
        ``labels [S, T]`` multi-hot (a gold span of type t is 1 in column t)."""
        return multilabel_categorical_crossentropy(scores.t(), labels.t())

    @staticmethod
    def class_probs(scores: torch.Tensor) -> torch.Tensor:
        """Scores ``[S, T]`` -> class probabilities ``[S, T+1]`` in the span classifier's convention:
        column 0 ``1 - sigmoid(max_t S_t)``, the types ``sigmoid(max_t S_t) * softmax_t(S_t)``."""
        s = scores.float()
        p = torch.sigmoid(s.max(-1).values).unsqueeze(-1)
        return torch.cat([1 - p, p * torch.softmax(s, -1)], -1)


__all__ = ["GlobalPointer", "rotary"]
