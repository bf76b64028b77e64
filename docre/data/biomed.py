"""Read CDR and GDA in the tab-separated ``.data`` format into DocRED-format dicts.

The format (produced by the edge-oriented graph preprocessing and used by ATLOP) has one
document per line, fields separated by tabs::

    pmid  text  pair_1 ... pair_k

``text`` is the tokenised document: sentences joined by ``|``, tokens by spaces. Each
pair is 17 fields (:data:`PAIR_FIELDS`): a label (``1:CID:2``, ``1:GDA:2``, ``1:NR:2``
or ``not_include``), two fields this reader does not use (``L2R``/``R2L`` and
``CROSS``/``NON-CROSS``) and two more it ignores (the closest mention pair), then
six fields for each argument: concept id, mention texts joined by ``|``, type, and
mention starts, ends and sentence ids joined by ``:``. Starts and ends are *document*
token offsets (end exclusive); DocRED wants a sentence id and a span inside that
sentence, so :func:`read_biomed_file` converts them.

Conversion rules:

* one entity per concept id, entities ordered by their first mention, mentions by
  position;
* a pair labelled ``a:REL:b`` with REL the corpus's relation (``CID``/``GDA``)
  becomes the fact ``{h: arg a, t: arg b, r: REL, evidence: []}``; ``NR`` pairs are
  negatives and produce no label;
* ``not_include`` pairs (left out of training and evaluation by the filtering step of
  the preprocessing) produce no label; they are listed under the extra key
  ``excluded_pairs`` as ``[h, t]`` so that an evaluation can skip them. Their entities
  stay in ``vertexSet``;
* the extra key ``entity_ids`` gives the concept id (MeSH / NCBI Gene id) of each entity.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from docre.data.relations import NA_RELATION, RelationInventory
from docre.errors import DataError, DataProblem, DocreError

PathLike = Union[str, Path]

#: Names of the 17 fields that describe one entity pair, in file order.
PAIR_FIELDS: tuple[str, ...] = (
    "label", "direction", "cross", "arg1.closest", "arg2.closest",
    "arg1.id", "arg1.names", "arg1.type", "arg1.starts", "arg1.ends", "arg1.sent_ids",
    "arg2.id", "arg2.names", "arg2.type", "arg2.starts", "arg2.ends", "arg2.sent_ids",
)
_N_PAIR = len(PAIR_FIELDS)
_HEAD_FIELDS = 2  # pmid, text
_ARG_OFFSET = {1: PAIR_FIELDS.index("arg1.id"), 2: PAIR_FIELDS.index("arg2.id")}
_NEGATIVE = "NR"
_EXCLUDED = "not_include"
_LABEL_RE = re.compile(r"^([12]):([^:\s]+):([12])$")


@dataclass(frozen=True)
class BiomedCorpus:
    """What distinguishes CDR from GDA: the positive relation and the entity types."""

    name: str
    relation: str
    relation_name: str
    entity_types: tuple[str, ...]


CORPORA: dict[str, BiomedCorpus] = {
    "cdr": BiomedCorpus("cdr", "CID", "chemical-induced disease", ("Chemical", "Disease")),
    "gda": BiomedCorpus("gda", "GDA", "gene-disease association", ("Gene", "Disease")),
}


def get_corpus(corpus: str) -> BiomedCorpus:
    """Look up ``"cdr"`` or ``"gda"`` (case-insensitive)."""
    try:
        return CORPORA[corpus.lower()]
    except (KeyError, AttributeError):
        raise DocreError(f"unknown biomedical corpus {corpus!r}; expected one of {sorted(CORPORA)}") from None


def biomed_relations(corpus: str) -> RelationInventory:
    """The relation inventory of CDR (``["Na", "CID"]``) or GDA (``["Na", "GDA"]``)."""
    spec = get_corpus(corpus)
    return RelationInventory([NA_RELATION, spec.relation], {NA_RELATION: "no relation", spec.relation: spec.relation_name})


# --------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class _Mention:
    name: str
    sent_id: int
    start: int  # inside the sentence
    end: int


@dataclass(frozen=True)
class _Arg:
    concept: str
    type: str
    mentions: tuple[_Mention, ...]
    arg: int  # 1 or 2: which argument of its pair
    column: int  # 1-based column of the concept id, for messages


@dataclass(frozen=True)
class _Pair:
    label: str  # relation name, "NR", or "not_include"
    head: _Arg
    tail: _Arg
    column: int  # 1-based column of the label


@dataclass
class _Line:
    index: int  # 0-based line index in the file
    pmid: str
    sents: list[list[str]]
    pairs: list[_Pair]


class _LineParser:
    """Parses one line; every error names the line, the column and the field."""

    def __init__(self, file: str, index: int, line: str):
        self.file, self.index, self.line = file, index, line
        self.pmid: Optional[str] = None

    def fail(self, field: str, message: str, column: Optional[int] = None) -> DataError:
        where = f"line {self.index + 1}"
        if column is not None:
            where += f", column {column}"
        return DataError(DataProblem(self.file, f"{where}: {message}", self.index, self.pmid, field))

    def parse(self) -> _Line:
        fields = self.line.split("\t")
        self.pmid = fields[0].strip() or None
        n = len(fields)
        if n < _HEAD_FIELDS or (n - _HEAD_FIELDS) % _N_PAIR:
            detail = "" if n < _HEAD_FIELDS else f"; the last entity pair has {(n - _HEAD_FIELDS) % _N_PAIR} fields"
            raise self.fail(
                "fields",
                f"expected 2 + 17*k tab-separated fields (pmid, text, then 17 per entity pair), got {n}{detail}",
            )
        pmid = self.pmid
        if pmid is None:
            raise self.fail("pmid", "the PubMed id is empty", 1)
        if not fields[1].strip():
            raise self.fail("text", "the document text is empty", 2)
        sents = [s.split(" ") for s in fields[1].split("|")]
        starts = [0]
        for s in sents:
            starts.append(starts[-1] + len(s))
        pairs = []
        for k in range((len(fields) - _HEAD_FIELDS) // _N_PAIR):
            first = _HEAD_FIELDS + k * _N_PAIR
            pairs.append(self._pair(k, fields[first:first + _N_PAIR], first + 1, starts))
        return _Line(self.index, pmid, sents, pairs)

    def _pair(self, k: int, group: list[str], column: int, starts: list[int]) -> _Pair:
        label = group[0].strip()
        if label == _EXCLUDED:
            rel, first = _EXCLUDED, 1
        else:
            m = _LABEL_RE.match(label)
            if not m or m.group(1) == m.group(3):
                raise self.fail(
                    f"pair[{k}].label", f"expected '1:REL:2', '2:REL:1' or 'not_include', got {label!r}", column
                )
            rel, first = m.group(2), int(m.group(1))
        args = {a: self._arg(k, a, group, column, starts) for a in (1, 2)}
        head, tail = (args[1], args[2]) if first == 1 else (args[2], args[1])
        return _Pair(rel, head, tail, column)

    def _arg(self, k: int, a: int, group: list[str], column: int, starts: list[int]) -> _Arg:
        off = _ARG_OFFSET[a]
        concept, names, typ, st, en, sid = group[off:off + 6]
        col = column + off  # column of this argument's concept id
        fld = f"pair[{k}].arg{a}"
        concept, typ = concept.strip(), typ.strip()
        if not concept:
            raise self.fail(f"{fld}.id", "the concept id is empty", col)
        if not typ:
            raise self.fail(f"{fld}.type", "the entity type is empty", col + 2)
        name_list = names.split("|")
        st_list = self._ints(f"{fld}.starts", st, col + 3)
        en_list = self._ints(f"{fld}.ends", en, col + 4)
        sid_list = self._ints(f"{fld}.sent_ids", sid, col + 5)
        n = len(name_list)
        for key, values, c in (("starts", st_list, col + 3), ("ends", en_list, col + 4), ("sent_ids", sid_list, col + 5)):
            if len(values) != n:
                raise self.fail(
                    f"{fld}.{key}", f"{len(values)} values for {n} mention names (field {fld}.names)", c
                )
        n_tokens = starts[-1]
        mentions = []
        for i, (name, s, e, given_sid) in enumerate(zip(name_list, st_list, en_list, sid_list)):
            if not 0 <= s < e <= n_tokens:
                raise self.fail(
                    f"{fld}.starts",
                    f"mention {i} ({name!r}) has span [{s}, {e}), outside the document "
                    f"({n_tokens} tokens) or empty",
                    col + 3,
                )
            sent = bisect.bisect_right(starts, s) - 1
            if e > starts[sent + 1]:
                raise self.fail(
                    f"{fld}.ends",
                    f"mention {i} ({name!r}) span [{s}, {e}) crosses the end of sentence {sent}",
                    col + 4,
                )
            if given_sid != sent:
                raise self.fail(
                    f"{fld}.sent_ids",
                    f"mention {i} ({name!r}) is given sentence {given_sid} but its span [{s}, {e}) "
                    f"lies in sentence {sent}",
                    col + 5,
                )
            mentions.append(_Mention(name, sent, s - starts[sent], e - starts[sent]))
        return _Arg(concept, typ, tuple(mentions), a, col)

    def _ints(self, field: str, text: str, column: int) -> list[int]:
        values = []
        for part in text.split(":"):
            try:
                values.append(int(part))
            except ValueError:
                raise self.fail(field, f"{part!r} is not an integer (in {text!r})", column) from None
        return values


# ------------------------------------------------------------------------ conversion
def _detect_corpus(file: str, lines: list[_Line]) -> BiomedCorpus:
    types = {arg.type for ln in lines for p in ln.pairs for arg in (p.head, p.tail)}
    rels = {p.label for ln in lines for p in ln.pairs} - {_NEGATIVE, _EXCLUDED}
    votes = set()
    for c in CORPORA.values():
        others = {t for o in CORPORA.values() if o is not c for t in o.entity_types}
        if (set(c.entity_types) - others) & types or c.relation in rels:
            votes.add(c.name)
    if len(votes) == 1:
        return CORPORA[votes.pop()]
    seen = f"entity types {sorted(types)}, relations {sorted(rels)}"
    if votes:
        raise DataError(DataProblem(file, f"mixes CDR and GDA ({seen}); pass the corpus explicitly"))
    raise DataError(DataProblem(file, f"cannot tell whether this is CDR or GDA ({seen}); pass corpus='cdr' or 'gda'"))


def _to_docred(file: str, ln: _Line, corpus: BiomedCorpus) -> dict:
    def fail(field: str, column: int, message: str) -> DataError:
        return DataError(DataProblem(file, f"line {ln.index + 1}, column {column}: {message}", ln.index, ln.pmid, field))

    concepts: dict[str, _Arg] = {}
    for k, p in enumerate(ln.pairs):
        if p.label not in (corpus.relation, _NEGATIVE, _EXCLUDED):
            raise fail(f"pair[{k}].label", p.column, f"relation {p.label!r} is not used by {corpus.name.upper()} "
                       f"(expected {corpus.relation!r}, {_NEGATIVE!r} or {_EXCLUDED!r})")
        for arg in (p.head, p.tail):
            fld = f"pair[{k}].arg{arg.arg}"
            if arg.type not in corpus.entity_types:
                raise fail(f"{fld}.type", arg.column + 2,
                           f"entity type {arg.type!r} is not one of {list(corpus.entity_types)} ({corpus.name.upper()})")
            known = concepts.setdefault(arg.concept, arg)
            if (known.type, known.mentions) != (arg.type, arg.mentions):
                raise fail(f"{fld}.id", arg.column,
                           f"concept {arg.concept!r} is described differently here than in an earlier pair "
                           "(type or mentions differ)")

    def first_pos(arg: _Arg) -> tuple[int, int, int]:
        return min((m.sent_id, m.start, m.end) for m in arg.mentions)

    order = sorted(concepts, key=lambda c: (first_pos(concepts[c]), c))
    index = {c: i for i, c in enumerate(order)}
    vertex_set = []
    for c in order:
        arg = concepts[c]
        uniq = sorted(set(arg.mentions), key=lambda m: (m.sent_id, m.start, m.end, m.name))
        vertex_set.append([{"name": m.name, "sent_id": m.sent_id, "pos": [m.start, m.end], "type": arg.type} for m in uniq])

    pair_label: dict[tuple[int, int], str] = {}
    for k, p in enumerate(ln.pairs):
        h, t = index[p.head.concept], index[p.tail.concept]
        if h == t:
            raise fail(f"pair[{k}].arg2.id", p.column + _ARG_OFFSET[2], f"both arguments are concept {p.head.concept!r}")
        earlier = pair_label.setdefault((h, t), p.label)
        if earlier != p.label:
            raise fail(f"pair[{k}].label", p.column,
                       f"pair ({p.head.concept}, {p.tail.concept}) is labelled both {earlier!r} and {p.label!r}")
    positive = sorted(ht for ht, lab in pair_label.items() if lab == corpus.relation)
    excluded = sorted(ht for ht, lab in pair_label.items() if lab == _EXCLUDED)
    return {
        "title": ln.pmid,
        "sents": ln.sents,
        "vertexSet": vertex_set,
        "labels": [{"h": h, "t": t, "r": corpus.relation, "evidence": []} for h, t in positive],
        "entity_ids": order,
        "excluded_pairs": [[h, t] for h, t in excluded],
    }


def parse_biomed_lines(
    lines: Iterable[str], corpus: Optional[str] = None, source: str = "<memory>"
) -> tuple[list[dict], Optional[BiomedCorpus]]:
    """Convert lines of a ``.data`` file into DocRED-format dicts (see the module doc).

    Returns the documents and the corpus used (given or detected; ``None`` when there
    are no documents and no corpus was given). Blank lines are skipped; ``doc_index``
    in errors is the 0-based line index.
    """
    parsed: list[_Line] = []
    first_line: dict[str, int] = {}
    for i, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        ln = _LineParser(source, i, line).parse()
        if ln.pmid in first_line:
            raise DataError(DataProblem(
                source, f"line {i + 1}, column 1: PubMed id {ln.pmid} already used on line {first_line[ln.pmid] + 1}",
                i, ln.pmid, "pmid"))
        first_line[ln.pmid] = i
        parsed.append(ln)
    spec = get_corpus(corpus) if corpus is not None else None
    if not parsed:
        return [], spec
    if spec is None:
        spec = _detect_corpus(source, parsed)
    return [_to_docred(source, ln, spec) for ln in parsed], spec


def load_biomed_file(path: PathLike, corpus: Optional[str] = None) -> tuple[list[dict], Optional[BiomedCorpus]]:
    """Like :func:`read_biomed_file`, but also return the corpus (given or detected)."""
    from docre.utils.io import read_text_file

    text = read_text_file(path)
    return parse_biomed_lines(text.split("\n"), corpus, str(path))


def read_biomed_file(path: PathLike, corpus: Optional[str] = None) -> list[dict]:
    """Read a CDR or GDA ``.data`` file into a list of raw DocRED-format dicts.

    Args:
        path: the ``.data`` file (e.g. ``train_filter.data``).
        corpus: ``"cdr"`` or ``"gda"``; detected from the entity types (Chemical vs
            Gene) or relation names when ``None``.

    Raises:
        DataError: naming the file, the line (``doc_index`` = 0-based line index), the
            PubMed id and the field of the first problem.
    """
    return load_biomed_file(path, corpus)[0]


__all__ = [
    "read_biomed_file", "load_biomed_file", "parse_biomed_lines", "biomed_relations", "get_corpus",
    "BiomedCorpus", "CORPORA", "PAIR_FIELDS",
]
