"""Linker features: each entity's candidates, the hand-computable features of every (entity, candidate)
pair and of the entity's NIL option, the subword spans of its mentions and the token ids of the titles.

An entity's candidates are the union of its mentions' candidates: a mention's ``candidates`` from the
input, or, for a mention without them (raw text, ``docre extract`` output), the alias table's
(:meth:`~docre.linking.aliases.AliasTable.candidates`), whose priors then fill the "input prior"
features (``input_candidates_given`` tells the two cases apart). At most ``linker.max_candidates`` are kept
(the highest input prior first, then the highest alias prior).

Candidate features (:data:`CANDIDATE_FEATURES`) and NIL features (:data:`NIL_FEATURES`) are plain
numbers; the bi-encoder scores are added by the model (:mod:`docre.linking.model`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence

from docre.data.documents import Document, Entity
from docre.data.features import DocFeatures, featurize_documents
from docre.data.relations import RelationInventory
from docre.linking.aliases import NIL, AliasTable, surface_form, title_text

#: names of the candidate features, in vector order
CANDIDATE_FEATURES = (
    "input_prior_max", "input_prior_mean", "log_input_prior_max", "alias_prior_max", "log_alias_prior_max",
    "alias_prior_mean", "log_title_count", "title_equals_a_mention", "title_word_overlap", "top_input_prior",
    "type_agrees", "type_disagrees", "input_candidates_given", "mention_share", "title_has_qualifier",
)
#: names of the NIL features, in vector order
NIL_FEATURES = (
    "input_candidates_given", "best_input_prior", "best_alias_prior", "alias_nil_prior", "form_seen",
    "log_mentions", "no_candidates", "log_candidates", "type_nil_rate",
)
#: target of an entity whose gold link is NIL / not among its candidates / not annotated
NIL_TARGET, IGNORE = 0, -100
_EPS = 1e-3
_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")
_WORD = re.compile(r"\w+")


@dataclass
class LinkFeatures(DocFeatures):
    """:class:`DocFeatures` (``input_ids`` without entity markers) plus, per kept mention, its subword span
    ``[span_start, span_end)`` and entity (``span_entity``), and per entity its candidates
    (``cand_titles``), the title strings the encoder reads (``cand_keys``), the candidate and NIL
    features and the training target (``gold``: 0 = NIL, k = candidate k - 1, -100 = none).
    ``title_ids``: token ids of every title string of the document."""

    span_start: list[int] = field(default_factory=list)
    span_end: list[int] = field(default_factory=list)
    span_entity: list[int] = field(default_factory=list)
    cand_titles: list[list[str]] = field(default_factory=list)
    cand_keys: list[list[str]] = field(default_factory=list)
    cand_feats: list[list[list[float]]] = field(default_factory=list)
    nil_feats: list[list[float]] = field(default_factory=list)
    gold: list[int] = field(default_factory=list)
    title_ids: dict[str, list[int]] = field(default_factory=dict)


def gold_link(ent: Entity) -> tuple[bool, Optional[str]]:
    """(whether the entity's link is annotated, its title or None for NIL): the first annotated mention's."""
    for m in ent.mentions:
        if m.has_link:
            return True, m.link
    return False, None


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def title_key(title: str, aliases: AliasTable, use_types: bool) -> str:
    """What the encoder reads for a title: its words, and its type when the training data gives one."""
    text = title_text(title)
    typ = aliases.type_of(title) if use_types else None
    if typ:
        text += f" ({typ.split('::')[-1].replace('_', ' ')})"
    return text


def entity_candidates(ent: Entity, aliases: AliasTable, cfg: Any) -> tuple[list[str], list[list[float]], list[float]]:
    """An entity's candidates, their feature vectors (:data:`CANDIDATE_FEATURES`) and its NIL features
    (:data:`NIL_FEATURES`)."""
    n = len(ent.mentions)
    given = any(m.candidates is not None for m in ent.mentions)
    input_priors: dict[str, list[float]] = {}
    listed: dict[str, int] = {}
    for m in ent.mentions:
        # a mention without candidates: the alias table's, whose prior then stands in for the input's
        cands = m.candidates if m.candidates is not None else tuple(aliases.candidates(m.name, cfg.alias_candidates))
        for t, p in cands:
            input_priors.setdefault(t, []).append(p)
            listed[t] = listed.get(t, 0) + 1
    alias_priors = [aliases.priors(m.name) for m in ent.mentions]
    alias_max = {t: max(a.get(t, 0.0) for a in alias_priors) for t in listed}
    ranked = sorted(listed, key=lambda t: (-max(input_priors.get(t, [0.0])), -alias_max[t], t))[: cfg.max_candidates]
    top = max((max(v) for v in input_priors.values()), default=0.0)
    names = {m.name.lower() for m in ent.mentions}
    longest = _words(ent.name)
    feats = []
    for t in ranked:
        ip = input_priors.get(t, [])
        ip_max = max(ip, default=0.0)
        words = _words(_QUALIFIER.sub("", title_text(t)))
        typ = aliases.type_of(t)
        feats.append([
            ip_max, sum(ip) / n, math.log(ip_max + _EPS), alias_max[t], math.log(alias_max[t] + _EPS),
            sum(a.get(t, 0.0) for a in alias_priors) / n, math.log1p(aliases.title_count.get(t, 0)),
            float(_QUALIFIER.sub("", title_text(t)).lower() in names),
            len(words & longest) / max(1, len(words | longest)), float(ip_max > 0 and ip_max == top),
            float(typ is not None and typ == ent.type), float(typ is not None and typ != ent.type), float(given),
            listed[t] / n, float(bool(_QUALIFIER.search(title_text(t)))),
        ])
    nil_prior = max((a.get(NIL, 0.0) for a in alias_priors), default=0.0)
    seen = any(surface_form(m.name) in aliases.forms for m in ent.mentions)
    nil = [float(given), top, max(alias_max.values(), default=0.0), nil_prior, float(seen), math.log1p(n),
           float(not ranked), math.log1p(len(ranked)), aliases.nil_rate(ent.type)]
    return ranked, feats, nil


def without_candidates(doc: Document) -> Document:
    """``doc`` with every mention's input candidates removed (what raw text gives the linker)."""
    from docre.data.documents import Entity as _Entity

    ents = [_Entity(tuple(replace(m, candidates=None) for m in e.mentions)) for e in doc.entities]
    return replace(doc, entities=ents)


def link_features(docs: Sequence[Document], tokenizer: Any, aliases: AliasTable, cfg: Any, max_seq_length: int = 0,
                  leave_out: Optional[set[str]] = None, progress: bool = False) -> list[LinkFeatures]:
    """Linker features of ``docs`` (``cfg``: the ``linker`` config section).

    ``leave_out``: titles of training documents: each is featurised with the alias table minus its own
    counts (:meth:`AliasTable.without`).
    """
    base = featurize_documents(docs, tokenizer, RelationInventory.from_relations([]), max_seq_length,
                               progress=progress, markers=False)
    out = []
    for doc, f in zip(docs, base):
        table = aliases.without(doc) if leave_out and doc.title in leave_out else aliases
        offsets, total = [], 0
        for s in doc.sents:
            offsets.append(total)
            total += len(s)
        starts, ends, owner = [], [], []
        for e, ent in enumerate(doc.entities):
            for m in ent.mentions:
                first = f.word_pos[offsets[m.sent_id] + m.start]
                last_word = offsets[m.sent_id] + m.end
                end = f.word_pos[last_word] if last_word < len(f.word_pos) else len(f.input_ids) - 1
                if first < 0:
                    continue  # cut off by max_seq_length
                starts.append(first)
                ends.append(end if end > first else len(f.input_ids) - 1)
                owner.append(e)
        titles, keys, cfeats, nfeats, gold = [], [], [], [], []
        for ent in doc.entities:
            ranked, feats, nil = entity_candidates(ent, table, cfg)
            titles.append(ranked)
            keys.append([title_key(t, table, cfg.use_types) for t in ranked])  # own counts left out, as the features
            cfeats.append(feats)
            nfeats.append(nil)
            annotated, link = gold_link(ent)
            gold.append(IGNORE if not annotated else NIL_TARGET if link is None
                        else ranked.index(link) + 1 if link in ranked else IGNORE)
        uniq = sorted({k for ks in keys for k in ks})
        ids = tokenizer(uniq, add_special_tokens=True, truncation=True, max_length=cfg.title_length)["input_ids"] \
            if uniq else []
        out.append(LinkFeatures(
            title=f.title, doc_index=f.doc_index, input_ids=f.input_ids, mention_pos=[], entity_mentions=[],
            mention_ref=[], word_pos=f.word_pos, entity_pairs=[], labels=None,
            num_truncated_mentions=f.num_truncated_mentions, num_mentions=f.num_mentions,
            span_start=starts, span_end=ends, span_entity=owner, cand_titles=titles, cand_keys=keys,
            cand_feats=cfeats, nil_feats=nfeats, gold=gold, title_ids=dict(zip(uniq, ids))))
    return out
