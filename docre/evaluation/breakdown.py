"""Relation F1 broken down by what makes an entity pair hard: how many mention pairs it has,
whether its mentions share a sentence, its relation, and the length of its document.

Each gold triple and each predicted triple falls in one group of a breakdown (decided by its
entity pair in the gold document, or by its relation); precision, recall and F1 are computed
inside each group as the official script computes them overall. A prediction on an unknown
title or entity index falls in no group (overall it still counts as a wrong prediction).

KMGRE is about entity pairs whose entities have several mentions: ``mention_pairs`` groups
pairs by |M(h)| x |M(t)|, the size of the bag of mention pairs the key-instance classifier
chooses from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from docre.data.documents import Document
from docre.errors import ConfigError

#: Breakdowns ``docre evaluate --by`` knows.
BREAKDOWNS = ("mention_pairs", "sentence", "relation", "length")
#: |M(h)| x |M(t)| groups (inclusive bounds).
MENTION_PAIR_GROUPS: tuple[tuple[int, float, str], ...] = ((1, 1, "1"), (2, 3, "2-3"), (4, 8, "4-8"),
                                                           (9, float("inf"), "9+"))
#: Document length groups in words (inclusive bounds).
LENGTH_GROUPS: tuple[tuple[int, float, str], ...] = ((0, 149, "<150 words"), (150, 249, "150-249"),
                                                     (250, 399, "250-399"), (400, 799, "400-799"),
                                                     (800, float("inf"), "800+"))
#: Relations shown by name in the ``relation`` breakdown (the most frequent in gold); the rest are "other".
DEFAULT_TOP_RELATIONS = 10
OTHER = "other"


def _group(value: int, groups: Sequence[tuple[int, float, str]]) -> str:
    return next(name for lo, hi, name in groups if lo <= value <= hi)


@dataclass
class _PairFacts:
    """Per document: entity mention counts, sentence sets and the document's length."""

    mentions: list[int]
    sents: list[set[int]]
    words: int

    @classmethod
    def of(cls, doc: Document) -> "_PairFacts":
        return cls([len(e.mentions) for e in doc.entities], [e.sent_ids for e in doc.entities], doc.num_words)

    def has_pair(self, h: Any, t: Any) -> bool:
        n = len(self.mentions)
        return isinstance(h, int) and isinstance(t, int) and 0 <= h < n and 0 <= t < n


def mention_pair_group(facts: _PairFacts, h: int, t: int) -> str:
    """``1``, ``2-3``, ``4-8`` or ``9+`` mention pairs (|M(h)| x |M(t)|)."""
    return _group(facts.mentions[h] * facts.mentions[t], MENTION_PAIR_GROUPS)


def sentence_group(facts: _PairFacts, h: int, t: int) -> str:
    """``intra`` when some head mention and some tail mention share a sentence, else ``inter``."""
    return "intra" if not facts.sents[h].isdisjoint(facts.sents[t]) else "inter"


def length_group(facts: _PairFacts, h: int, t: int) -> str:
    """The document's length group in words."""
    return _group(facts.words, LENGTH_GROUPS)


#: ``all`` puts every triple in one group (the overall score, per document for resampling).
ALL = "all"
_PAIR_GROUPERS: dict[str, Callable[[_PairFacts, int, int], str]] = {
    "mention_pairs": mention_pair_group, "sentence": sentence_group, "length": length_group,
    ALL: lambda facts, h, t: ALL}


def parse_breakdowns(spec: str | Sequence[str]) -> list[str]:
    """``"mention_pairs,relation"`` (or ``all``) -> validated breakdown names."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names == ["all"]:
        return list(BREAKDOWNS)
    unknown = [n for n in names if n not in BREAKDOWNS]
    if unknown or not names:
        raise ConfigError(f"unknown breakdown {', '.join(unknown) or '(none)'}: choose from {', '.join(BREAKDOWNS)} "
                          "or 'all'")
    return names


@dataclass
class GroupCounts:
    """Counts of one group; ``+`` adds them (bootstrap resampling sums documents' counts)."""

    predicted: int = 0
    gold: int = 0
    correct: int = 0

    def scores(self) -> dict[str, float]:
        p = self.correct / self.predicted if self.predicted else 0.0
        r = self.correct / self.gold if self.gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": 100 * p, "recall": 100 * r, "f1": 100 * f}


def document_group_counts(predictions: Iterable[Mapping[str, Any]], gold: Sequence[Document], breakdown: str,
                          relation_groups: Optional[Mapping[str, str]] = None
                          ) -> dict[str, dict[str, GroupCounts]]:
    """Per gold document title, per group of ``breakdown``: predicted / gold / correct counts.

    Predictions are de-duplicated on (title, h_idx, t_idx, r) as the official script does.
    ``relation_groups`` maps a relation id to its group in the ``relation`` breakdown (default:
    the relation itself).
    """
    facts = {d.title: _PairFacts.of(d) for d in gold}
    gold_keys = {(d.title, f.h, f.t, f.r) for d in gold for f in (d.labels or ())}
    out: dict[str, dict[str, GroupCounts]] = {d.title: {} for d in gold}

    def group_of(title: str, h: int, t: int, r: str) -> str:
        if breakdown == "relation":
            return relation_groups.get(r, OTHER) if relation_groups is not None else r
        return _PAIR_GROUPERS[breakdown](facts[title], h, t)

    for title, h, t, r in gold_keys:
        out[title].setdefault(group_of(title, h, t, r), GroupCounts()).gold += 1
    seen: set[tuple] = set()
    for p in predictions:
        key = (p["title"], p["h_idx"], p["t_idx"], p["r"])
        if key in seen or key[0] not in facts or not facts[key[0]].has_pair(key[1], key[2]):
            continue
        seen.add(key)
        counts = out[key[0]].setdefault(group_of(*key), GroupCounts())
        counts.predicted += 1
        counts.correct += key in gold_keys
    return out


def relation_groups_by_frequency(gold: Sequence[Document], top: int = DEFAULT_TOP_RELATIONS) -> dict[str, str]:
    """The ``top`` most frequent gold relations keep their id; every other relation is ``other``."""
    freq: dict[str, int] = {}
    for d in gold:
        for f in {(f.h, f.t, f.r) for f in d.labels or ()}:
            freq[f[2]] = freq.get(f[2], 0) + 1
    kept = sorted(freq, key=lambda r: (-freq[r], r))[:top]
    everything = set(freq)
    return {r: (r if r in kept else OTHER) for r in everything}


def group_order(breakdown: str, groups: Iterable[str], gold_counts: Mapping[str, int]) -> list[str]:
    """Groups in reading order: by size for pair breakdowns, by gold frequency for relations."""
    groups = set(groups)
    fixed = {"mention_pairs": [g[2] for g in MENTION_PAIR_GROUPS], "sentence": ["intra", "inter"],
             "length": [g[2] for g in LENGTH_GROUPS], ALL: [ALL]}.get(breakdown)
    if fixed is not None:
        return [g for g in fixed if g in groups]
    named = sorted((g for g in groups if g != OTHER), key=lambda g: (-gold_counts.get(g, 0), g))
    return named + ([OTHER] if OTHER in groups else [])


def breakdown_scores(predictions: Sequence[Mapping[str, Any]], gold: Sequence[Document],
                     by: Sequence[str] = BREAKDOWNS, top_relations: int = DEFAULT_TOP_RELATIONS
                     ) -> dict[str, list[dict[str, Any]]]:
    """F1 per group of each breakdown in ``by``.

    Returns ``{breakdown: [{"group", "num_gold", "num_predicted", "num_correct", "precision",
    "recall", "f1"}, ...]}`` with percentages, groups in reading order.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    rel_groups = relation_groups_by_frequency(gold, top_relations)
    for name in by:
        per_doc = document_group_counts(predictions, gold, name, rel_groups if name == "relation" else None)
        totals: dict[str, GroupCounts] = {}
        for groups in per_doc.values():
            for g, c in groups.items():
                t = totals.setdefault(g, GroupCounts())
                t.predicted, t.gold, t.correct = t.predicted + c.predicted, t.gold + c.gold, t.correct + c.correct
        rows = []
        for g in group_order(name, totals, {k: v.gold for k, v in totals.items()}):
            c = totals[g]
            rows.append({"group": g, "num_gold": c.gold, "num_predicted": c.predicted, "num_correct": c.correct,
                         **c.scores()})
        out[name] = rows
    return out


def format_breakdowns(tables: Mapping[str, Sequence[Mapping[str, Any]]],
                      relation_name: Optional[Callable[[str], str]] = None) -> str:
    """Plain-text tables of :func:`breakdown_scores`."""
    titles = {"mention_pairs": "mention pairs of the entity pair (|M(h)| x |M(t)|)",
              "sentence": "head and tail mentions in one sentence (intra) or never (inter)",
              "relation": "relation (most frequent in gold)", "length": "document length"}
    lines = []
    for name, rows in tables.items():
        lines.append(f"by {titles.get(name, name)}:")
        lines.append(f"  {'group':<28}{'gold':>7}{'pred':>7}{'P':>8}{'R':>8}{'F1':>8}")
        for r in rows:
            label = r["group"]
            if name == "relation" and relation_name is not None and label != OTHER:
                label = f"{label} {relation_name(label)}"
            lines.append(f"  {label[:28]:<28}{r['num_gold']:>7}{r['num_predicted']:>7}{r['precision']:>8.2f}"
                         f"{r['recall']:>8.2f}{r['f1']:>8.2f}")
    return "\n".join(lines)


__all__ = ["ALL", "BREAKDOWNS", "breakdown_scores", "document_group_counts", "format_breakdowns", "parse_breakdowns",
           "relation_groups_by_frequency", "GroupCounts", "group_order"]
