"""Dataset statistics and validation: ``docre data stats`` and ``docre data validate``.

Statistics of a DocRED-format file (or CDR/GDA ``.data``): documents, entities, mentions,
ordered entity pairs and mention pairs (totals, mean and max per document); subword lengths
exactly as docre featurises documents (entity markers, CLS/SEP) and how many mentions a
given ``data.max_seq_length`` would cut off; the relation frequency table, the NA ratio and
the intra-/inter-sentence share of facts.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from docre.data.documents import Document, Fact
from docre.data.reader import collect_relations, read_documents, validate_file
from docre.data.relations import RelationInventory

logger = logging.getLogger(__name__)

#: Lengths (in subwords, incl. the two special tokens) the statistics report against:
#: the usual encoder window and ATLOP's data.max_seq_length.
LENGTH_THRESHOLDS: tuple[int, ...] = (512, 1024)
#: Percentile of the subword lengths reported beside mean and max.
LENGTH_PERCENTILE: float = 95.0
NO_TOKENIZER = "none"


# ------------------------------------------------------------------ counting
def num_mention_pairs(doc: Document) -> int:
    """Mention pairs of all ordered entity pairs: ``sum_{h != t} |M(h)| * |M(t)|``.

    Equal to ``(sum_e |M(e)|)^2 - sum_e |M(e)|^2``.
    """
    sizes = [len(e.mentions) for e in doc.entities]
    total = sum(sizes)
    return total * total - sum(s * s for s in sizes)


def num_entity_pairs(doc: Document) -> int:
    """Ordered entity pairs (h, t), h != t."""
    n = len(doc.entities)
    return n * (n - 1)


def is_intra_sentence(doc: Document, fact: Fact) -> bool:
    """True when some mention of the head and some mention of the tail share a sentence."""
    return bool(doc.entities[fact.h].sent_ids & doc.entities[fact.t].sent_ids)


def num_labelled_pairs(doc: Document) -> int:
    """Ordered entity pairs with at least one gold relation."""
    return len({(f.h, f.t) for f in (doc.labels or [])})


@dataclass
class Aggregate:
    """A count over the file: total, mean and max per document."""

    total: int
    mean: float
    max: int

    @classmethod
    def of(cls, values: Sequence[int]) -> "Aggregate":
        return cls(int(sum(values)), float(sum(values) / len(values)) if values else 0.0, int(max(values, default=0)))


@dataclass
class SubwordStats:
    """Subword lengths of the featurised documents (entity markers and CLS/SEP included).

    ``docs_over[n]``: documents longer than n subwords; ``mentions_past[n]``: mentions that
    ``data.max_seq_length = n`` would drop (their opening marker falls past the cut), i.e.
    the mentions only sliding windows (``max_seq_length = 0``) can represent.
    """

    tokenizer: str
    mean: float
    p95: float
    max: int
    docs_over: dict[int, int]
    mentions_past: dict[int, int]
    docs_with_mentions_past: dict[int, int]


@dataclass
class RelationCount:
    id: str
    count: int
    share: float
    name: Optional[str] = None


@dataclass
class LabelStats:
    """Relation statistics over the labelled documents."""

    labelled_documents: int
    facts: int
    relation_ids: int
    relations: list[RelationCount]
    na_ratio: float  # share of ordered entity pairs (of labelled documents) with no gold relation
    intra_sentence: int
    inter_sentence: int

    @property
    def intra_share(self) -> float:
        return self.intra_sentence / self.facts if self.facts else 0.0

    @property
    def inter_share(self) -> float:
        return self.inter_sentence / self.facts if self.facts else 0.0


@dataclass
class DatasetStats:
    """Everything ``docre data stats`` reports about one file."""

    file: str
    documents: int
    sentences: Aggregate
    words: Aggregate
    entities: Aggregate
    mentions: Aggregate
    entity_pairs: Aggregate
    mention_pairs: Aggregate
    subwords: Optional[SubwordStats] = None
    labels: Optional[LabelStats] = None  # None: no document carries labels

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.labels is not None:
            out["labels"]["intra_share"] = self.labels.intra_share
            out["labels"]["inter_share"] = self.labels.inter_share
        else:
            out["labels"] = "no labels"
        return out


def label_stats(docs: Sequence[Document], relations: Optional[RelationInventory] = None) -> Optional[LabelStats]:
    """Relation table, NA ratio and intra/inter-sentence split of the labelled documents."""
    labelled = [d for d in docs if d.labels is not None]
    if not labelled:
        return None
    counts: dict[str, int] = {}
    intra = inter = 0
    pairs = positive = 0
    for d in labelled:
        for f in d.labels or []:
            counts[f.r] = counts.get(f.r, 0) + 1
            if is_intra_sentence(d, f):
                intra += 1
            else:
                inter += 1
        pairs += num_entity_pairs(d)
        positive += num_labelled_pairs(d)
    facts = intra + inter
    if relations is None:  # DocRED's ids are named by their Wikidata labels even without a relations file
        relations = RelationInventory.from_relations(counts)
    table = [
        RelationCount(r, c, c / facts, relations.names.get(r))
        for r, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return LabelStats(
        labelled_documents=len(labelled), facts=facts, relation_ids=len(counts), relations=table,
        na_ratio=(pairs - positive) / pairs if pairs else 0.0, intra_sentence=intra, inter_sentence=inter,
    )


def subword_stats(docs: Sequence[Document], tokenizer: Any, tokenizer_name: str,
                  thresholds: Sequence[int] = LENGTH_THRESHOLDS) -> SubwordStats:
    """Lengths of the documents as docre featurises them, untruncated (max_seq_length=0)."""
    import numpy as np

    from docre.data.features import featurize_documents

    relations = RelationInventory.from_relations(collect_relations(docs))
    feats = featurize_documents(docs, tokenizer, relations, max_seq_length=0)
    lengths = [len(f.input_ids) for f in feats]
    # featurize_documents with max_seq_length = n keeps a mention iff its marker lies within
    # the first n - 2 content tokens, i.e. at input position <= n - 2 (position 0 is CLS).
    past = {n: [sum(1 for p in f.mention_pos if p > n - 2) for f in feats] for n in thresholds}
    return SubwordStats(
        tokenizer=tokenizer_name,
        mean=float(np.mean(lengths)) if lengths else 0.0,
        p95=float(np.percentile(lengths, LENGTH_PERCENTILE)) if lengths else 0.0,
        max=max(lengths, default=0),
        docs_over={n: sum(1 for x in lengths if x > n) for n in thresholds},
        mentions_past={n: sum(v) for n, v in past.items()},
        docs_with_mentions_past={n: sum(1 for x in v if x) for n, v in past.items()},
    )


def dataset_stats(docs: Sequence[Document], source: str, tokenizer: Any = None, tokenizer_name: str = "",
                  relations: Optional[RelationInventory] = None) -> DatasetStats:
    """Statistics of validated documents; subword lengths only when a tokenizer is given."""
    return DatasetStats(
        file=source,
        documents=len(docs),
        sentences=Aggregate.of([len(d.sents) for d in docs]),
        words=Aggregate.of([d.num_words for d in docs]),
        entities=Aggregate.of([len(d.entities) for d in docs]),
        mentions=Aggregate.of([sum(len(e.mentions) for e in d.entities) for d in docs]),
        entity_pairs=Aggregate.of([num_entity_pairs(d) for d in docs]),
        mention_pairs=Aggregate.of([num_mention_pairs(d) for d in docs]),
        subwords=subword_stats(docs, tokenizer, tokenizer_name) if tokenizer is not None else None,
        labels=label_stats(docs, relations),
    )


def file_stats(path: str | Path, tokenizer: str = NO_TOKENIZER,
               relations_file: Optional[str | Path] = None) -> DatasetStats:
    """Read a file and compute its statistics.

    Args:
        path: DocRED JSON or CDR/GDA ``.data``.
        tokenizer: 'minilm', a tokenizer path/hub name, or 'none' (no subword lengths).
        relations_file: optional relation inventory whose names label the relation table.
    """
    docs = read_documents(path)
    relations = RelationInventory.from_file(relations_file) if relations_file else None
    tok = None
    if tokenizer and tokenizer.lower() != NO_TOKENIZER:
        from docre.models.encoder import resolve_encoder_path
        from docre.models.model import load_tokenizer

        tok = load_tokenizer(resolve_encoder_path(tokenizer))
    return dataset_stats(docs, str(path), tok, tokenizer if tok is not None else "", relations)


# ------------------------------------------------------------------ printing
def _n(x: float) -> str:
    return f"{x:,.1f}" if isinstance(x, float) else f"{x:,}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def format_stats(s: DatasetStats) -> str:
    """A readable report of :class:`DatasetStats`."""
    lines = [f"{s.file}: {s.documents:,} documents", ""]
    rows = [("sentences", s.sentences), ("words", s.words), ("entities", s.entities), ("mentions", s.mentions),
            ("entity pairs (ordered)", s.entity_pairs), ("mention pairs", s.mention_pairs)]
    lines.append(f"  {'':<24}{'total':>14}{'mean/doc':>12}{'max/doc':>12}")
    for name, a in rows:
        lines.append(f"  {name:<24}{_n(a.total):>14}{_n(a.mean):>12}{_n(a.max):>12}")
    lines.append("")
    if s.subwords is None:
        lines.append("subword lengths: skipped (--tokenizer none)")
    else:
        w = s.subwords
        lines.append(f"subword lengths ({w.tokenizer}; entity markers and CLS/SEP included):")
        lines.append(f"  mean {_n(w.mean)}   p{LENGTH_PERCENTILE:g} {_n(w.p95)}   max {_n(w.max)}")
        for n in sorted(w.docs_over):
            share = w.mentions_past[n] / s.mentions.total if s.mentions.total else 0.0
            lines.append(f"  over {n:,}: {w.docs_over[n]:,} documents;  mentions past {n:,} subwords: "
                         f"{w.mentions_past[n]:,} ({_pct(share)}) in {w.docs_with_mentions_past[n]:,} documents")
    lines.append("")
    if s.labels is None:
        lines.append("relations: no labels")
        return "\n".join(lines)
    lab = s.labels
    lines.append(f"relations: {lab.facts:,} facts, {lab.relation_ids} relation ids, in {lab.labelled_documents:,} "
                 f"labelled documents")
    lines.append(f"  NA ratio {_pct(lab.na_ratio)} of ordered entity pairs;  facts intra-sentence "
                 f"{_pct(lab.intra_share)} ({lab.intra_sentence:,}), inter-sentence {_pct(lab.inter_share)} "
                 f"({lab.inter_sentence:,})")
    named = any(r.name for r in lab.relations)
    width = max([len(r.id) for r in lab.relations] + [8])
    lines.append(f"  {'relation':<{width}}{'count':>9}{'share':>8}" + ("  name" if named else ""))
    for r in lab.relations:
        lines.append(f"  {r.id:<{width}}{r.count:>9,}{_pct(r.share):>8}" + (f"  {r.name or ''}" if named else ""))
    return "\n".join(lines)


# ------------------------------------------------------------------ commands
def validate_command(path: str | Path, relations_file: Optional[str | Path] = None) -> tuple[list[str], int]:
    """Every problem of a file, one line each, then a summary line; and the exit code (0 clean, 2 not)."""
    relations = RelationInventory.from_file(relations_file) if relations_file else None
    n_docs, problems = validate_file(path, relations)
    lines = [str(p) for p in problems]
    if problems:
        docs = len({p.doc_index for p in problems if p.doc_index is not None})
        where = f" in {docs} of {n_docs} documents" if docs else ""
        lines.append(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}{where}")
        return lines, 2
    lines.append(f"{path}: {n_docs} documents, no problems")
    return lines, 0


def run_data_command(args: argparse.Namespace) -> int:
    """``docre data stats|validate``; returns the exit code."""
    if args.data_command == "validate":
        lines, code = validate_command(args.file, getattr(args, "relations", None))
        print("\n".join(lines))
        return code
    if args.data_command == "stats":
        stats = file_stats(args.file, getattr(args, "tokenizer", NO_TOKENIZER) or NO_TOKENIZER,
                           getattr(args, "relations", None))
        print(json.dumps(stats.to_json(), indent=2) if getattr(args, "json", False) else format_stats(stats))
        return 0
    raise ValueError(f"unknown data command {args.data_command!r}")


__all__ = [
    "DatasetStats", "SubwordStats", "LabelStats", "RelationCount", "Aggregate", "dataset_stats", "file_stats",
    "format_stats", "label_stats", "subword_stats", "num_mention_pairs", "num_entity_pairs", "is_intra_sentence",
    "validate_command", "run_data_command",
]
