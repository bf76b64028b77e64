"""brat standoff files: a ``.txt`` with the text and a ``.ann`` with its annotations.

Read (``.ann`` lines, tab-separated):

* ``T1<TAB>Type 0 5<TAB>text``: a text-bound annotation; ``0 5;10 15`` for a discontinuous one;
* ``R1<TAB>Type Arg1:T1 Arg2:T2``: a relation from the first argument to the second; a relation
  whose type is a coreference label (``Coreference``, ``Coref``) links its two spans instead;
* ``*<TAB>Type T1 T2 ...``: an equivalence: the spans are mentions of one entity;
* ``N1<TAB>Reference T1 Wikipedia:Title``: a normalisation: the span's entity is linked to that
  Wikipedia title (every mention of the entity gets it as ``link``); normalisations to other
  databases are ignored (counted);
* ``E`` (events), ``A``/``M`` (attributes) and ``#`` (notes) parse and are ignored (counted); any
  other line is an error naming the file and line.

Written (:func:`write_brat`): ``T`` lines for mentions, a ``*<TAB>Coreference`` line per entity
with several mentions, an ``N`` line ``Reference T1 Wikipedia:Title`` for every mention with a
``link`` (NIL, a null link, has none), ``R`` lines for relations, an ``AnnotatorNotes`` note ``score 0.9731`` on
each predicted relation, plus ``annotation.conf`` (the entity and relation types, so brat shows
the collection without configuring it) and ``relations.json`` (the relation inventory with
names). Offsets count Unicode code points of the ``.txt`` content, as brat's own server does.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from docre.data.relations import RelationInventory
from docre.errors import DataError, DataProblem, DocreError
from docre.interchange.annotations import (
    COREFERENCE, AnnotatedText, ImportOptions, ImportReport, Link, Relation, Span, brat_safe,
)
from docre.utils.io import read_text_file

#: Optional file in a brat folder mapping file names to document titles (written by export when a
#: title is not usable as a file name).
TITLES_FILE = "titles.json"
RELATIONS_FILE = "relations.json"
CONFIG_FILE = "annotation.conf"
_OFFSETS = re.compile(r"^\d+ \d+(;\d+ \d+)*$")
_IGNORED_KINDS = {"E": "event lines", "A": "attribute lines", "M": "attribute lines", "#": "note lines"}
#: the normalisation database brat links name (``Wikipedia:Title``)
WIKIPEDIA_DB = "Wikipedia"


# ------------------------------------------------------------------ reading
def _documents(src: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """``(txt path, title)`` of every document under ``src`` (a folder, or one ``.txt``/``.ann``), and
    the texts without a ``.ann`` (not annotated yet)."""
    if src.is_file():
        if src.suffix not in (".txt", ".ann"):
            raise DataError(DataProblem(str(src), "a brat document is a .txt file with a .ann file beside it"))
        return [(src.with_suffix(".txt"), src.stem)], []
    if not src.is_dir():
        raise DataError(DataProblem(str(src), "no such file or directory"))
    titles: dict[str, str] = {}
    if (src / TITLES_FILE).is_file():
        try:
            obj = json.loads(read_text_file(src / TITLES_FILE))
        except json.JSONDecodeError as exc:
            raise DataError(DataProblem(str(src / TITLES_FILE), f"invalid JSON: {exc.msg}")) from exc
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise DataError(DataProblem(str(src / TITLES_FILE), "must be an object {file name: title}"))
        titles = obj
    docs = []
    for ann in sorted(src.rglob("*.ann")):
        rel = ann.relative_to(src).with_suffix("").as_posix()
        docs.append((ann.with_suffix(".txt"), titles.get(rel, rel)))
    unannotated = [txt.relative_to(src).with_suffix("").as_posix() for txt in sorted(src.rglob("*.txt"))
                   if not txt.with_suffix(".ann").exists()]
    if not docs:
        raise DataError(DataProblem(str(src), "no brat documents (.ann files) in this folder"))
    return docs, unannotated


def read_brat(src: str | Path, options: ImportOptions, report: Optional[ImportReport] = None) -> list[AnnotatedText]:
    """Every brat document under ``src`` (a folder, searched recursively, or one document), in
    file-name order; the title is the path below ``src`` without ``.ann`` (or as ``titles.json``
    says).

    Raises:
        DataError: a missing ``.txt``, or an ``.ann`` line that does not parse, naming the file and line.
    """
    report = report if report is not None else ImportReport()
    out = []
    docs, unannotated = _documents(Path(src))
    report.skipped.extend(unannotated)  # a text without .ann is not annotated yet
    for index, (txt, title) in enumerate(docs):
        ann = txt.with_suffix(".ann")
        if not txt.is_file():
            raise DataError(DataProblem(str(ann), f"no text file {txt.name} beside it", index, title))
        text = read_text_file(txt)
        out.append(parse_ann(read_text_file(ann) if ann.exists() else "", text, title, str(ann), index, options, report))
    return out


def parse_ann(content: str, text: str, title: str, file: str, index: int, options: ImportOptions,
              report: ImportReport) -> AnnotatedText:
    """The annotations of one ``.ann`` file over ``text``."""
    doc = AnnotatedText(title=title, text=text, file=file, index=index)
    content = content.lstrip("\ufeff")  # a byte-order mark some editors write
    ids: set[str] = set()
    norms: list[tuple[str, str, str]] = []  # (span id, Wikipedia title, field)
    for lineno, line in enumerate(content.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fld = f"line {lineno}"
        parts = line.split("\t")
        ident = parts[0]
        kind = ident[:1]

        def bad(why: str) -> DataError:
            return doc.fail(fld, f"does not parse ({why}): {line[:80]!r}")

        if kind != "*" and kind != "#":
            if ident in ids:
                raise doc.fail(fld, f"annotation id {ident} is used twice")
            ids.add(ident)
        if kind == "T":
            if len(parts) < 2 or " " not in parts[1]:
                raise bad("expected 'T1<TAB>Type begin end<TAB>text'")
            typ, offsets = parts[1].split(" ", 1)
            if not _OFFSETS.match(offsets):
                raise bad(f"offsets {offsets!r} are not 'begin end' pairs separated by ';'")
            frags = [tuple(int(x) for x in piece.split(" ")) for piece in offsets.split(";")]
            doc.spans.append(Span(ident, typ, [(b, e) for b, e in frags], "\t".join(parts[2:]) if len(parts) > 2
                                  else None, fld))
        elif kind == "R":
            fields = parts[1].split() if len(parts) >= 2 else []
            if len(fields) != 3 or not all(":" in a for a in fields[1:]):
                raise bad("expected 'R1<TAB>Type Arg1:T1 Arg2:T2'")
            typ, head, tail = fields[0], fields[1].split(":", 1)[1], fields[2].split(":", 1)[1]
            if options.is_coreference(typ):
                doc.links.append(Link([head, tail], fld))
            else:
                doc.relations.append(Relation(ident, typ, head, tail, fld))
        elif kind == "*":
            fields = parts[1].split() if len(parts) >= 2 else []
            if len(fields) < 2:
                raise bad("expected '*<TAB>Type T1 T2 ...'")
            doc.links.append(Link(fields[1:], fld))
        elif kind == "N":
            fields = parts[1].split() if len(parts) >= 2 else []
            if len(fields) != 3 or ":" not in fields[2]:
                raise bad("expected 'N1<TAB>Reference T1 Wikipedia:Title'")
            db, ref = fields[2].split(":", 1)
            if db.lower() != WIKIPEDIA_DB.lower() or not ref:
                report.add_ignored(f"normalisation lines (not {WIKIPEDIA_DB})")
            else:
                norms.append((fields[1], ref, fld))
        elif kind in _IGNORED_KINDS:
            if len(parts) < 2:
                raise bad("no tab after the id")
            report.add_ignored(_IGNORED_KINDS[kind])
        else:
            raise bad(f"unknown annotation id {ident!r}; brat ids start with T, R, E, A, M, N, * or #")
    spans = {s.id for s in doc.spans}
    by_id = {s.id: s for s in doc.spans}
    for sid, ref, fld in norms:
        if sid not in by_id:
            raise doc.fail(fld, f"normalisation of unknown entity {sid!r} (not a T annotation of this file)")
        span = by_id[sid]
        if span.has_link and span.link != ref:
            raise doc.fail(fld, f"span {sid} is normalised twice ({span.link!r} and {ref!r})")
        span.link, span.has_link = ref, True
    for rel in doc.relations:  # a relation to an event or a missing id: say so here, with its line
        for sid in (rel.head, rel.tail):
            if sid not in spans:
                what = "an event, not a text span" if sid[:1] == "E" and sid in ids else "not a T annotation of this file"
                raise doc.fail(rel.field, f"relation {rel.id} ({rel.label}) points to unknown entity {sid!r} ({what})")
    for link in doc.links:
        for sid in link.spans:
            if sid not in spans:
                raise doc.fail(link.field, f"coreference link to unknown entity {sid!r} (not a T annotation of this file)")
    return doc


# ------------------------------------------------------------------ writing
def _file_stem(title: str) -> str:
    """A file name for a title: path separators, control characters and a leading dot replaced."""
    stem = re.sub(r"[/\\\x00-\x1f]", "_", title).strip() or "document"
    if stem.startswith("."):
        stem = "_" + stem[1:]
    return stem.encode("utf-8")[:200].decode("utf-8", "ignore")


def format_ann(doc: AnnotatedText, coreference: str = COREFERENCE) -> str:
    """The ``.ann`` content of an annotated text (ids as in ``doc``; types and labels brat-safe)."""
    lines = []
    for s in doc.spans:
        offsets = ";".join(f"{b} {e}" for b, e in s.fragments)
        text = " ".join(doc.text[b:e] for b, e in s.fragments).replace("\n", " ").replace("\r", " ")
        lines.append(f"{s.id}\t{brat_safe(s.type)} {offsets}\t{text}")
    norm = 0
    for s in doc.spans:
        if s.link:
            norm += 1
            title = "_".join(s.link.split())
            lines.append(f"N{norm}\tReference {s.id} {WIKIPEDIA_DB}:{title}\t{title.replace('_', ' ')}")
    for link in doc.links:
        lines.append(f"*\t{brat_safe(coreference)} {' '.join(link.spans)}")
    notes = 0
    for r in doc.relations:
        lines.append(f"{r.id}\t{brat_safe(r.label)} Arg1:{r.head} Arg2:{r.tail}")
        if r.score is not None:
            notes += 1
            lines.append(f"#{notes}\tAnnotatorNotes {r.id}\tscore {r.score:.4f}")
    return "\n".join(lines) + ("\n" if lines else "")


def annotation_conf(entity_types: Sequence[str], relation_labels: Sequence[str], coreference: str = COREFERENCE) -> str:
    """A brat ``annotation.conf`` declaring the types used (any entity may take part in any relation)."""
    rel_lines = [f"{brat_safe(coreference)}\tArg1:<ENTITY>, Arg2:<ENTITY>, <REL-TYPE>:symmetric-transitive"]
    rel_lines += [f"{brat_safe(r)}\tArg1:<ENTITY>, Arg2:<ENTITY>" for r in relation_labels]
    return "\n".join(["[entities]", *[brat_safe(t) for t in entity_types], "", "[relations]", *rel_lines, "",
                      "[events]", "", "[attributes]", ""]) + "\n"


def write_brat(docs: Sequence[AnnotatedText], dst: str | Path, relations: RelationInventory,
               labels: Sequence[str], coreference: str = COREFERENCE) -> list[str]:
    """Write a brat collection into the new (or empty) folder ``dst``; returns the file stems.
    ``labels`` are the relation labels used (declared in ``annotation.conf``), ``relations`` the
    inventory written as ``relations.json`` (import maps the labels back to ids through it).

    Everything is written into a temporary folder beside ``dst`` first and renamed at the end, so
    an interrupted export leaves nothing; an existing non-empty ``dst`` is refused rather than
    overwritten (it may hold corrected annotations).
    """
    dst = Path(dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise DocreError(f"{dst}: exists and is not an empty folder; brat export writes a new collection "
                         f"(choose another --out, so no corrected annotation is overwritten)")
    stems: list[str] = []
    used: set[str] = set()
    titles: dict[str, str] = {}
    for d in docs:
        stem = _file_stem(d.title)
        base, n = stem, 2
        while stem.casefold() in used:
            stem, n = f"{base}_{n}", n + 1
        used.add(stem.casefold())
        stems.append(stem)
        if stem != d.title:
            titles[stem] = d.title
    entity_types = sorted({s.type for d in docs for s in d.spans})
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        for d, stem in zip(docs, stems):
            (tmp / f"{stem}.txt").write_text(d.text, encoding="utf-8", newline="")
            (tmp / f"{stem}.ann").write_text(format_ann(d, coreference), encoding="utf-8", newline="")
        (tmp / CONFIG_FILE).write_text(annotation_conf(entity_types, labels, coreference), encoding="utf-8")
        (tmp / RELATIONS_FILE).write_text(json.dumps(relations.to_json(), indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        if titles:
            (tmp / TITLES_FILE).write_text(json.dumps(titles, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())
        if dst.exists():
            dst.rmdir()  # empty, checked above
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stems


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
