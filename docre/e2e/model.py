"""The joint model: the shared encoder, mention detection and typing, coreference, the relation head.

A :class:`JointModel` is a :class:`docre.models.model.DocREModel` (``DocREModel.build`` returns
one for ``model.task = end_to_end``) with two more modules, ``spans`` and ``coref``; it saves and
loads as any model directory. Called on a batch of relation features it is the relation model
(``predict``, ``docre predict``, ``docre inspect`` on documents with entities work unchanged);
during training it adds the mention and coreference losses of the batch's span views:

    L = loss_relation * L_rel(gold entities) + loss_mention * L_mention + loss_coref * L_coref

How the relation stage sees predicted entities (``data.entity_markers``):

- true (default): a second encoder pass over the text with ``*`` markers around the predicted
  mentions, exactly what the relation head was trained on with gold mentions (two passes per
  document at inference and in training);
- false: no markers anywhere; one pass feeds the mention detector, coreference and the relation
  head (a mention is its first subword).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from docre.config import Config
from docre.data.relations import RelationInventory
from docre.errors import ConfigError
from docre.e2e.coref import CorefScorer, all_pairs, cluster_mentions, pair_string_features
from docre.e2e.features import SpanView
from docre.e2e.pointer import GlobalPointer
from docre.e2e.spans import SpanClassifier, enumerate_spans, sample_training_spans, select_mentions
from docre.models.batch import Batch, HeadOutput
from docre.models.encoder import DocumentEncoder, EncodedDocument
from docre.models.model import DocREModel


@dataclass
class PredictedEntities:
    """What the mention and coreference stages found in one document.

    mentions: global word spans ``[start, end)`` in document order; mention_scores: their
    ``1 - p(not a mention)``; type_probs: ``[M, T]`` type probabilities (renormalised without class 0);
    clusters: per entity, indices into ``mentions`` (entities ordered by first mention);
    entity_types: per entity, its type (the argmax of its mentions' summed type probabilities).
    """

    mentions: list[tuple[int, int]]
    mention_scores: list[float]
    type_probs: torch.Tensor
    clusters: list[list[int]]
    entity_types: list[str]


class JointModel(DocREModel):
    """Encoder + relation head (as :class:`DocREModel`) + span classifier + coreference scorer.

    With ``e2e.span_scorer = global_pointer`` a :class:`GlobalPointer` (``pointer``) scores the
    candidate spans and the span classifier only represents mentions for coreference.

    Args: as :class:`DocREModel`; ``config.e2e.entity_types`` must be filled (training fills it from
    the training data, a saved model carries it in its config).
    """

    def __init__(self, encoder: DocumentEncoder, head: nn.Module, config: Config, relations: RelationInventory):
        super().__init__(encoder, head, config, relations)
        types = config.e2e.entity_types
        if not types:
            raise ConfigError("model.task = end_to_end needs e2e.entity_types (filled from the training data's "
                              "mention types when training)")
        self.entity_types = list(types)
        use_pointer = config.e2e.span_scorer == "global_pointer"
        self.spans = SpanClassifier(encoder.hidden_size, len(types), config.e2e, classify=not use_pointer)
        self.pointer = GlobalPointer(encoder.hidden_size, len(types), config.e2e) if use_pointer else None
        self.coref = CorefScorer(self.spans.span_size, config.e2e)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """As :class:`DocREModel`'s, plus ``e2e``: the span scorer and the coreference scorer
        (learning rate ``e2e.lr``)."""
        groups = super().parameter_groups()
        groups["e2e"] = list(self.spans.parameters()) + list(self.coref.parameters()) + \
            (list(self.pointer.parameters()) if self.pointer is not None else [])
        return groups

    # ------------------------------------------------------------------ training
    def _forward(self, batch: Batch, phase: str, return_details: bool) -> HeadOutput:
        """The relation model's output; in training, with the mention and coreference losses added."""
        needs_grad = getattr(self.head, "encoder_needs_grad", lambda p: True)(phase)
        with torch.set_grad_enabled(torch.is_grad_enabled() and needs_grad):
            encoded = self.encoder(batch.input_ids, batch.mention_pos)
        out = self.head(encoded, batch, phase=phase, return_details=return_details)
        views = [getattr(f, "span_view", None) for f in batch.features]
        if not (self.training and needs_grad and out.loss is not None
                and all(v is not None and v.gold is not None for v in views)):
            return out
        hidden = self.span_hidden(encoded, views)
        l_mention, l_coref, stats = self.extraction_losses(hidden, views)
        cfg = self.config.e2e
        out.loss = cfg.loss_relation * out.loss + cfg.loss_mention * l_mention + cfg.loss_coref * l_coref
        out.stats.update(stats)
        return out

    def span_hidden(self, encoded: Sequence[EncodedDocument], views: Sequence[SpanView]) -> list[torch.Tensor]:
        """Hidden states ``[L, d]`` of the span views: the relation pass's own when it has no markers,
        else a pass over the markerless subwords."""
        if all(v.input_ids is None for v in views):
            return [e.hidden for e in encoded]
        ids = [torch.tensor(v.input_ids, dtype=torch.long) for v in views]
        none = [torch.zeros(0, dtype=torch.long) for _ in views]
        return [e.hidden for e in self.encoder(ids, none)]

    def extraction_losses(self, hidden: Sequence[torch.Tensor], views: Sequence[SpanView]
                          ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """Mention loss (cross-entropy over every gold mention and ``neg_spans`` sampled negatives per
        document, SpERT; with ``e2e.span_scorer global_pointer`` the multi-label categorical
        cross-entropy over every candidate and type, averaged over documents) and coreference loss (binary cross-entropy over all gold mention pairs), each
        averaged over its spans / pairs in the batch (a loss whose weight is 0 is not computed)."""
        cfg = self.config.e2e
        span_logits, span_labels, pair_logits, pair_labels = [], [], [], []
        pointer_losses: list[torch.Tensor] = []
        for h, v in zip(hidden, views):
            device = h.device
            start = torch.tensor(v.word_start, dtype=torch.long, device=device)
            end = torch.tensor(v.word_end, dtype=torch.long, device=device)
            gold = v.gold
            kept = [k for k, (s, e) in enumerate(gold.spans) if v.word_start[e - 1] >= 0]  # within the encoded text
            targets = {gold.spans[k]: gold.types[k] for k in kept
                       if gold.types[k] > 0 and gold.spans[k][1] - gold.spans[k][0] <= cfg.max_span_width}
            unknown = {gold.spans[k] for k in kept if gold.types[k] <= 0}
            candidates = [s for s in enumerate_spans(v.sent_bounds, v.word_start, cfg.max_span_width)
                          if s not in unknown]
            if self.pointer is not None:
                if candidates and cfg.loss_mention > 0:
                    scores = self.pointer(h, candidates, start, end)  # [C, T]
                    onehot = torch.zeros_like(scores, dtype=torch.bool)
                    for c, span in enumerate(candidates):
                        if span in targets:
                            onehot[c, targets[span] - 1] = True
                    pointer_losses.append(self.pointer.loss(scores, onehot))
                spans = []
            else:
                spans, labels = sample_training_spans(candidates, targets, cfg.neg_spans, cfg.overlap_negatives)
            if spans and cfg.loss_mention > 0:
                span_logits.append(self.spans(self.spans.represent(h, spans, start, end)))
                span_labels.append(torch.tensor(labels, dtype=torch.long, device=device))
            if len(kept) >= 2 and cfg.loss_coref > 0:
                rep = self.spans.represent(h, [gold.spans[k] for k in kept], start, end)  # [M, span_size]
                pairs = all_pairs(len(kept))
                words = [v.words[gold.spans[k][0]: gold.spans[k][1]] for k in kept]
                feats = pair_string_features(words, pairs).to(device)
                pt = torch.tensor(pairs, dtype=torch.long, device=device)
                pair_logits.append(self.coref(rep, pt, feats))
                same = [gold.entity[kept[i]] == gold.entity[kept[j]] for i, j in pairs]
                pair_labels.append(torch.tensor(same, dtype=torch.float32, device=device))
        zero = hidden[0].new_zeros(()) if hidden else torch.zeros(())
        if pointer_losses:
            l_mention = torch.stack(pointer_losses).mean()
        else:
            l_mention = F.cross_entropy(torch.cat(span_logits).float(), torch.cat(span_labels)) if span_logits else zero
        l_coref = F.binary_cross_entropy_with_logits(torch.cat(pair_logits).float(), torch.cat(pair_labels)) \
            if pair_logits else zero
        return l_mention, l_coref, {"loss_mention": float(l_mention.detach()), "loss_coref": float(l_coref.detach())}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def span_probs(self, hidden: torch.Tensor, view: SpanView, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
        """``[S, T+1]`` class probabilities of word spans (class 0: not a mention), on the CPU."""
        if not spans:
            return torch.zeros(0, len(self.entity_types) + 1)
        device = hidden.device
        start = torch.tensor(view.word_start, dtype=torch.long, device=device)
        end = torch.tensor(view.word_end, dtype=torch.long, device=device)
        if self.pointer is not None:
            return GlobalPointer.class_probs(self.pointer(hidden, spans, start, end)).cpu()
        return torch.softmax(self.spans.score_candidates(hidden, spans, start, end).float(), -1).cpu()

    @staticmethod
    def type_distribution(probs: torch.Tensor) -> torch.Tensor:
        """Span class probabilities ``[M, T+1]`` -> type probabilities ``[M, T]`` (renormalised without
        class 0)."""
        types = probs[:, 1:]
        return types / types.sum(-1, keepdim=True).clamp(min=1e-12)

    @torch.no_grad()
    def detect_mentions(self, hidden: torch.Tensor, view: SpanView
                        ) -> tuple[list[tuple[int, int]], list[float], torch.Tensor]:
        """Stage 1, mention detection and typing: every candidate span scored, those above
        ``e2e.mention_threshold`` kept and their overlaps resolved (``e2e.overlaps``). Returns the
        mentions (document order), their scores ``1 - p(not a mention)`` and type probabilities ``[M, T]``."""
        cfg = self.config.e2e
        candidates = enumerate_spans(view.sent_bounds, view.word_start, cfg.max_span_width)
        probs = self.span_probs(hidden, view, candidates)
        scores = (1.0 - probs[:, 0]).tolist()
        limit = math.ceil(cfg.max_mentions_per_word * len(view.words)) if cfg.max_mentions_per_word > 0 else 0
        keep = select_mentions(candidates, scores, cfg.mention_threshold, cfg.nested_mentions, cfg.overlaps, limit)
        return [candidates[i] for i in keep], [scores[i] for i in keep], self.type_distribution(probs[keep])

    @torch.no_grad()
    def resolve_coreference(self, hidden: torch.Tensor, view: SpanView, mentions: Sequence[tuple[int, int]]
                            ) -> list[list[int]]:
        """Stage 2, coreference: mention-pair probabilities clustered into entities (indices into
        ``mentions``, entities ordered by their first mention)."""
        cfg = self.config.e2e
        if not mentions:
            return []
        pairs = all_pairs(len(mentions))
        pair_probs: list[float] = []
        if pairs:
            device = hidden.device
            start = torch.tensor(view.word_start, dtype=torch.long, device=device)
            end = torch.tensor(view.word_end, dtype=torch.long, device=device)
            rep = self.spans.represent(hidden, list(mentions), start, end)
            feats = pair_string_features([view.words[s:e] for s, e in mentions], pairs).to(device)
            logits = self.coref(rep, torch.tensor(pairs, dtype=torch.long, device=device), feats)
            pair_probs = torch.sigmoid(logits.float()).cpu().tolist()
        return cluster_mentions(len(mentions), pairs, pair_probs, cfg.coref_threshold, cfg.linkage)

    def type_entities(self, type_probs: torch.Tensor, clusters: Sequence[Sequence[int]]) -> list[str]:
        """Stage 3, entity typing: each entity's type is the argmax of its mentions' summed type
        probabilities."""
        return [self.entity_types[int(type_probs[list(c)].sum(0).argmax())] for c in clusters]

    @torch.no_grad()
    def predict_entities(self, hidden: torch.Tensor, view: SpanView,
                         mentions: Optional[Sequence[tuple[int, int]]] = None,
                         clusters: Optional[Sequence[Sequence[int]]] = None) -> PredictedEntities:
        """Mentions, their types and their entities in one document from its span view's hidden states:
        :meth:`detect_mentions`, :meth:`resolve_coreference`, :meth:`type_entities`.

        ``mentions`` (word spans) given: they replace stage 1 (their scores and types are still the
        model's); ``clusters`` given too: they replace stage 2 (the oracle rows of the stage table,
        :func:`docre.e2e.evaluate.oracle_stage_scores`).
        """
        if mentions is None:
            found, scores, type_probs = self.detect_mentions(hidden, view)
        else:
            found = list(mentions)
            probs = self.span_probs(hidden, view, found)
            scores, type_probs = (1.0 - probs[:, 0]).tolist(), self.type_distribution(probs)
        groups = [list(c) for c in clusters] if clusters is not None else self.resolve_coreference(hidden, view, found)
        return PredictedEntities(mentions=found, mention_scores=scores, type_probs=type_probs, clusters=groups,
                                 entity_types=self.type_entities(type_probs, groups))

    @torch.no_grad()
    def encode_span_views(self, views: Sequence[SpanView], input_ids: Sequence[list[int]]
                          ) -> list[EncodedDocument]:
        """Encode markerless documents for mention detection. Without entity markers the same pass
        also serves the relation head, so it returns the attention rows of every word's first subword
        (``query_att [num kept words, heads, L]``); with markers none are needed."""
        ids = [torch.tensor(x, dtype=torch.long) for x in input_ids]
        if self.config.data.entity_markers:
            queries = [torch.zeros(0, dtype=torch.long) for _ in views]
        else:
            queries = [torch.tensor([p for p in v.word_start if p >= 0], dtype=torch.long) for v in views]
        return self.encoder(ids, queries)

    @torch.no_grad()
    def relation_logits_from_span_pass(self, encoded: Sequence[EncodedDocument], views: Sequence[SpanView],
                                       batch: Batch) -> list[torch.Tensor]:
        """Relation logits from the markerless span pass (``data.entity_markers`` false): each mention's
        attention row is that of its first subword, already computed by :meth:`encode_span_views`."""
        docs = []
        for enc, v, pos in zip(encoded, views, batch.mention_pos):
            row_of = {p: r for r, p in enumerate(p for p in v.word_start if p >= 0)}
            rows = torch.tensor([row_of[int(p)] for p in pos], dtype=torch.long, device=enc.query_att.device)
            docs.append(EncodedDocument(hidden=enc.hidden, query_att=enc.query_att[rows]))
        return self.head(docs, batch, phase="eval").logits


__all__ = ["JointModel", "PredictedEntities"]
