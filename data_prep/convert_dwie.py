"""Convert DWIE's original articles to DocRED JSON, as the standard DocRED-style conversion does.

Usage::

    python -m data_prep.convert_dwie --annos DWIE/data/annos_with_content --split test --out data/dwie/test.json
    python -m data_prep.convert_dwie --annos annos_with_content.tar.gz --split train \\
        --exclude-titles data/dwie/dev.json --out data/dwie/train.json --rel2id data/dwie/rel2id.json

DWIE's download script gives one JSON file per article (``annos_with_content/DW_*.json``:
``content``, ``tags`` (``train``/``test``), character-offset ``mentions`` of ``concepts``,
concept-level ``relations``). Document-level RE papers report DWIE results on one
DocRED-format conversion (Ru et al., EMNLP 2021, LogiRE), published as files but not as code.
This module reproduces it, rule by rule, as measured against its ``dev.json`` (98 articles):

* the whole article is **one sentence**: ``sents = [tokens]``, every mention has ``sent_id`` 0;
* tokens are spaCy's rule-based English tokenizer over ``content``, whitespace tokens such as
  ``"\\n"`` kept, with spaCy 2.0's hyphen rule (a hyphen splits only between two letters, so
  ``31-year-old`` gives ``31-year``, ``-``, ``old``; spaCy 3 would also split ``31``, ``-``,
  ``year``);
* a mention covers the tokens its characters overlap; its ``name`` is its annotated text and
  ``char_span`` keeps its character offsets into ``content`` (``text`` in the output);
* one entity per concept that has mentions, in concept order; its mentions in the order of the
  article's mention list; concepts without mentions are dropped with their relations;
* a mention's ``type`` is the last of its concept's tags that is one of the coarse DWIE types
  (:data:`DWIE_TYPES`); a concept without one (tagged only e.g. ``type::language``) takes the
  type of the mention converted before it, even from the previous article in file-name order.
  That is how the standard conversion behaves (a variable it does not reset); ``--untyped
  blank`` gives such mentions ``type::blank`` instead;
* every concept relation between two kept entities becomes a label ``{h, t, r, evidence: [0]}``
  with DWIE's relation name as ``r``, in the article's order, duplicates kept;
* relation ids are numbered in order of first appearance among the kept labels of all articles
  read (every split), in file-name order (``rel2id.json``, ``"Na"`` = 0). On DWIE's train
  articles this gives the standard ``rel2id.json``'s first 48 relations in its order; the rest of
  its order depends on the test articles, which interleave by file name.

Beyond the standard conversion: every mention carries its concept's Wikipedia title as ``link``
(null: the concept is not in Wikipedia, NIL; a concept without a ``link`` key counts as NIL) and
its entity-linking ``candidates`` as ``[[title, prior], ...]`` (DWIE's ``candidates`` and
``scores``; ``[]`` when the mention has none). A relation from an entity to itself (7 in DWIE's train split)
is dropped and counted, since DocRED labels need two entities; articles without mentions are
skipped and counted.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Optional, Sequence, Union

from docre.data.reader import documents_from_json
from docre.errors import DataError, DataProblem, DocreError
from docre.utils.io import atomic_write_json, read_text_file

logger = logging.getLogger(__name__)
PathLike = Union[str, Path]

#: The coarse DWIE entity types of the standard conversion (its ``ner2id.json`` without
#: ``type::blank``); every other ``type::`` tag (``type::gpe0``, ``type::politician``, ...) is finer.
DWIE_TYPES: frozenset[str] = frozenset({
    "type::location", "type::organization", "type::person", "type::misc", "type::event", "type::ethnicity",
    "type::time", "type::role", "type::money", "type::other",
})
#: Type given to mentions whose concept has no coarse type under ``--untyped blank`` (and to such a
#: mention when nothing was converted before it).
BLANK_TYPE = "type::blank"
NA_RELATION = "Na"
SPLITS = ("train", "test", "all")
UNTYPED_POLICIES = ("inherit", "blank")
#: spaCy 3's infix rule for hyphens, ``(?<=[letters0-9])(?:hyphens)(?=[letters])``, is spaCy 2.0's
#: without ``0-9``: removing it from the lookbehind restores the tokenisation of the standard files.
_DIGIT_HYPHEN_LOOKBEHIND = ("0-9])(?:-|", "])(?:-|")


# ------------------------------------------------------------------ reading the articles
def _is_article_name(name: str) -> bool:
    p = PurePosixPath(name)
    return p.suffix == ".json" and p.name.startswith("DW_") and not p.name.startswith("._")


def iter_articles(annos: PathLike) -> Iterator[tuple[str, Any]]:
    """Yield ``(source, article)`` for every ``DW_*.json`` of an ``annos_with_content`` directory or a
    ``.tar.gz``/``.tar`` of it, in file-name order (the order the standard conversion used).

    ``source`` names the file (``archive.tar.gz:annos_with_content/DW_1.json`` inside an archive).

    Raises:
        DataError: the path is missing, holds no article, or an article is not valid JSON.
    """
    annos = Path(annos)
    if annos.is_dir():
        files = sorted((p for p in annos.iterdir() if p.is_file() and _is_article_name(p.name)), key=lambda p: p.name)
        if not files:
            raise DataError(DataProblem(str(annos), "no DWIE articles (DW_*.json) in this directory"))
        for p in files:
            yield str(p), _parse_article(str(p), read_text_file(p))
        return
    if not annos.exists():
        raise DataError(DataProblem(str(annos), "no such file or directory (give annos_with_content/ or a .tar.gz of it)"))
    try:
        with tarfile.open(annos, "r:*") as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile() and _is_article_name(m.name)),
                             key=lambda m: PurePosixPath(m.name).name)
            if not members:
                raise DataError(DataProblem(str(annos), "no DWIE articles (DW_*.json) in this archive"))
            for m in members:
                source = f"{annos}:{m.name}"
                fh = tar.extractfile(m)
                data = fh.read() if fh is not None else b""
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(DataProblem(source, f"not valid UTF-8 (byte offset {exc.start})")) from exc
                yield source, _parse_article(source, text)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(DataProblem(str(annos), f"not a readable directory or tar archive: {exc}")) from exc


def _parse_article(source: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(DataProblem(source, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")) from exc


def read_titles(path: PathLike) -> set[str]:
    """Titles to exclude or keep: a DocRED JSON file (its documents' titles), a JSON list of
    titles, or a text file with one title per line."""
    path = Path(path)
    text = read_text_file(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return {line.strip() for line in text.splitlines() if line.strip()}
    if isinstance(obj, list) and all(isinstance(t, str) for t in obj):
        return set(obj)
    if isinstance(obj, list) and all(isinstance(d, dict) and isinstance(d.get("title"), str) for d in obj):
        return {d["title"] for d in obj}
    raise DataError(DataProblem(str(path), "expected DocRED documents with titles, a JSON list of titles, "
                                           "or one title per line"))


# ------------------------------------------------------------------ converting one article
@functools.lru_cache(maxsize=1)
def dwie_tokenizer() -> Any:
    """spaCy's blank English tokenizer with spaCy 2.0's hyphen rule (no model, no network)."""
    import spacy
    from spacy.util import compile_infix_regex

    nlp = spacy.blank("en")
    old, new = _DIGIT_HYPHEN_LOOKBEHIND
    infixes = [p.replace(old, new) for p in nlp.Defaults.infixes]
    if infixes == list(nlp.Defaults.infixes):  # pragma: no cover - a spaCy whose rules changed again
        raise DocreError("this spaCy version's hyphen rule is not the one data_prep.convert_dwie adapts")
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.max_length = 10**8
    return nlp


@dataclass
class ConversionReport:
    """What the conversion read, kept and dropped."""

    articles: int = 0
    selected: int = 0
    excluded_by_title: int = 0
    documents: int = 0
    skipped_no_mentions: list[str] = field(default_factory=list)
    entities: int = 0
    mentions: int = 0
    facts: int = 0
    relations_without_mentions: int = 0  # a relation to a concept without mentions (dropped)
    self_relations: int = 0  # a relation from an entity to itself (dropped)
    untyped_mentions: int = 0  # concept without a coarse type: inherited or type::blank
    expanded_mentions: int = 0  # mention boundaries inside a token: the word span covers the whole token

    def summary(self) -> str:
        return (f"{self.documents} documents ({self.entities} entities, {self.mentions} mentions, {self.facts} facts) "
                f"from {self.selected} selected of {self.articles} articles; {self.excluded_by_title} excluded by "
                f"title; {len(self.skipped_no_mentions)} skipped without mentions"
                + (f" ({', '.join(self.skipped_no_mentions)})" if self.skipped_no_mentions else "")
                + f"; dropped {self.relations_without_mentions} relations to concepts without mentions and "
                  f"{self.self_relations} relations of an entity to itself; {self.untyped_mentions} mentions of "
                  f"concepts without a coarse type; {self.expanded_mentions} mentions widened to whole tokens")


class _TypeState:
    """The type of the mention converted last (the standard conversion's carried-over variable)."""

    def __init__(self) -> None:
        self.last = BLANK_TYPE


def _coarse_type(tags: Any) -> Optional[str]:
    """The last coarse DWIE type among a concept's tags (None when it has none)."""
    found = None
    for tag in tags if isinstance(tags, list) else []:
        if tag in DWIE_TYPES:
            found = tag
    return found


class _Article:
    """Checks one article's structure while reading it; problems name file, article and field."""

    def __init__(self, source: str, index: int, raw: Any):
        self.source, self.index, self.raw = source, index, raw
        self.title = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None

    def fail(self, fld: Optional[str], msg: str) -> DataError:
        return DataError(DataProblem(self.source, msg, self.index, self.title, fld))

    def get(self, key: str, kind: type) -> Any:
        if not isinstance(self.raw, dict):
            raise self.fail(None, f"an article must be a JSON object, got {type(self.raw).__name__}")
        if key not in self.raw:
            raise self.fail(key, f"missing key '{key}'")
        value = self.raw[key]
        if not isinstance(value, kind):
            raise self.fail(key, f"must be a {kind.__name__}, got {type(value).__name__}")
        return value

    def tags(self) -> list[str]:
        return [t for t in self.get("tags", list) if isinstance(t, str)]

    def concepts(self) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for i, c in enumerate(self.get("concepts", list)):
            if not isinstance(c, dict) or not _is_int(c.get("concept")):
                raise self.fail(f"concepts[{i}].concept", "each concept needs an integer 'concept' id")
            out[c["concept"]] = c
        return out

    def mentions(self, content: str, concepts: dict[int, dict]) -> list[dict]:
        mentions = self.get("mentions", list)
        for i, m in enumerate(mentions):
            fld = f"mentions[{i}]"
            if not isinstance(m, dict):
                raise self.fail(fld, "a mention must be an object")
            for key in ("begin", "end", "concept"):
                if not _is_int(m.get(key)):
                    raise self.fail(f"{fld}.{key}", f"must be an integer, got {m.get(key)!r}")
            b, e = m["begin"], m["end"]
            if not 0 <= b < e <= len(content):
                raise self.fail(f"{fld}.begin", f"offsets [{b}, {e}) lie outside the text ({len(content)} characters) "
                                                f"or are empty/reversed")
            text = m.get("text")
            if not isinstance(text, str):
                raise self.fail(f"{fld}.text", "missing mention text")
            if content[b:e] != text:
                raise self.fail(f"{fld}.text", f"{text!r} does not match the text at [{b}, {e}): {content[b:e]!r}")
            if m["concept"] not in concepts:
                raise self.fail(f"{fld}.concept", f"unknown concept {m['concept']}")
            mention_candidates(self, fld, m)
        for cid, c in concepts.items():
            link = c.get("link")
            if link is not None and not isinstance(link, str):
                raise self.fail(f"concepts[{cid}].link", f"must be a Wikipedia title or null, got {link!r}")
        return mentions

    def relations(self, concepts: dict[int, dict]) -> list[dict]:
        rels = self.raw.get("relations", []) if isinstance(self.raw, dict) else []
        if not isinstance(rels, list):
            raise self.fail("relations", "must be a list")
        for i, r in enumerate(rels):
            fld = f"relations[{i}]"
            if not isinstance(r, dict) or not isinstance(r.get("p"), str):
                raise self.fail(f"{fld}.p", "a relation needs a relation name 'p'")
            for key in ("s", "o"):
                if r.get(key) not in concepts or not _is_int(r.get(key)):
                    raise self.fail(f"{fld}.{key}", f"unknown concept {r.get(key)!r}")
        return rels


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def mention_candidates(article: "_Article", fld: str, m: dict) -> list[list[Any]]:
    """A DWIE mention's entity-linking candidates as ``[[title, prior], ...]`` (``candidates`` and
    ``scores`` side by side; a mention without them has none)."""
    titles, scores = m.get("candidates", []), m.get("scores", [])
    if not isinstance(titles, list) or not all(isinstance(t, str) for t in titles):
        raise article.fail(f"{fld}.candidates", "must be a list of Wikipedia titles")
    if not isinstance(scores, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in scores):
        raise article.fail(f"{fld}.scores", "must be a list of numbers")
    if len(titles) != len(scores):
        raise article.fail(f"{fld}.scores", f"{len(scores)} scores for {len(titles)} candidates")
    return [[t, float(x)] for t, x in zip(titles, scores)]


def _mention_types(article: _Article, state: _TypeState, untyped: str) -> list[str]:
    """Each mention's type in mention-list order, updating the carried-over type."""
    concepts = article.concepts()
    types = []
    for m in article.get("mentions", list):
        t = _coarse_type(concepts.get(m.get("concept"), {}).get("tags")) if isinstance(m, dict) else None
        if t is None:
            t = state.last if untyped == "inherit" else BLANK_TYPE
        state.last = t
        types.append(t)
    return types


def convert_article(article: _Article, types: list[str], report: ConversionReport) -> Optional[dict[str, Any]]:
    """One article as a DocRED document (None when it has no mentions)."""
    content = article.get("content", str)
    concepts = article.concepts()
    mentions = article.mentions(content, concepts)
    rels = article.relations(concepts)
    if not mentions:
        report.skipped_no_mentions.append(article.title or article.source)
        return None
    doc = dwie_tokenizer()(content)
    by_concept: dict[int, list[dict]] = {}
    for i, (m, typ) in enumerate(zip(mentions, types)):
        span = doc.char_span(m["begin"], m["end"], alignment_mode="expand")
        if span is None or len(span) == 0:  # pragma: no cover - offsets checked above
            raise article.fail(f"mentions[{i}]", "the mention covers no token")
        if doc.char_span(m["begin"], m["end"]) is None:
            report.expanded_mentions += 1
        by_concept.setdefault(m["concept"], []).append(
            {"name": m["text"], "pos": [span.start, span.end], "sent_id": 0, "type": typ,
             "char_span": [m["begin"], m["end"]], "link": concepts[m["concept"]].get("link"),
             "candidates": mention_candidates(article, f"mentions[{i}]", m)})
    entity_of: dict[int, int] = {}
    vertex_set = []
    for cid in sorted(by_concept):  # concept order
        entity_of[cid] = len(vertex_set)
        vertex_set.append(by_concept[cid])
    labels = []
    for r in rels:
        h, t = entity_of.get(r["s"]), entity_of.get(r["o"])
        if h is None or t is None:
            report.relations_without_mentions += 1
        elif h == t:
            report.self_relations += 1
        else:
            labels.append({"r": r["p"], "h": h, "t": t, "evidence": [0]})
    report.documents += 1
    report.entities += len(vertex_set)
    report.mentions += len(mentions)
    report.facts += len(labels)
    return {"title": article.title, "vertexSet": vertex_set, "labels": labels, "sents": [[t.text for t in doc]],
            "text": content}


def convert_dwie(
    annos: PathLike,
    split: str = "all",
    exclude_titles: Sequence[str] | set[str] = (),
    include_titles: Optional[set[str]] = None,
    untyped: str = "inherit",
    keep_text: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, int], ConversionReport]:
    """Convert the articles of one split.

    Args:
        annos: ``annos_with_content`` directory or a ``.tar.gz`` of it.
        split: ``train`` or ``test`` (articles carrying that tag) or ``all``.
        exclude_titles: article ids to leave out (e.g. the dev titles, for the training split).
        include_titles: when given, keep only these article ids (e.g. the dev split).
        untyped: ``inherit`` (the standard conversion) or ``blank`` for mentions of concepts
            without a coarse type (see the module docstring).
        keep_text: keep each article's ``content`` as ``text`` (what ``char_span`` indexes).

    Returns:
        the DocRED documents, ``rel2id`` (``Na`` = 0, then relation names in order of first
        appearance over all articles read) and a :class:`ConversionReport`.

    Raises:
        DataError: an unreadable article, naming file, article and field.
    """
    if split not in SPLITS:
        raise DocreError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if untyped not in UNTYPED_POLICIES:
        raise DocreError(f"untyped must be one of {', '.join(UNTYPED_POLICIES)}, got {untyped!r}")
    excluded = set(exclude_titles)
    report = ConversionReport()
    state = _TypeState()
    rel_order: dict[str, int] = {NA_RELATION: 0}
    docs: list[dict[str, Any]] = []
    for index, (source, raw) in enumerate(iter_articles(annos)):
        report.articles += 1
        article = _Article(source, index, raw)
        if article.title is None:
            raise article.fail("id", "missing article id (a string such as 'DW_1095032')")
        # every article moves the carried-over type on, selected or not, as in the standard conversion
        types = _mention_types(article, state, untyped)
        concepts = article.concepts()
        with_mentions = {m["concept"] for m in article.mentions(article.get("content", str), concepts)}
        for r in article.relations(concepts):
            if r["s"] in with_mentions and r["o"] in with_mentions and r["s"] != r["o"]:
                rel_order.setdefault(r["p"], len(rel_order))
        if split != "all" and split not in article.tags():
            continue
        if include_titles is not None and article.title not in include_titles:
            continue
        if article.title in excluded:
            report.excluded_by_title += 1
            continue
        report.selected += 1
        report.untyped_mentions += sum(1 for m in article.get("mentions", list)
                                       if _coarse_type(concepts.get(m.get("concept"), {}).get("tags")) is None)
        doc = convert_article(article, types, report)
        if doc is not None:
            if not keep_text:
                doc.pop("text")
            docs.append(doc)
    if not report.selected:
        raise DocreError(f"{annos}: no article selected ({report.articles} read; split {split!r}"
                         + (f", {report.excluded_by_title} excluded by title" if report.excluded_by_title else "")
                         + (", --include-titles matched none" if include_titles is not None else "") + ")")
    documents_from_json(docs, f"{annos} (converted)")  # the reader's checks, before anything is written
    return docs, rel_order, report


# ------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.convert_dwie",
        description="Convert DWIE's original articles (annos_with_content/DW_*.json, from DWIE's download script) "
                    "into DocRED-format JSON equal to the standard DocRED-style conversion, with each mention's "
                    "character offsets kept as char_span and the article text as text.")
    parser.add_argument("--annos", required=True, type=Path, metavar="PATH",
                        help="the annos_with_content directory, or a .tar.gz of it")
    parser.add_argument("--split", required=True, choices=SPLITS,
                        help="articles tagged train, tagged test, or all of them")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.json", help="DocRED JSON to write")
    parser.add_argument("--exclude-titles", type=Path, metavar="FILE", default=None,
                        help="leave out these articles: a DocRED JSON file (e.g. the standard dev.json), a JSON "
                             "list of titles, or one title per line")
    parser.add_argument("--include-titles", type=Path, metavar="FILE", default=None,
                        help="keep only these articles (same formats); e.g. the dev titles for the dev split")
    parser.add_argument("--rel2id", type=Path, metavar="FILE.json", default=None,
                        help="also write the relation ids used ({'Na': 0, ...}, first appearance over all articles "
                             "read, so the same for every split of the same directory)")
    parser.add_argument("--untyped", choices=UNTYPED_POLICIES, default="inherit",
                        help="type of a mention whose concept has no coarse type: inherit the previous mention's "
                             "(the standard conversion, default) or type::blank")
    parser.add_argument("--no-text", action="store_true", help="leave the article text out (char_span then "
                                                               "refers to DWIE's content field)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        exclude = read_titles(args.exclude_titles) if args.exclude_titles else set()
        include = read_titles(args.include_titles) if args.include_titles else None
        docs, rel2id, report = convert_dwie(args.annos, args.split, exclude, include, args.untyped,
                                            keep_text=not args.no_text)
        atomic_write_json(args.out, docs, indent=None)
        if args.rel2id:
            atomic_write_json(args.rel2id, rel2id, indent=None)
    except DocreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {report.summary()}" + (f"; {len(rel2id) - 1} relation ids in {args.rel2id}" if args.rel2id else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
