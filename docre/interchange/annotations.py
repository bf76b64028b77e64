"""Annotated text, as annotation tools hold it, to and from DocRED documents.

Both brat and Label Studio files describe a text with character-offset spans (mentions with a
type), links that say two spans are one entity (brat ``*`` equivalences, a coreference
relation) and labelled relations between spans. :class:`AnnotatedText` is that content,
independent of the tool; the readers in :mod:`docre.interchange.brat` and
:mod:`docre.interchange.labelstudio` produce it, and :func:`to_docred` turns it into one DocRED
document:

* the text is cut into sentences and words by :func:`docre.data.text.tokenize_text` (spaCy's
  rule-based English tokenizer and sentencizer, no download; a line break ends a sentence), or,
  with ``tokenizer="whitespace"``, into lines and whitespace-separated words;
* a word that a span boundary falls inside is cut there, so every mention covers exactly its
  characters; a mention across a sentence boundary joins the sentences it touches into one (the
  annotation wins over the sentencizer);
* a discontinuous span (brat ``0 5;10 15``) becomes one mention per fragment, all of the same
  entity (``discontinuous="fragments"``), or one mention over its whole extent (``"span"``), or
  is refused (``"error"``);
* mentions are grouped into entities by the links; a document without any link groups mentions
  of the same type whose normalised names (case and whitespace folded) are identical
  (``entities="auto"``; ``"links"`` and ``"names"`` force one rule, ``"names"`` adds the name
  rule to the links);
* entities are ordered by the file position of their first mention, mentions by file position;
* relation labels become relation ids through a :class:`RelationMapper` (a relation inventory
  file read or written); a relation between two mentions of one entity is an error.

:func:`from_docred` goes the other way, for export: the document text (its ``text`` field, or the
words joined by spaces and the sentences by line breaks), one span per mention, one link group
per entity with several mentions, one relation per label or prediction (with its score).
"""
from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from docre.data.relations import NA_RELATION, RelationInventory
from docre.data.text import TokenizedText, Word, tokenize_text
from docre.errors import ConfigError, DataError, DataProblem

logger = logging.getLogger(__name__)

#: Name of the relation (brat: equivalence type) that says two spans are one entity, written on export.
COREFERENCE = "Coreference"
#: Relation labels read as coreference on import (compared case-insensitively), besides brat ``*`` lines.
COREFERENCE_LABELS: tuple[str, ...] = ("Coreference", "Coref")
#: Type written for a mention whose DocRED type is empty (annotation tools need one).
DEFAULT_ENTITY_TYPE = "Entity"
ENTITY_GROUPINGS = ("auto", "links", "names")
TOKENIZERS = ("spacy", "whitespace")
DISCONTINUOUS_POLICIES = ("fragments", "span", "error")


# ------------------------------------------------------------------ the tool-neutral model
@dataclass
class Span:
    """A typed text span (brat ``T`` line, Label Studio region).

    ``fragments`` are character ranges ``[begin, end)`` (several for a discontinuous span);
    ``text`` is the text the tool recorded for it (checked against the document text), if any;
    ``field`` says where it is in its file, for error messages (``line 4``, ``result[2]``).
    """

    id: str
    type: str
    fragments: list[tuple[int, int]]
    text: Optional[str] = None
    field: str = ""
    score: Optional[float] = None
    link: Optional[str] = None  # the entity's knowledge-base title (brat normalisation, Label Studio field)
    has_link: bool = False  # a link was given (link None: NIL)


@dataclass
class Relation:
    """A labelled relation from the span ``head`` to the span ``tail``."""

    id: str
    label: str
    head: str
    tail: str
    field: str = ""
    score: Optional[float] = None


@dataclass
class Link:
    """Spans said to be mentions of one entity (brat ``*`` line, a coreference relation)."""

    spans: list[str]
    field: str = ""


@dataclass
class AnnotatedText:
    """One document as an annotation tool holds it; ``file``/``index`` locate it for errors."""

    title: str
    text: str
    spans: list[Span] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    file: str = "<memory>"
    index: int = 0

    def fail(self, fld: Optional[str], message: str) -> DataError:
        """A :class:`DataError` naming this document's file, index, title and ``fld``."""
        return DataError(DataProblem(self.file, message, self.index, self.title, fld))


@dataclass
class ImportOptions:
    """How :func:`to_docred` reads annotations (see the module docstring)."""

    entities: str = "auto"
    tokenizer: str = "spacy"
    discontinuous: str = "fragments"
    coreference: tuple[str, ...] = COREFERENCE_LABELS

    def __post_init__(self) -> None:
        for name, value, choices in (("entities", self.entities, ENTITY_GROUPINGS),
                                     ("tokenizer", self.tokenizer, TOKENIZERS),
                                     ("discontinuous", self.discontinuous, DISCONTINUOUS_POLICIES)):
            if value not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")

    def is_coreference(self, label: str) -> bool:
        return label.casefold() in {c.casefold() for c in self.coreference}


@dataclass
class ImportReport:
    """Counts over the imported documents (what was merged, split or skipped)."""

    documents: int = 0
    entities: int = 0
    mentions: int = 0
    facts: int = 0
    grouped_by_name: int = 0  # documents whose entities come from identical names (no links)
    discontinuous: int = 0
    merged_sentences: int = 0  # sentence boundaries removed because a mention crossed them
    split_words: int = 0  # words cut at a span boundary
    duplicate_facts: int = 0
    skipped: list[str] = field(default_factory=list)  # documents without annotation (Label Studio tasks)
    ignored: dict[str, int] = field(default_factory=dict)  # annotation kinds docre has no use for

    def add_ignored(self, kind: str, n: int = 1) -> None:
        self.ignored[kind] = self.ignored.get(kind, 0) + n

    def summary(self) -> str:
        parts = [f"{self.documents} documents ({self.entities} entities, {self.mentions} mentions, {self.facts} facts)"]
        if self.grouped_by_name:
            parts.append(f"{self.grouped_by_name} without coreference links grouped by identical names")
        if self.discontinuous:
            parts.append(f"{self.discontinuous} discontinuous spans")
        if self.merged_sentences:
            parts.append(f"{self.merged_sentences} sentence boundaries removed under a mention")
        if self.split_words:
            parts.append(f"{self.split_words} words cut at a span boundary")
        if self.duplicate_facts:
            parts.append(f"{self.duplicate_facts} repeated relations counted once")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped without annotation")
        if self.ignored:
            parts.append("ignored: " + ", ".join(f"{n} {k}" for k, n in sorted(self.ignored.items())))
        return "; ".join(parts)


# ------------------------------------------------------------------ relation labels
def brat_safe(name: str) -> str:
    """A label without whitespace (brat type names cannot hold spaces)."""
    return "_".join(name.split())


class RelationMapper:
    """Maps the relation labels of annotation files to relation ids.

    With an inventory (``rel2id.json``, ``rel_info.json`` or ``relations.json``), a label is
    accepted when it is a relation id or a relation name, also with whitespace written as ``_``;
    anything else is an error. Without one, every label is its own relation id and
    :meth:`inventory` lists those seen.
    """

    def __init__(self, inventory: Optional[RelationInventory] = None, source: str = ""):
        self.fixed, self.source = inventory, source
        self.seen: dict[str, None] = {}
        self._keys: dict[str, str] = {}
        if inventory is not None:
            for rel in inventory.ids[1:]:
                for key in (rel, brat_safe(rel)):
                    self._keys.setdefault(key, rel)
            for rel in inventory.ids[1:]:
                name = inventory.names.get(rel)
                if name:
                    for key in (name, brat_safe(name)):
                        self._keys.setdefault(key, rel)

    def map(self, label: str, doc: AnnotatedText, fld: str) -> str:
        """The relation id of ``label`` (raises naming the document and field when unknown)."""
        if not label or label == NA_RELATION:
            raise doc.fail(fld, f"relation label {label!r} cannot be a relation (empty or the NA class)")
        if self.fixed is None:
            self.seen.setdefault(label, None)
            return label
        rel = self._keys.get(label)
        if rel is None:
            known = ", ".join(self.fixed.ids[1:11]) + (", ..." if len(self.fixed.ids) > 11 else "")
            raise doc.fail(fld, f"relation {label!r} is not in the relation inventory {self.source} ({known})")
        self.seen.setdefault(rel, None)
        return rel

    def inventory(self) -> RelationInventory:
        """The inventory given, or one built from the labels seen (sorted as docre sorts relation ids)."""
        return self.fixed if self.fixed is not None else RelationInventory.from_relations(self.seen)


# ------------------------------------------------------------------ import: annotated text -> DocRED
def whitespace_tokens(text: str) -> TokenizedText:
    """Lines as sentences, whitespace-separated strings as words (the inverse of how export
    builds a text from DocRED words)."""
    sents = []
    offset = 0
    for line in text.split("\n"):
        words = [Word(m.group(), offset + m.start(), offset + m.end()) for m in re.finditer(r"\S+", line)]
        if words:
            sents.append(words)
        offset += len(line) + 1
    return TokenizedText(text=text, sents=sents)


def split_words_at(tok: TokenizedText, cuts: Iterable[int]) -> tuple[TokenizedText, int]:
    """Cut every word that a character offset in ``cuts`` falls strictly inside; returns the new
    text and the number of cuts made."""
    cuts = sorted(set(cuts))
    if not cuts:
        return tok, 0
    made = 0
    sents = []
    for sent in tok.sents:
        out = []
        for w in sent:
            lo, hi = bisect.bisect_right(cuts, w.start), bisect.bisect_left(cuts, w.end)
            inside = cuts[lo:hi]
            if not inside:
                out.append(w)
                continue
            bounds = [w.start] + inside + [w.end]
            for b, e in zip(bounds, bounds[1:]):
                piece = tok.text[b:e]
                if piece.strip():  # a cut next to whitespace inside a word cannot happen; keep words non-blank
                    out.append(Word(piece, b, e))
            made += len(inside)
        sents.append(out)
    return TokenizedText(text=tok.text, sents=sents), made


def merge_sentences_under(tok: TokenizedText, spans: Iterable[tuple[int, int]]) -> tuple[TokenizedText, int]:
    """Join consecutive sentences that a character span overlaps words of; returns the new text
    and the number of sentence boundaries removed."""
    first_char = [s[0].start for s in tok.sents]
    last_char = [s[-1].end for s in tok.sents]
    joined_with_next = [False] * len(tok.sents)
    for b, e in spans:
        s0 = bisect.bisect_right(last_char, b)  # first sentence ending after b
        s1 = bisect.bisect_left(first_char, e) - 1  # last sentence starting before e
        for s in range(s0, s1):
            joined_with_next[s] = True
    if not any(joined_with_next):
        return tok, 0
    sents: list[list[Word]] = []
    current: list[Word] = []
    for s, sent in enumerate(tok.sents):
        current.extend(sent)
        if not joined_with_next[s]:
            sents.append(current)
            current = []
    if current:
        sents.append(current)
    return TokenizedText(text=tok.text, sents=sents), sum(joined_with_next)


def normalised_name(name: str) -> str:
    """Case and whitespace folded, for grouping mentions by name."""
    return " ".join(name.casefold().split())


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)  # the earlier mention names the group


@dataclass
class _Mention:
    span: str  # id of the span it comes from
    begin: int
    end: int
    type: str


def _check_span(doc: AnnotatedText, span: Span) -> None:
    n = len(doc.text)
    if not span.fragments:
        raise doc.fail(span.field, f"span {span.id} has no character offsets")
    for b, e in span.fragments:
        if not (0 <= b < e <= n):
            raise doc.fail(span.field, f"span {span.id} offsets [{b}, {e}) lie outside the text ({n} characters) "
                                       f"or are empty/reversed")
    if span.text is not None:
        actual = " ".join(doc.text[b:e] for b, e in span.fragments)
        if actual.split() != span.text.split():
            raise doc.fail(span.field, f"span {span.id} text {span.text!r} does not match the text at "
                                       f"{_offsets(span.fragments)}: {actual!r}")


def _offsets(fragments: Sequence[tuple[int, int]]) -> str:
    return ";".join(f"[{b}, {e})" for b, e in fragments)


def _trimmed(text: str, b: int, e: int) -> tuple[int, int]:
    while b < e and text[b].isspace():
        b += 1
    while e > b and text[e - 1].isspace():
        e -= 1
    return b, e


def _mentions(doc: AnnotatedText, options: ImportOptions, report: ImportReport) -> list[_Mention]:
    out = []
    for span in doc.spans:
        _check_span(doc, span)
        frags = span.fragments
        if len(frags) > 1:
            report.discontinuous += 1
            if options.discontinuous == "error":
                raise doc.fail(span.field, f"span {span.id} is discontinuous ({_offsets(frags)}); DocRED mentions "
                                           f"are contiguous (use --discontinuous fragments or span)")
            if options.discontinuous == "span":
                frags = [(min(b for b, _ in frags), max(e for _, e in frags))]
        for b, e in frags:
            tb, te = _trimmed(doc.text, b, e)
            if tb == te:
                raise doc.fail(span.field, f"span {span.id} at [{b}, {e}) covers only whitespace")
            out.append(_Mention(span.id, tb, te, span.type))
    return out


def _tokens(text: str, options: ImportOptions) -> TokenizedText:
    return whitespace_tokens(text) if options.tokenizer == "whitespace" else tokenize_text(text)


def to_docred(doc: AnnotatedText, options: ImportOptions, relations: RelationMapper,
              report: Optional[ImportReport] = None) -> dict[str, Any]:
    """One annotated text as a DocRED document ``{title, sents, vertexSet, labels, text}``; every
    mention carries its ``char_span``. Raises :class:`DataError` naming file, document and field."""
    report = report if report is not None else ImportReport()
    mentions = _mentions(doc, options, report)
    tok = _tokens(doc.text, options)
    tok, cuts = split_words_at(tok, [c for m in mentions for c in (m.begin, m.end)])
    tok, merged = merge_sentences_under(tok, [(m.begin, m.end) for m in mentions])
    report.split_words += cuts
    report.merged_sentences += merged

    # entities: union-find over mentions
    uf = _UnionFind(len(mentions))
    by_span: dict[str, list[int]] = {}
    for i, m in enumerate(mentions):
        by_span.setdefault(m.span, []).append(i)
    for idx in by_span.values():  # the fragments of one span are one entity
        for j in idx[1:]:
            uf.union(idx[0], j)
    grouping = options.entities
    if grouping == "auto":
        grouping = "links" if doc.links else "names"
        if grouping == "names" and len(mentions) > 1:
            report.grouped_by_name += 1
    for link in doc.links:
        for sid in link.spans:
            if sid not in by_span:
                raise doc.fail(link.field, f"coreference link to unknown span {sid!r}")
        for a, b in zip(link.spans, link.spans[1:]):
            uf.union(by_span[a][0], by_span[b][0])
    if grouping == "names":
        first_of: dict[tuple[str, str], int] = {}
        for i, m in enumerate(mentions):
            key = (normalised_name(doc.text[m.begin:m.end]), m.type)
            if key in first_of:
                uf.union(first_of[key], i)
            else:
                first_of[key] = i

    entity_of_root: dict[int, int] = {}
    vertex_set: list[list[dict[str, Any]]] = []
    seen_mentions: set[tuple[int, int, int, str]] = set()
    for i, m in enumerate(mentions):
        root = uf.find(i)
        if root not in entity_of_root:
            entity_of_root[root] = len(vertex_set)
            vertex_set.append([])
        e = entity_of_root[root]
        if (e, m.begin, m.end, m.type) in seen_mentions:  # the same span annotated twice in one entity
            continue
        seen_mentions.add((e, m.begin, m.end, m.type))
        where = tok.word_span(m.begin, m.end)
        if where is None:  # pragma: no cover - words are cut and sentences merged for every mention above
            raise doc.fail(next(s.field for s in doc.spans if s.id == m.span), "the span covers no word")
        sid, start, end = where
        name = " ".join(doc.text[m.begin:m.end].split())  # a line break inside a mention reads as a space
        vertex_set[e].append({"name": name, "sent_id": sid, "pos": [start, end], "type": m.type,
                              "char_span": [m.begin, m.end]})
    entity_of_span = {sid: entity_of_root[uf.find(idx[0])] for sid, idx in by_span.items()}
    _entity_links(doc, vertex_set, entity_of_span)

    labels = []
    seen_facts: set[tuple[int, int, str]] = set()
    for rel in doc.relations:
        ends = []
        for role, sid in (("head", rel.head), ("tail", rel.tail)):
            if sid not in entity_of_span:
                raise doc.fail(rel.field, f"relation {rel.id} ({rel.label}) points to unknown span {sid!r} as its {role}")
            ends.append(entity_of_span[sid])
        h, t = ends
        if h == t:
            why = " (they were grouped by identical names; use --entities links)" if grouping == "names" else ""
            raise doc.fail(rel.field, f"relation {rel.id} ({rel.label}) links two mentions of the same entity{why}")
        r = relations.map(rel.label, doc, rel.field)
        if (h, t, r) in seen_facts:
            report.duplicate_facts += 1
            continue
        seen_facts.add((h, t, r))
        labels.append({"h": h, "t": t, "r": r, "evidence": []})

    report.documents += 1
    report.entities += len(vertex_set)
    report.mentions += sum(len(e) for e in vertex_set)
    report.facts += len(labels)
    return {"title": doc.title, "sents": tok.words, "vertexSet": vertex_set, "labels": labels, "text": doc.text}


def _entity_links(doc: AnnotatedText, vertex_set: list[list[dict[str, Any]]], entity_of_span: dict[str, int]) -> None:
    """Put an entity's link (from any of its spans) on every one of its mentions; two different links on
    one entity are an error naming the second span."""
    found: dict[int, tuple[Optional[str], Span]] = {}
    for span in doc.spans:
        if not span.has_link or span.id not in entity_of_span:
            continue
        e = entity_of_span[span.id]
        if e in found and found[e][0] != span.link:
            raise doc.fail(span.field, f"span {span.id} is linked to {span.link!r} but its entity already to "
                                       f"{found[e][0]!r} (span {found[e][1].id}); an entity has one link")
        found[e] = (span.link, span)
    for e, (link, _) in found.items():
        for m in vertex_set[e]:
            m["link"] = link


# ------------------------------------------------------------------ export: DocRED -> annotated text
@dataclass
class ExportOptions:
    """What :func:`from_docred` writes: relations scored at least ``min_score`` (gold labels, which
    have no score, always), and the name of the coreference relation."""

    min_score: Optional[float] = None
    coreference: str = COREFERENCE


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _word_offsets(text: str, sents: list[list[str]]) -> Optional[list[list[tuple[int, int]]]]:
    """Each word's ``[begin, end)`` found in order in ``text``, skipping whitespace only; None when a
    word is not where expected (the text and the words differ)."""
    out = []
    pos = 0
    for sent in sents:
        offs = []
        for w in sent:
            while pos < len(text) and text[pos].isspace() and not text.startswith(w, pos):
                pos += 1
            if not text.startswith(w, pos):
                return None
            offs.append((pos, pos + len(w)))
            pos += len(w)
        out.append(offs)
    return out


def joined_text(sents: list[list[str]]) -> tuple[str, list[list[tuple[int, int]]]]:
    """The words joined by single spaces, sentences by line breaks, and each word's offsets."""
    parts, offsets, pos = [], [], 0
    for si, sent in enumerate(sents):
        if si:
            parts.append("\n")
            pos += 1
        offs = []
        for wi, w in enumerate(sent):
            if wi:
                parts.append(" ")
                pos += 1
            parts.append(w)
            offs.append((pos, pos + len(w)))
            pos += len(w)
        offsets.append(offs)
    return "".join(parts), offsets


def _mention_offsets(raw: dict[str, Any], doc_fail) -> tuple[str, list[list[tuple[int, int]]]]:
    """The document text and each mention's character span (entity by entity)."""
    sents, vertex_set = raw["sents"], raw["vertexSet"]
    text = raw.get("text")
    word_offsets = None
    if isinstance(text, str):
        spans_given = all(isinstance(m.get("char_span"), list) for e in vertex_set for m in e)
        if spans_given:
            out = []
            for ei, e in enumerate(vertex_set):
                row = []
                for mi, m in enumerate(e):
                    b, end = m["char_span"]
                    if not 0 <= b < end <= len(text):
                        raise doc_fail(f"vertexSet[{ei}][{mi}].char_span",
                                       f"[{b}, {end}) lies outside the document text ({len(text)} characters)")
                    row.append((b, end))
                out.append(row)
            return text, out
        word_offsets = _word_offsets(text, sents)
        if word_offsets is None:
            logger.warning("%s: its words are not found in order in its text; exporting the words joined by "
                           "spaces instead", raw.get("title"))
    if word_offsets is None:
        text, word_offsets = joined_text(sents)
    out = []
    for e in vertex_set:
        row = []
        for m in e:
            offs = word_offsets[m["sent_id"]]
            row.append((offs[m["pos"][0]][0], offs[m["pos"][1] - 1][1]))
        out.append(row)
    return text, out


def _check_relations(raw: dict[str, Any], n_entities: int, doc_fail) -> list[dict[str, Any]]:
    rels = raw.get("relations")
    if not isinstance(rels, list):
        raise doc_fail("relations", f"must be a list of predicted relations, got {type(rels).__name__}")
    for i, r in enumerate(rels):
        fld = f"relations[{i}]"
        if not isinstance(r, dict):
            raise doc_fail(fld, "a relation must be an object {h, t, r, score}")
        for key in ("h", "t"):
            if not _is_int(r.get(key)) or not 0 <= r[key] < n_entities:
                raise doc_fail(f"{fld}.{key}", f"must be an entity index below {n_entities}, got {r.get(key)!r}")
        if r["h"] == r["t"]:
            raise doc_fail(f"{fld}.t", f"head and tail are the same entity ({r['h']})")
        if not isinstance(r.get("r"), str) or not r["r"]:
            raise doc_fail(f"{fld}.r", f"must be a relation id string, got {r.get('r')!r}")
        score = r.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)) or score != score):
            raise doc_fail(f"{fld}.score", f"must be a number, got {score!r}")
    return rels


def from_docred(raw: dict[str, Any], file: str, index: int, options: ExportOptions) -> tuple[AnnotatedText, dict[str, str]]:
    """A DocRED document (already validated by docre's reader) as annotated text.

    Relations come from ``relations`` (``docre predict`` output, with scores) when the document
    has that key, else from its gold ``labels``. Each relation connects the closest pair of a
    head and a tail mention (what a person sees as one arc). Returns the annotated text and the
    relation names found (``relation`` fields of predictions) by relation id.
    """
    title = raw["title"]

    def doc_fail(fld: str, message: str) -> DataError:
        return DataError(DataProblem(file, message, index, title, fld))

    text, offsets = _mention_offsets(raw, doc_fail)
    out = AnnotatedText(title=title, text=text, file=file, index=index)
    span_ids: list[list[str]] = []
    for ei, e in enumerate(raw["vertexSet"]):
        ids = []
        for mi, m in enumerate(e):
            sid = f"T{len(out.spans) + 1}"
            b, end = offsets[ei][mi]
            out.spans.append(Span(sid, m.get("type") or DEFAULT_ENTITY_TYPE, [(b, end)], text[b:end],
                                  f"vertexSet[{ei}][{mi}]", link=m.get("link"), has_link="link" in m))
            ids.append(sid)
        span_ids.append(ids)
        if len(ids) > 1:
            out.links.append(Link(ids, f"vertexSet[{ei}]"))
    names: dict[str, str] = {}
    if "relations" in raw:
        rels = [{"h": r["h"], "t": r["t"], "r": r["r"], "score": r.get("score"), "name": r.get("relation")}
                for r in _check_relations(raw, len(span_ids), doc_fail)]
    else:
        rels = [{"h": f["h"], "t": f["t"], "r": f["r"], "score": None, "name": None} for f in raw.get("labels") or []]
    for i, r in enumerate(rels):
        if r["score"] is not None and options.min_score is not None and r["score"] < options.min_score:
            continue
        if isinstance(r["name"], str) and r["name"]:
            names.setdefault(r["r"], r["name"])
        h, t = _closest_pair(offsets[r["h"]], offsets[r["t"]])
        out.relations.append(Relation(f"R{len(out.relations) + 1}", r["r"], span_ids[r["h"]][h], span_ids[r["t"]][t],
                                      f"relations[{i}]", None if r["score"] is None else float(r["score"])))
    return out, names


def _closest_pair(heads: Sequence[tuple[int, int]], tails: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Indices of the head and tail mentions nearest each other in the text (first such pair)."""
    best, pair = None, (0, 0)
    for i, (hb, he) in enumerate(heads):
        for j, (tb, te) in enumerate(tails):
            gap = max(tb - he, hb - te, 0)
            if best is None or gap < best:
                best, pair = gap, (i, j)
    return pair


def name_collisions(doc: AnnotatedText) -> bool:
    """True when re-importing ``doc`` with ``entities="auto"`` would merge two of its entities: it
    has no link (every entity has one mention) and two mentions share type and normalised name."""
    if doc.links:
        return False
    keys = [(normalised_name(doc.text[s.fragments[0][0]:s.fragments[0][1]]), s.type) for s in doc.spans]
    return len(set(keys)) < len(keys)
