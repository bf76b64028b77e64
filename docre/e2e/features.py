"""What the mention detector and the coreference scorer see of a document (its span view), and the
gold mentions, types and clusters they learn from.

The span view is the document tokenised *without* entity markers (a model that has to find the
mentions cannot be shown where they are): ``featurize_documents(..., markers=False)``, so the
subwords are exactly those of the relation features when ``data.entity_markers`` is false, and
the model then encodes the text once for both.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from docre.config import Config
from docre.data.documents import Document
from docre.data.features import DocFeatures, featurize_documents
from docre.data.relations import RelationInventory

UNKNOWN_TYPE = -1  # a gold mention whose type is not in the model's inventory (not a training target)


@dataclass
class GoldMentions:
    """Gold mentions of a document: global word spans ``[start, end)``, type classes (1.. in
    ``e2e.entity_types`` order; :data:`UNKNOWN_TYPE` when the type is not in it) and entity indices.
    A span listed under two entities is kept once, with its first entity."""

    spans: list[tuple[int, int]]
    types: list[int]
    entity: list[int]


@dataclass
class SpanView:
    """A document as the mention detector sees it.

    input_ids: ``[L]`` subword ids without markers (None: the relation features' own ``input_ids``,
        which then carry no markers either).
    word_start, word_end: per word (document order), its subwords ``[word_start, word_end)`` in
        ``input_ids``; -1 for words past ``data.max_seq_length``.
    sent_bounds: per sentence, its words ``[first, end)`` as global word indices.
    words: the words in document order (string features of coreference).
    gold: the gold mentions (training and evaluation data), or None.
    """

    input_ids: Optional[list[int]]
    word_start: list[int]
    word_end: list[int]
    sent_bounds: list[tuple[int, int]]
    words: list[str]
    gold: Optional[GoldMentions] = None


@dataclass
class JointDocFeatures(DocFeatures):
    """Relation features plus the span view (``model.task = end_to_end``)."""

    span_view: Optional[SpanView] = None


def sentence_bounds(sents: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """Per sentence, its ``[first, end)`` global word indices."""
    out, total = [], 0
    for s in sents:
        out.append((total, total + len(s)))
        total += len(s)
    return out


def word_ranges(word_pos: Sequence[int], seq_len: int) -> tuple[list[int], list[int]]:
    """Subword ranges of words from their first subwords (markerless features).

    A word ends where the next word starts, the last one before the end token (position
    ``seq_len - 1``); a word the tokenizer dropped gets its next subword. -1 stays -1.
    """
    n = len(word_pos)
    ends = [-1] * n
    for w, p in enumerate(word_pos):
        if p < 0:
            continue
        nxt = word_pos[w + 1] if w + 1 < n and word_pos[w + 1] >= 0 else seq_len - 1
        ends[w] = max(nxt, p + 1)
    return list(word_pos), ends


def gold_mentions(doc: Document, entity_types: Sequence[str]) -> GoldMentions:
    """The gold mentions of ``doc`` as global word spans with type classes and entity indices."""
    bounds = sentence_bounds(doc.sents)
    type_class = {t: i + 1 for i, t in enumerate(entity_types)}
    seen: set[tuple[int, int]] = set()
    gold = GoldMentions([], [], [])
    for e, ent in enumerate(doc.entities):
        for m in ent.mentions:
            first = bounds[m.sent_id][0]
            span = (first + m.start, first + m.end)
            if span in seen:
                continue
            seen.add(span)
            gold.spans.append(span)
            gold.types.append(type_class.get(m.type, UNKNOWN_TYPE))
            gold.entity.append(e)
    return gold


def span_view(doc: Document, plain: DocFeatures, entity_types: Optional[Sequence[str]], own_ids: bool) -> SpanView:
    """The span view of ``doc`` from its markerless features ``plain``.

    ``entity_types``: with it, the gold mentions are attached (None: no gold, e.g. raw text).
    ``own_ids``: keep ``plain.input_ids`` (the relation features carry markers); else None.
    """
    start, end = word_ranges(plain.word_pos, len(plain.input_ids))
    return SpanView(input_ids=list(plain.input_ids) if own_ids else None, word_start=start, word_end=end,
                    sent_bounds=sentence_bounds(doc.sents), words=[w for s in doc.sents for w in s],
                    gold=gold_mentions(doc, entity_types) if entity_types is not None else None)


def attach_span_features(docs: Sequence[Document], feats: Sequence[DocFeatures], tokenizer: Any,
                         relations: RelationInventory, config: Config) -> list[JointDocFeatures]:
    """The relation features of ``docs`` with their span views and gold mentions attached.

    With entity markers (``data.entity_markers``) the documents are tokenised a second time without
    them (fast; not cached); without markers the relation features are the span view's subwords.
    """
    markers = config.data.entity_markers
    plain = featurize_documents(docs, tokenizer, relations, config.data.max_seq_length, markers=False) \
        if markers else feats
    names = [f.name for f in dataclasses.fields(DocFeatures)]
    out = []
    for doc, f, p in zip(docs, feats, plain):
        view = span_view(doc, p, config.e2e.entity_types, own_ids=markers)
        out.append(JointDocFeatures(**{n: getattr(f, n) for n in names}, span_view=view))
    return out
