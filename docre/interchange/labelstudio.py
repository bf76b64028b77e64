"""Label Studio: its JSON export (read) and tasks with pre-annotations (written).

A Label Studio JSON export is a list of tasks ``{"id", "data": {"text", ...}, "annotations":
[{"result": [...], "was_cancelled"}], "predictions": [{"result": [...]}]}``. In a result, a
``labels`` item is a span (``value: {start, end, text, labels: [type]}``, offsets in characters)
and a ``relation`` item links two of them by id (``from_id``, ``to_id``, ``direction``,
``labels``). A span's ``value`` may carry ``link``: its entity's Wikipedia title (null: NIL), which
every mention of the entity then gets (written back the same way). docre reads the last annotation of a task that was not cancelled, else its last
prediction (a pre-annotated task nobody has corrected), else skips the task (counted). A relation
labelled with a coreference label (``Coreference``, ``Coref``) links its two spans as one entity;
``direction`` ``left`` reverses a relation and ``bi`` gives both directions. Older Label Studio
versions counted offsets in UTF-16 code units: a span whose offsets miss its text is read that way
when that matches.

Written (:func:`write_labelstudio`): a tasks file to import into Label Studio, each task with the
document text and title as ``data`` and the mentions, coreference chains and relations (with their
scores) as one prediction, plus ``NAME.label_config.xml`` (the labelling interface for these
labels) and ``NAME.relations.json`` (the relation inventory) beside it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence
from xml.sax.saxutils import quoteattr

from docre.data.relations import RelationInventory
from docre.errors import DataError, DataProblem
from docre.interchange.annotations import (
    COREFERENCE, AnnotatedText, ImportOptions, ImportReport, Link, Relation, Span,
)
from docre.utils.io import atomic_write_json, atomic_write_text, read_text_file

TEXT_KEY = "text"
FROM_NAME, TO_NAME = "label", "text"
MODEL_VERSION = "docre"


# ------------------------------------------------------------------ reading
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _utf16_to_index(text: str, offset: int) -> Optional[int]:
    """The code-point index of a UTF-16 offset into ``text`` (None when it splits a character)."""
    units = 0
    for i, ch in enumerate(text):
        if units == offset:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > offset:
            return None
    return len(text) if units == offset else None


def _region(doc: AnnotatedText, item: dict, fld: str) -> Optional[Span]:
    value = item.get("value")
    if not isinstance(value, dict):
        raise doc.fail(f"{fld}.value", "a labels result needs a value {start, end, text, labels}")
    b, e = value.get("start"), value.get("end")
    for key, v in (("start", b), ("end", e)):
        if not _is_int(v):
            raise doc.fail(f"{fld}.value.{key}", f"must be a character offset, got {v!r}")
    labels = value.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise doc.fail(f"{fld}.value.labels", "must be a non-empty list of label names")
    rid = item.get("id")
    if not isinstance(rid, str) or not rid:
        raise doc.fail(f"{fld}.id", "a region needs an id (relations refer to it)")
    text = value.get("text") if isinstance(value.get("text"), str) else None
    fits = 0 <= b < e <= len(doc.text) and (text is None or doc.text[b:e].split() == text.split())
    if not fits and text is not None:
        b16, e16 = _utf16_to_index(doc.text, b), _utf16_to_index(doc.text, e)
        if b16 is not None and e16 is not None and doc.text[b16:e16].split() == text.split():
            b, e = b16, e16  # an older Label Studio counted UTF-16 code units
    score = item.get("score")
    link = value.get("link")
    if link is not None and not isinstance(link, str):
        raise doc.fail(f"{fld}.value.link", f"must be a Wikipedia title (string) or null (NIL), got {link!r}")
    return Span(rid, labels[0], [(b, e)], text, f"{fld}.value", score if isinstance(score, (int, float)) else None,
                link=link, has_link="link" in value)


def _annotation(task: dict, doc: AnnotatedText, report: ImportReport) -> Optional[tuple[str, list]]:
    """The result list to read, and its field path: the last annotation not cancelled, else the last prediction."""
    for key in ("annotations", "completions", "predictions"):  # 'completions': Label Studio before 1.0
        items = task.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise doc.fail(key, f"must be a list, got {type(items).__name__}")
        for i in range(len(items) - 1, -1, -1):
            a = items[i]
            if not isinstance(a, dict) or a.get("was_cancelled"):
                continue
            result = a.get("result")
            if not isinstance(result, list):
                raise doc.fail(f"{key}[{i}].result", "must be a list of results")
            return f"{key}[{i}].result", result
    return None


def _task(task: Any, index: int, file: str, text_key: str, options: ImportOptions,
          report: ImportReport) -> Optional[AnnotatedText]:
    if not isinstance(task, dict):
        raise DataError(DataProblem(file, f"a task must be a JSON object, got {type(task).__name__}", index))
    data = task.get("data")
    title = None
    if isinstance(data, dict) and isinstance(data.get("title"), str) and data["title"]:
        title = data["title"]
    elif _is_int(task.get("id")) or isinstance(task.get("id"), str):
        title = f"task {task['id']}"
    else:
        title = f"task {index}"
    doc = AnnotatedText(title=title, text="", file=file, index=index)
    if not isinstance(data, dict) or not isinstance(data.get(text_key), str):
        raise doc.fail(f"data.{text_key}", f"the task has no text under data.{text_key}")
    doc.text = data[text_key]
    found = _annotation(task, doc, report)
    if found is None:
        report.skipped.append(title)
        return None
    prefix, result = found
    relations = []
    for i, item in enumerate(result):
        fld = f"{prefix}[{i}]"
        if not isinstance(item, dict):
            raise doc.fail(fld, "a result must be an object")
        kind = item.get("type")
        if kind == "labels":
            span = _region(doc, item, fld)
            if span is not None and span.id not in {s.id for s in doc.spans}:
                doc.spans.append(span)
        elif kind == "relation":
            relations.append((fld, item))
        else:
            report.add_ignored(f"'{kind}' results")
    for fld, item in relations:
        head, tail = item.get("from_id"), item.get("to_id")
        ids = {s.id for s in doc.spans}
        for key, sid in (("from_id", head), ("to_id", tail)):
            if sid not in ids:
                raise doc.fail(f"{fld}.{key}", f"relation to unknown entity {sid!r} (no labels region with this id)")
        labels = item.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise doc.fail(f"{fld}.labels", "must be a list of relation labels")
        if not labels:
            raise doc.fail(f"{fld}.labels", f"relation {head} -> {tail} has no label (give it a relation label, or "
                                            f"{options.coreference[0]!r} for coreference)")
        direction = item.get("direction", "right")
        pairs = {"right": [(head, tail)], "left": [(tail, head)], "bi": [(head, tail), (tail, head)]}.get(direction)
        if pairs is None:
            raise doc.fail(f"{fld}.direction", f"must be right, left or bi, got {direction!r}")
        score = item.get("score")
        for label in labels:
            if options.is_coreference(label):
                doc.links.append(Link([head, tail], fld))
                continue
            for h, t in pairs:
                doc.relations.append(Relation(f"{head}->{tail}", label, h, t, fld,
                                              score if isinstance(score, (int, float)) else None))
    return doc


def read_labelstudio(path: str | Path, options: ImportOptions, report: Optional[ImportReport] = None,
                     text_key: str = TEXT_KEY) -> list[AnnotatedText]:
    """The annotated tasks of a Label Studio JSON export (a list of tasks, or one task).

    Raises:
        DataError: malformed JSON or tasks, naming the file, the task (index and title) and the field.
    """
    report = report if report is not None else ImportReport()
    path = Path(path)
    try:
        obj = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise DataError(DataProblem(str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")) from exc
    except RecursionError as exc:
        raise DataError(DataProblem(str(path), "JSON nested too deeply to be a Label Studio export")) from exc
    tasks = [obj] if isinstance(obj, dict) else obj
    if not isinstance(tasks, list):
        raise DataError(DataProblem(str(path), "a Label Studio export is a JSON list of tasks"))
    out = []
    for i, task in enumerate(tasks):
        doc = _task(task, i, str(path), text_key, options, report)
        if doc is not None:
            out.append(doc)
    return out


# ------------------------------------------------------------------ writing
def sidecar(dst: str | Path, what: str) -> Path:
    """``tasks.json`` -> ``tasks.label_config.xml`` / ``tasks.relations.json``."""
    dst = Path(dst)
    return dst.with_name(f"{dst.stem}.{what}")


def task_json(doc: AnnotatedText, coreference: str = COREFERENCE) -> dict[str, Any]:
    """One task: the text and title as data, the annotations as one prediction."""
    result: list[dict[str, Any]] = []
    for s in doc.spans:
        b, e = s.fragments[0]
        item: dict[str, Any] = {"id": s.id, "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
                                "value": {"start": b, "end": e, "text": doc.text[b:e], "labels": [s.type]}}
        if s.has_link:
            item["value"]["link"] = s.link
        if s.score is not None:
            item["score"] = s.score
        result.append(item)
    for link in doc.links:
        for a, b in zip(link.spans, link.spans[1:]):
            result.append({"from_id": a, "to_id": b, "type": "relation", "direction": "right", "labels": [coreference]})
    scores = []
    for r in doc.relations:
        item = {"from_id": r.head, "to_id": r.tail, "type": "relation", "direction": "right", "labels": [r.label]}
        if r.score is not None:
            item["score"] = r.score
            scores.append(r.score)
        result.append(item)
    prediction: dict[str, Any] = {"model_version": MODEL_VERSION, "result": result}
    if scores:
        prediction["score"] = min(scores)  # the least certain relation: Label Studio can sort tasks by it
    return {"data": {TEXT_KEY: doc.text, "title": doc.title}, "predictions": [prediction]}


def label_config(entity_types: Sequence[str], relation_labels: Sequence[str], coreference: str = COREFERENCE) -> str:
    """A Label Studio labelling interface for these entity types and relation labels."""
    rels = "\n".join(f"    <Relation value={quoteattr(r)}/>" for r in [coreference, *relation_labels])
    ents = "\n".join(f"    <Label value={quoteattr(t)}/>" for t in entity_types)
    return (f"<View>\n  <Header value=\"$title\"/>\n  <Relations>\n{rels}\n  </Relations>\n"
            f"  <Labels name=\"{FROM_NAME}\" toName=\"{TO_NAME}\">\n{ents}\n  </Labels>\n"
            f"  <Text name=\"{TO_NAME}\" value=\"${TEXT_KEY}\"/>\n</View>\n")


def write_labelstudio(docs: Sequence[AnnotatedText], dst: str | Path, relations: RelationInventory,
                      labels: Sequence[str], coreference: str = COREFERENCE) -> list[Path]:
    """Write the tasks file ``dst`` and, beside it, its label config (entity types and the relation
    ``labels``) and relation inventory (each atomically); returns the paths written."""
    dst = Path(dst)
    entity_types = sorted({s.type for d in docs for s in d.spans})
    config, inventory = sidecar(dst, "label_config.xml"), sidecar(dst, "relations.json")
    atomic_write_text(config, label_config(entity_types, labels, coreference))
    atomic_write_json(inventory, relations.to_json())
    atomic_write_json(dst, [task_json(d, coreference) for d in docs], indent=1)
    return [dst, config, inventory]
