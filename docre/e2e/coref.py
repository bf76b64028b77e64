"""Mention-pair coreference and clustering into entities (JEREX, Eberts & Ulges EACL 2021).

Every pair of mentions (i, j), i < j, of a document gets a probability of referring to the same
entity from their span representations and a few string features (JEREX uses an edit-distance
embedding; these are cheaper and catch the cases that distance misses, e.g. acronyms)::

    p(i ~ j) = sigmoid(MLP([u_i; u_j; u_i * u_j; f(i, j)])),   u = W x_span

Training: every pair of gold mentions, binary cross-entropy (positive: same gold entity).
Inference: agglomerative clustering of the predicted mentions by these probabilities
(:func:`cluster_mentions`: single, average or complete linkage, merging while the best linkage
reaches ``coref_threshold``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from docre.config import EndToEndConfig

#: exact match, containment, same last word, word Jaccard, acronym (see :func:`string_features`)
NUM_STRING_FEATURES = 5


def _acronym(words: Sequence[str]) -> str:
    return "".join(w[0] for w in words if w[:1].isupper())


def string_features(a: Sequence[str], b: Sequence[str]) -> list[float]:
    """String evidence that mentions ``a`` and ``b`` (their words) corefer, each in [0, 1]:

    1. the same words (case-insensitive);
    2. the words of one are a contiguous part of the other's (``Bacaibosell`` in ``Tholyan Bacaibosell``);
    3. the same last word;
    4. Jaccard overlap of their lower-cased word sets;
    5. one is a single upper-case word that spells the initials of the other's capitalised words
       (``KPH`` for ``Ketrak Paper Holdings``).
    """
    la, lb = [w.lower() for w in a], [w.lower() for w in b]
    same = float(la == lb)
    short, long_ = (la, lb) if len(la) <= len(lb) else (lb, la)
    contained = float(bool(short) and any(long_[i: i + len(short)] == short for i in range(len(long_) - len(short) + 1)))
    last = float(bool(la) and bool(lb) and la[-1] == lb[-1])
    sa, sb = set(la), set(lb)
    jaccard = len(sa & sb) / len(sa | sb) if sa | sb else 0.0

    def spells(x: Sequence[str], y: Sequence[str]) -> bool:
        return len(x) == 1 and len(x[0]) >= 2 and x[0].isupper() and len(y) >= 2 and x[0] == _acronym(y)

    acronym = float(spells(a, b) or spells(b, a))
    return [same, contained, last, jaccard, acronym]


def pair_string_features(words: Sequence[Sequence[str]], pairs: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``[P, NUM_STRING_FEATURES]`` string features of mention pairs (``words``: each mention's words)."""
    feats = [string_features(words[i], words[j]) for i, j in pairs]
    return torch.tensor(feats, dtype=torch.float32).view(len(pairs), NUM_STRING_FEATURES)


def all_pairs(n: int) -> list[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j < n``."""
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


class CorefScorer(nn.Module):
    """Mention-pair coreference scorer.

    Args:
        span_size: size of the span representations (:class:`docre.e2e.spans.SpanClassifier`).
        cfg: the ``e2e`` config section (hidden_size, dropout, chunk_size).
    """

    def __init__(self, span_size: int, cfg: EndToEndConfig):
        super().__init__()
        self.project = nn.Linear(span_size, cfg.hidden_size)
        self.scorer = nn.Sequential(nn.Linear(3 * cfg.hidden_size + NUM_STRING_FEATURES, cfg.hidden_size), nn.GELU(),
                                    nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden_size, 1))
        self.chunk_size = cfg.chunk_size

    def forward(self, rep: torch.Tensor, pairs: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Mention representations ``[M, span_size]``, pairs ``[P, 2]`` (indices into M) and string
        features ``[P, NUM_STRING_FEATURES]`` -> coreference logits ``[P]``."""
        if pairs.numel() == 0:
            return rep.new_zeros(0) + self.project.bias.sum() * 0
        u = self.project(rep)  # [M, h]
        out = []
        for c in range(0, pairs.size(0), self.chunk_size):
            p = pairs[c: c + self.chunk_size]
            a, b = u[p[:, 0]], u[p[:, 1]]  # [c, h] each
            x = torch.cat([a, b, a * b, feats[c: c + self.chunk_size].to(u.dtype)], dim=-1)
            out.append(self.scorer(x).squeeze(-1))
        return torch.cat(out, 0)


def cluster_mentions(n: int, pairs: Sequence[tuple[int, int]], probs: Sequence[float], threshold: float,
                     linkage: str = "average") -> list[list[int]]:
    """Agglomerative clustering of ``n`` mentions by pair probabilities.

    Starts from singletons and repeatedly merges the two clusters of highest linkage while it
    reaches ``threshold``. Linkage of clusters A and B over their mention pairs: ``single`` the
    highest probability, ``complete`` the lowest, ``average`` the mean. Pairs not listed have
    probability 0. Returns clusters (sorted mention indices) ordered by their first mention.
    """
    if linkage not in ("single", "average", "complete"):
        raise ValueError(f"linkage must be single, average or complete, got {linkage!r}")
    if n == 0:
        return []
    link = np.zeros((n, n), dtype=np.float64)
    for (i, j), p in zip(pairs, probs):
        link[i, j] = link[j, i] = p
    members: list[list[int]] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    np.fill_diagonal(link, -np.inf)
    while alive.sum() > 1:
        masked = np.where(alive[:, None] & alive[None, :], link, -np.inf)
        flat = int(np.argmax(masked))
        a, b = divmod(flat, n)
        if masked[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        if linkage == "single":
            merged = np.maximum(link[a], link[b])
        elif linkage == "complete":
            merged = np.minimum(link[a], link[b])
        else:  # mean over all pairs of the merged cluster with each other cluster
            na, nb = len(members[a]), len(members[b])
            merged = (na * link[a] + nb * link[b]) / (na + nb)
        link[a, :] = merged
        link[:, a] = merged
        link[a, a] = -np.inf
        members[a] = sorted(members[a] + members[b])
        members[b] = []
        alive[b] = False
        link[b, :] = -np.inf
        link[:, b] = -np.inf
    clusters = [m for m, ok in zip(members, alive) if ok and m]
    return sorted(clusters, key=lambda c: c[0])
