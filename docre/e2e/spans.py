"""Span-based mention detection and typing (SpERT, Eberts & Ulges ECAI 2020).

Every word span of at most ``max_span_width`` words inside one sentence is a candidate. A span is
represented by the max-pool of its subwords' hidden states, the hidden states of its first and last
subword, and a learned embedding of its width in words::

    x_s = [maxpool(H[a:b]); H[a]; H[b-1]; w_width(s)]

and classified into "not a mention" (class 0) or one of the entity types. Training uses every gold
mention and a random sample of ``neg_spans`` other candidates per document (negative sampling);
inference scores every candidate, keeps those with ``1 - p(not a mention) >= mention_threshold``
and resolves overlaps (:func:`select_mentions`): by default it keeps the set of non-overlapping
spans with the largest summed log-odds (:func:`best_span_set`).
"""
from __future__ import annotations

import bisect
import math

from typing import Optional, Sequence

import torch
from torch import nn

from docre.config import EndToEndConfig

WordSpan = tuple[int, int]  # [start, end) global word indices


def enumerate_spans(sent_bounds: Sequence[tuple[int, int]], word_start: Sequence[int], max_width: int
                    ) -> list[WordSpan]:
    """Candidate spans: every ``[s, e)`` inside one sentence with ``e - s <= max_width`` whose words all
    lie within the encoded text (``word_start[w] >= 0``), in document order."""
    out: list[WordSpan] = []
    for first, end in sent_bounds:
        for s in range(first, end):
            if word_start[s] < 0:
                break
            for e in range(s + 1, min(end, s + max_width) + 1):
                if word_start[e - 1] < 0:
                    break
                out.append((s, e))
    return out


def pool_spans(hidden: torch.Tensor, sub_start: torch.Tensor, sub_end: torch.Tensor, chunk_size: int
               ) -> torch.Tensor:
    """Max-pool of ``hidden [L, d]`` over subword ranges ``[sub_start, sub_end)`` (``[S]`` each) -> ``[S, d]``.

    Ranges are gathered ``chunk_size`` spans at a time into ``[chunk, longest, d]`` (positions past a
    span's end repeat its last subword, which leaves the maximum unchanged).
    """
    if sub_start.numel() == 0:
        return hidden.new_zeros(0, hidden.size(-1))
    out = []
    for c in range(0, sub_start.numel(), chunk_size):
        a, b = sub_start[c: c + chunk_size], sub_end[c: c + chunk_size]
        longest = int((b - a).max())
        idx = a.unsqueeze(1) + torch.arange(longest, device=a.device).unsqueeze(0)  # [c, longest]
        idx = torch.minimum(idx, (b - 1).unsqueeze(1))
        out.append(hidden[idx].max(dim=1).values)  # [c, d]
    return torch.cat(out, 0)


class SpanClassifier(nn.Module):
    """Span representation and mention/type classifier.

    Args:
        hidden_size: encoder hidden size d.
        num_types: entity types (the classifier has ``num_types + 1`` outputs; class 0 = no mention).
        cfg: the ``e2e`` config section (max_span_width, width_emb_size, hidden_size, dropout).
        classify: build the classifier; False when another scorer (``e2e.span_scorer global_pointer``)
            finds the mentions and only :meth:`represent` is used (by coreference).
    """

    def __init__(self, hidden_size: int, num_types: int, cfg: EndToEndConfig, classify: bool = True):
        super().__init__()
        self.max_width = cfg.max_span_width
        self.width_emb = nn.Embedding(cfg.max_span_width + 1, cfg.width_emb_size)
        self.span_size = 3 * hidden_size + cfg.width_emb_size
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Sequential(nn.Linear(self.span_size, cfg.hidden_size), nn.GELU(), nn.Dropout(cfg.dropout),
                                        nn.Linear(cfg.hidden_size, num_types + 1)) if classify else None
        self.chunk_size = cfg.chunk_size

    def represent(self, hidden: torch.Tensor, spans: Sequence[WordSpan], word_start: torch.Tensor,
                  word_end: torch.Tensor) -> torch.Tensor:
        """``[S, span_size]`` representations of word spans, from ``hidden [L, d]`` and each word's
        subword range ``[word_start[w], word_end[w])``."""
        device = hidden.device
        if not spans:
            return hidden.new_zeros(0, self.span_size)
        sp = torch.tensor(spans, dtype=torch.long, device=device)  # [S, 2]
        a = word_start[sp[:, 0]]  # [S] first subword
        b = word_end[sp[:, 1] - 1]  # [S] one past the last subword
        pooled = pool_spans(hidden, a, b, self.chunk_size)  # [S, d]
        width = (sp[:, 1] - sp[:, 0]).clamp(max=self.max_width)
        rep = torch.cat([pooled, hidden[a], hidden[b - 1], self.width_emb(width)], dim=-1)
        return self.dropout(rep)

    def forward(self, rep: torch.Tensor) -> torch.Tensor:
        """``[S, span_size]`` -> logits ``[S, num_types + 1]`` (class 0: not a mention)."""
        return self.classifier(rep)

    @torch.no_grad()
    def score_candidates(self, hidden: torch.Tensor, spans: Sequence[WordSpan], word_start: torch.Tensor,
                         word_end: torch.Tensor) -> torch.Tensor:
        """Logits ``[S, num_types + 1]`` of many spans at inference: ``self(self.represent(...))`` in eval
        mode, computed without building ``[S, span_size]`` representations.

        - The max-pool over a span's subwords is the maximum of its words' own max-pools when the
          words' subword ranges are contiguous (the markerless pass): one ``[words, d]`` running
          maximum per width instead of a gather of every span's subwords.
        - The first layer of the classifier is linear in the concatenation ``[pool; H[a]; H[b-1];
          width]``: its pieces for ``H[a]`` and ``H[b-1]`` are computed once per subword and its
          width piece once per width, then gathered per span.

        Falls back to the plain path while training (dropout) or when the word ranges are not
        contiguous. Equal to the plain path up to float rounding.
        """
        if not spans:
            return hidden.new_zeros(0, self.classifier[-1].out_features)
        device = hidden.device
        sp = torch.tensor(spans, dtype=torch.long, device=device)  # [S, 2]
        first_w, last_w = int(sp[:, 0].min()), int(sp[:, 1].max())  # the words the spans cover
        ws, we = word_start[first_w:last_w], word_end[first_w:last_w]
        if self.training or bool((ws < 0).any()) or not torch.equal(we[:-1], ws[1:]) or bool((we <= ws).any()):
            return torch.cat([self(self.represent(hidden, spans[c: c + self.chunk_size], word_start, word_end))
                              for c in range(0, len(spans), self.chunk_size)], 0)
        d = hidden.size(-1)
        # each word's max-pool over its subwords, [W, d] (W: words first_w .. last_w - 1)
        word_max = pool_spans(hidden, ws, we, self.chunk_size)
        start, width = sp[:, 0] - first_w, sp[:, 1] - sp[:, 0]
        first = self.classifier[0]
        w_pool, w_first, w_last, w_width = first.weight.split([d, d, d, first.weight.size(1) - 3 * d], dim=1)
        widest = int(width.max())
        # pooled[w - 1, s] @ w_pool: the pool part of the first layer for the span of width w at word s
        running = word_max  # running[s]: maximum of word_max[s : s + w] for the current width w
        pool_part = None
        for w in range(1, widest + 1):
            if w > 1:
                running = torch.maximum(running[:-1], word_max[w - 1:])
            part = running @ w_pool.t()  # (in autocast's dtype under --precision)
            if pool_part is None:
                pool_part = part.new_zeros(widest, word_max.size(0), first.out_features)
            pool_part[w - 1, : running.size(0)] = part
        pre = pool_part[width - 1, start]
        a = word_start[sp[:, 0]]
        b = word_end[sp[:, 1] - 1]
        used = torch.unique(torch.cat([a, b - 1]))
        at = pre.new_zeros(hidden.size(0), first.out_features)
        bt = pre.new_zeros(hidden.size(0), first.out_features)
        at[used] = (hidden[used] @ w_first.t()).to(pre.dtype)
        bt[used] = (hidden[used] @ w_last.t()).to(pre.dtype)
        widths = self.width_emb.weight @ w_width.t()  # [max_width + 1, H]
        pre += at[a] + bt[b - 1] + widths[width.clamp(max=self.max_width)] + first.bias
        return self.classifier[1:](pre)


def overlaps_any(span: WordSpan, others: Sequence[WordSpan]) -> bool:
    """Whether ``span`` shares a word with one of ``others``."""
    s, e = span
    return any(s < b and a < e for a, b in others)


def sample_training_spans(candidates: Sequence[WordSpan], gold: dict[WordSpan, int], neg_spans: int,
                          overlap_negatives: bool = False, generator: Optional[torch.Generator] = None
                          ) -> tuple[list[WordSpan], list[int]]:
    """Training spans of one document: every gold mention (``gold``: span -> type class >= 1) and
    ``neg_spans`` candidates that are no gold mention, drawn at random (-1: all of them).

    ``overlap_negatives``: also every candidate that overlaps a gold mention without being one
    (``York`` and ``New York City`` beside the gold ``New York``): the spans that compete with a
    mention when overlaps are resolved, which random sampling seldom draws.

    Returns the spans and their target classes (0 for the negatives), gold mentions first.
    """
    spans = list(gold)
    labels = [gold[s] for s in spans]
    negatives = [s for s in candidates if s not in gold]
    hard: list[WordSpan] = []
    if overlap_negatives and gold:
        hard = [s for s in negatives if overlaps_any(s, spans)]
        taken = set(hard)
        negatives = [s for s in negatives if s not in taken]
    if 0 <= neg_spans < len(negatives):
        pick = torch.randperm(len(negatives), generator=generator)[:neg_spans].tolist()
        negatives = [negatives[i] for i in sorted(pick)]
    negatives = hard + negatives
    return spans + negatives, labels + [0] * len(negatives)


#: how overlapping candidates above the threshold are resolved (``e2e.overlaps``)
OVERLAP_RULES = ("best_set", "longest", "score")


def span_log_odds(score: float, threshold: float) -> float:
    """The weight of a candidate in :func:`best_span_set`: ``logit(score) - logit(threshold)`` (> 0
    above the threshold), plus a tiny constant so that a span right at the threshold still counts."""
    eps = 1e-6
    p = min(max(score, eps), 1 - eps)
    t = min(max(threshold, eps), 1 - eps)
    return math.log(p / (1 - p)) - math.log(t / (1 - t)) + 1e-9


def best_span_set(spans: Sequence[WordSpan], weights: Sequence[float]) -> list[int]:
    """Indices of the non-overlapping spans with the largest summed weight (weighted interval
    scheduling, exact, O(S log S)); spans of weight <= 0 are never taken. Ties go to the set found
    first with spans sorted by end, then start."""
    order = sorted((i for i, w in enumerate(weights) if w > 0), key=lambda i: (spans[i][1], spans[i][0]))
    ends = [spans[i][1] for i in order]
    best = [0.0] * (len(order) + 1)  # best[k]: the best total using the first k spans (by end)
    take = [False] * (len(order) + 1)
    prev = [0] * (len(order) + 1)
    for k, i in enumerate(order, start=1):
        p = bisect.bisect_right(ends, spans[i][0], 0, k - 1)  # spans ending at or before this one's start
        with_it = best[p] + weights[i]
        prev[k] = p
        if with_it > best[k - 1]:
            best[k], take[k] = with_it, True
        else:
            best[k] = best[k - 1]
    kept: list[int] = []
    k = len(order)
    while k > 0:
        if take[k]:
            kept.append(order[k - 1])
            k = prev[k]
        else:
            k -= 1
    return kept


def select_mentions(spans: Sequence[WordSpan], scores: Sequence[float], threshold: float, nested: bool,
                    prefer: str = "best_set", limit: int = 0) -> list[int]:
    """Indices of the spans kept as mentions, in document order.

    Only candidates scoring at least ``threshold`` count. ``prefer``:

    - ``"best_set"`` (default): the set of non-overlapping candidates with the largest summed
      log-odds above the threshold (:func:`best_span_set`). A coordination ``Cotabato and Tamontaka``
      scored 0.6 loses to its two parts scored 0.9 each, where longest-first kept it; a part
      ``York`` scored 0.6 loses to ``New York`` scored 0.95.
    - ``"longest"``: taken one by one, the longest first (ties by score);
    - ``"score"``: the highest score first.

    With ``"longest"`` / ``"score"``, a span is kept unless it overlaps a span kept before it
    (``nested = True``: unless it crosses one; a span inside or around a kept one is allowed).
    ``"best_set"`` with ``nested``: the best flat set, then every candidate nested inside or around
    a kept span that crosses none.

    ``limit`` > 0: at most that many mentions, the highest scores kept (a guard against a model
    that finds a mention everywhere; its cost grows with the square of the mentions).
    """
    if prefer not in OVERLAP_RULES:
        raise ValueError(f"prefer must be one of {', '.join(OVERLAP_RULES)}, got {prefer!r}")
    above = [i for i, s in enumerate(scores) if s >= threshold]
    if limit > 0 and len(above) > limit:
        above = sorted(above, key=lambda i: (-scores[i], spans[i]))[:limit]
    if prefer == "best_set":
        chosen = [above[k] for k in best_span_set([spans[i] for i in above],
                                                  [span_log_odds(scores[i], threshold) for i in above])]
        if nested:
            rest = [i for i in above if i not in set(chosen)]
            chosen = _add_nested(spans, chosen, sorted(rest, key=lambda i: (-scores[i], spans[i])))
        return sorted(chosen, key=lambda i: spans[i])
    if prefer == "longest":
        order = sorted(above, key=lambda i: (spans[i][0] - spans[i][1], -scores[i], spans[i]))
    else:
        order = sorted(above, key=lambda i: (-scores[i], spans[i]))
    if nested:
        return sorted(_add_nested(spans, [], order), key=lambda i: spans[i])
    kept: list[int] = []
    taken: set[int] = set()  # words of kept spans
    for i in order:
        s, e = spans[i]
        if not taken.intersection(range(s, e)):
            kept.append(i)
            taken.update(range(s, e))
    return sorted(kept, key=lambda i: spans[i])


def _add_nested(spans: Sequence[WordSpan], kept: list[int], order: Sequence[int]) -> list[int]:
    """``kept`` plus each span of ``order`` (in turn) that crosses no span kept so far."""
    kept = list(kept)
    for i in order:
        s, e = spans[i]
        if not any(s < b and a < e and not ((a <= s and e <= b) or (s <= a and b <= e))
                   for a, b in (spans[j] for j in kept)):
            kept.append(i)
    return kept
