"""Read and validate DocRED-format files into :class:`Document` objects.

Validation happens while reading. Every problem names the file, the document (index and
title) and the field. :func:`read_documents` raises :class:`DataError` on the first
problem; :func:`validate_file` collects all of them (``docre data validate``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional, Sequence

from docre.data.documents import Document, Entity, Fact, Mention
from docre.data.relations import RelationInventory
from docre.errors import DataError, DataProblem
from docre.utils.io import read_text_file

EMPTY_FILE = "the file is empty (expected a JSON list of documents)"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    """A finite JSON number (not a boolean)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class _DocValidator:
    """Validates one raw document dict, recording problems instead of raising."""

    def __init__(self, file: str, index: int, raw: Any, relations: Optional[RelationInventory]):
        self.file, self.index, self.raw, self.relations = file, index, raw, relations
        self.title: Optional[str] = None
        self.problems: list[DataProblem] = []

    def problem(self, fld: Optional[str], msg: str) -> None:
        self.problems.append(DataProblem(self.file, msg, self.index, self.title, fld))

    def run(self) -> Optional[Document]:
        raw = self.raw
        if not isinstance(raw, dict):
            self.problem(None, f"a document must be a JSON object, got {type(raw).__name__}")
            return None
        title = raw.get("title")
        if "title" not in raw:
            self.problem("title", "missing key 'title'")
        elif not isinstance(title, str):
            self.problem("title", f"must be a string, got {type(title).__name__}")
        else:
            self.title = title
        sents = self._sents(raw)
        entities = self._entities(raw, sents)
        labels = self._labels(raw, entities)
        if self.problems:
            return None
        extra = {k: v for k, v in raw.items() if k not in ("title", "sents", "vertexSet", "labels")}
        return Document(title=title, sents=sents, entities=entities, labels=labels, index=self.index, extra=extra)

    def _sents(self, raw: dict) -> Optional[list[list[str]]]:
        if "sents" not in raw:
            self.problem("sents", "missing key 'sents'")
            return None
        sents = raw["sents"]
        if not isinstance(sents, list):
            self.problem("sents", f"must be a list of sentences, got {type(sents).__name__}")
            return None
        if not sents:
            self.problem("sents", "the document has no sentences")
            return None
        for i, s in enumerate(sents):
            if not isinstance(s, list) or not all(isinstance(w, str) for w in s):
                self.problem(f"sents[{i}]", "must be a list of word strings")
                return None
        return sents

    def _entities(self, raw: dict, sents: Optional[list[list[str]]]) -> Optional[list[Entity]]:
        if "vertexSet" not in raw:
            self.problem("vertexSet", "missing key 'vertexSet'")
            return None
        vs = raw["vertexSet"]
        if not isinstance(vs, list):
            self.problem("vertexSet", f"must be a list of entities, got {type(vs).__name__}")
            return None
        entities: list[Entity] = []
        for ei, ent in enumerate(vs):
            fld = f"vertexSet[{ei}]"
            if not isinstance(ent, list):
                self.problem(fld, f"an entity must be a list of mentions, got {type(ent).__name__}")
                entities.append(Entity(()))  # keep its index so labels are checked against the right count
                continue
            if not ent:
                self.problem(fld, "entity has no mentions")
                entities.append(Entity(()))
                continue
            mentions = []
            for mi, m in enumerate(ent):
                mention = self._mention(f"{fld}[{mi}]", m, sents)
                if mention is not None:
                    mentions.append(mention)
            entities.append(Entity(tuple(mentions)))
        return entities

    def _mention(self, fld: str, m: Any, sents: Optional[list[list[str]]]) -> Optional[Mention]:
        if not isinstance(m, dict):
            self.problem(fld, f"a mention must be an object, got {type(m).__name__}")
            return None
        for key in ("name", "sent_id", "pos"):
            if key not in m:
                self.problem(f"{fld}.{key}", f"missing key '{key}'")
                return None
        name, sid, pos, typ = m["name"], m["sent_id"], m["pos"], m.get("type", "")
        if not isinstance(name, str):
            self.problem(f"{fld}.name", f"must be a string, got {type(name).__name__}")
            return None
        if not isinstance(typ, str):
            self.problem(f"{fld}.type", f"must be a string, got {type(typ).__name__}")
            return None
        if not _is_int(sid):
            self.problem(f"{fld}.sent_id", f"must be an integer, got {sid!r}")
            return None
        if not (isinstance(pos, list) and len(pos) == 2 and all(_is_int(p) for p in pos)):
            self.problem(f"{fld}.pos", f"must be [start, end] integers, got {pos!r}")
            return None
        start, end = pos
        if sents is not None:
            if not 0 <= sid < len(sents):
                self.problem(f"{fld}.sent_id", f"sentence {sid} out of range (document has {len(sents)} sentences)")
                return None
            n = len(sents[sid])
            if not 0 <= start < end <= n:
                self.problem(f"{fld}.pos", f"span {pos} is outside sentence {sid} (length {n}) or empty/reversed")
                return None
        char_span = m.get("char_span")
        if char_span is not None:
            if not (isinstance(char_span, list) and len(char_span) == 2 and all(_is_int(c) for c in char_span)
                    and 0 <= char_span[0] < char_span[1]):
                self.problem(f"{fld}.char_span", f"must be [begin, end) character offsets, got {char_span!r}")
                return None
            char_span = (char_span[0], char_span[1])
        link, candidates, link_score = m.get("link"), m.get("candidates"), m.get("link_score")
        if link is not None and not isinstance(link, str):
            self.problem(f"{fld}.link", f"must be a knowledge-base title (string) or null (NIL), got {link!r}")
            return None
        if candidates is not None:
            candidates = self._candidates(f"{fld}.candidates", candidates)
            if candidates is None:
                return None
        if link_score is not None and not _is_number(link_score):
            self.problem(f"{fld}.link_score", f"must be a number or null, got {link_score!r}")
            return None
        return Mention(name=name, sent_id=sid, start=start, end=end, type=typ, char_span=char_span, link=link,
                       has_link="link" in m, candidates=candidates,
                       link_score=float(link_score) if link_score is not None else None)

    def _candidates(self, fld: str, candidates: Any) -> Optional[tuple[tuple[str, float], ...]]:
        """``[[title, prior], ...]`` -> a tuple of (title, prior); a problem (and None) otherwise."""
        if not isinstance(candidates, list):
            self.problem(fld, f"must be a list of [title, prior] pairs, got {type(candidates).__name__}")
            return None
        out = []
        for ci, c in enumerate(candidates):
            if not (isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and _is_number(c[1])):
                self.problem(f"{fld}[{ci}]", f"must be a [title, prior] pair (a string and a number), got {c!r}")
                return None
            out.append((c[0], float(c[1])))
        return tuple(out)

    def _labels(self, raw: dict, entities: Optional[list[Entity]]) -> Optional[list[Fact]]:
        if "labels" not in raw or raw["labels"] is None:
            return None
        labels = raw["labels"]
        if not isinstance(labels, list):
            self.problem("labels", f"must be a list, got {type(labels).__name__}")
            return None
        n_ent = len(entities) if entities is not None else None
        n_sents = len(raw["sents"]) if isinstance(raw.get("sents"), list) else None
        facts: list[Fact] = []
        for li, lab in enumerate(labels):
            fld = f"labels[{li}]"
            if not isinstance(lab, dict):
                self.problem(fld, "a label must be an object")
                continue
            missing = [k for k in ("h", "t", "r") if k not in lab]
            if missing:
                self.problem(f"{fld}.{missing[0]}", f"missing key '{missing[0]}'")
                continue
            h, t, r = lab["h"], lab["t"], lab["r"]
            ok = True
            for key, v in (("h", h), ("t", t)):
                if not _is_int(v):
                    self.problem(f"{fld}.{key}", f"must be an entity index (integer), got {v!r}")
                    ok = False
                elif n_ent is not None and not 0 <= v < n_ent:
                    self.problem(f"{fld}.{key}", f"unknown entity {v} (document has {n_ent} entities)")
                    ok = False
            if ok and h == t:
                self.problem(f"{fld}.t", f"head and tail are the same entity ({h})")
                ok = False
            if not isinstance(r, str):
                self.problem(f"{fld}.r", f"must be a relation id string, got {r!r}")
                ok = False
            elif self.relations is not None and r not in self.relations:
                self.problem(f"{fld}.r", f"unknown relation {r!r} (not in the relation inventory)")
                ok = False
            evidence = lab.get("evidence", [])
            if evidence is None:
                evidence = []
            if not isinstance(evidence, list) or not all(_is_int(e) for e in evidence):
                self.problem(f"{fld}.evidence", "must be a list of sentence ids")
                ok = False
            elif n_sents is not None and any(not 0 <= e < n_sents for e in evidence):
                self.problem(f"{fld}.evidence", f"sentence id out of range (document has {n_sents} sentences)")
                ok = False
            if ok:
                facts.append(Fact(h=h, t=t, r=r, evidence=tuple(evidence)))
        return facts


def _load_raw(path: Path) -> list[Any]:
    """Parse a file into a list of raw document dicts (DocRED JSON, JSON lines, or CDR/GDA ``.data``)."""
    if path.suffix == ".data":
        from docre.data.biomed import read_biomed_file  # noqa: WPS433 (optional format)

        return read_biomed_file(path)
    from docre.data.stream import is_jsonl, iter_raw_documents  # noqa: WPS433 (imports this module)

    if is_jsonl(path):
        return list(iter_raw_documents(path))
    text = read_text_file(path)
    if not text.strip():  # worded as the streaming reader words it (docre predict, submit, inspect)
        raise DataError(DataProblem(str(path), EMPTY_FILE))
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(DataProblem(str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")) from exc
    except RecursionError as exc:  # e.g. "[[[[...]]]]" thousands deep: not DocRED, and json cannot parse it
        raise DataError(DataProblem(str(path), "JSON nested too deeply to be DocRED documents")) from exc
    if not isinstance(obj, list):
        raise DataError(DataProblem(str(path), f"top level must be a JSON list of documents, got {type(obj).__name__}"))
    return obj


def _check_titles(file: str, docs: Sequence[Any]) -> list[DataProblem]:
    seen: dict[str, int] = {}
    problems = []
    for i, d in enumerate(docs):
        title = d.get("title") if isinstance(d, dict) else None
        if isinstance(title, str):
            if title in seen:
                problems.append(DataProblem(file, f"duplicate title (first used by document {seen[title]})", i, title, "title"))
            else:
                seen[title] = i
    return problems


def documents_from_json(
    raw_docs: Any, source: str = "<memory>", relations: Optional[RelationInventory] = None
) -> list[Document]:
    """Validate already-parsed DocRED JSON (a list of dicts); raise on the first problem."""
    if not isinstance(raw_docs, list):
        raise DataError(DataProblem(source, f"top level must be a JSON list of documents, got {type(raw_docs).__name__}"))
    docs = []
    for i, raw in enumerate(raw_docs):
        v = _DocValidator(source, i, raw, relations)
        doc = v.run()
        if v.problems:
            raise DataError(v.problems)
        docs.append(doc)
    problems = _check_titles(source, raw_docs)
    if problems:
        raise DataError(problems)
    return docs


def read_documents(
    path: str | Path, relations: Optional[RelationInventory] = None, require_labels: bool = False
) -> list[Document]:
    """Read and validate a DocRED-format file.

    Args:
        path: a DocRED JSON file, ``.jsonl`` (one document per line), or a CDR/GDA ``.data`` file.
        relations: when given, every label's relation must be in it.
        require_labels: when True, every document must carry ``labels`` (training data).

    Raises:
        DataError: naming file, document index and title, and field of the first problem.
    """
    path = Path(path)
    docs = documents_from_json(_load_raw(path), str(path), relations)
    if require_labels:
        for d in docs:
            if d.labels is None:
                raise DataError(DataProblem(str(path), "training data needs 'labels'", d.index, d.title, "labels"))
    return docs


def validate_file(path: str | Path, relations: Optional[RelationInventory] = None) -> tuple[int, list[DataProblem]]:
    """Check a whole file; return (number of documents, every problem found)."""
    path = Path(path)
    try:
        raw_docs = _load_raw(path)
    except DataError as exc:
        return 0, exc.problems
    problems: list[DataProblem] = []
    for i, raw in enumerate(raw_docs):
        v = _DocValidator(str(path), i, raw, relations)
        v.run()
        problems.extend(v.problems)
    problems.extend(_check_titles(str(path), raw_docs))
    return len(raw_docs), problems


def collect_relations(docs: Sequence[Document]) -> list[str]:
    """Relation ids used by the labels of ``docs``."""
    return [f.r for d in docs for f in (d.labels or [])]


__all__ = ["read_documents", "documents_from_json", "validate_file", "collect_relations", "RelationInventory"]
