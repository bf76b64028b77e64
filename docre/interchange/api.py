"""``docre data import`` and ``docre data export``: annotation-tool files to DocRED JSON and back.

:func:`import_annotations` reads brat or Label Studio files, converts every document with
:func:`docre.interchange.annotations.to_docred`, checks the result with docre's reader and writes
it with the relation inventory that mapped its labels. :func:`export_annotations` writes a DocRED
file (gold ``labels``, or ``docre predict`` output with scored ``relations``) as pre-annotations
that a person corrects in the tool and imports back.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from docre.data.reader import documents_from_json
from docre.data.relations import RelationInventory
from docre.errors import DataError, DataProblem, DocreError
from docre.interchange import brat, labelstudio
from docre.interchange.annotations import (
    COREFERENCE, COREFERENCE_LABELS, ExportOptions, ImportOptions, ImportReport, RelationMapper, from_docred,
    brat_safe, name_collisions, to_docred,
)
from docre.utils.io import atomic_write_json, read_text_file

logger = logging.getLogger(__name__)
FORMATS = ("brat", "labelstudio")


def default_relations_path(out: str | Path) -> Path:
    """Where import writes the relation inventory when none is named: ``docs.json`` -> ``docs.relations.json``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.relations.json")


@dataclass
class ImportResult:
    documents: list[dict[str, Any]]
    report: ImportReport
    relations: RelationInventory
    relations_path: Path
    relations_written: bool


def import_annotations(fmt: str, src: str | Path, out: str | Path, relations: Optional[str | Path] = None,
                       options: Optional[ImportOptions] = None, text_key: str = labelstudio.TEXT_KEY) -> ImportResult:
    """Read brat (``fmt="brat"``: a folder of ``.txt``/``.ann``) or Label Studio (``"labelstudio"``: its
    JSON export) annotations from ``src`` and write DocRED JSON to ``out``.

    Args:
        relations: a relation inventory (rel2id.json / rel_info.json / relations.json) to map the
            relation labels through when the file exists; when it does not, the inventory of the
            labels found is written there. Default: ``OUT.relations.json``, written.
        options: tokenizer, entity grouping, discontinuous spans, coreference labels.
        text_key: Label Studio: the ``data`` field holding the text.

    Raises:
        DataError: bad input, naming file, document and field; nothing is written then.
    """
    if fmt not in FORMATS:
        raise DocreError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    options = options or ImportOptions()
    report = ImportReport()
    if relations is None and fmt == "brat" and (Path(src) / brat.RELATIONS_FILE).is_file():
        relations = Path(src) / brat.RELATIONS_FILE  # written there by export: labels may be relation names
    rel_path = Path(relations) if relations else default_relations_path(out)
    read_inventory = relations is not None and rel_path.exists()
    mapper = RelationMapper(RelationInventory.from_file(rel_path), str(rel_path)) if read_inventory else RelationMapper()
    if fmt == "brat":
        annotated = brat.read_brat(src, options, report)
    else:
        annotated = labelstudio.read_labelstudio(src, options, report, text_key)
    if not annotated:
        raise DataError(DataProblem(str(src), "no annotated document found"
                                              + (f" ({len(report.skipped)} without annotation)" if report.skipped else "")))
    docs = [to_docred(a, options, mapper, report) for a in annotated]
    inventory = mapper.inventory()
    documents_from_json(docs, str(src), inventory)  # docre's reader accepts what is written
    atomic_write_json(out, docs, indent=None)
    if not read_inventory:
        inventory.save(rel_path)
    return ImportResult(docs, report, inventory, rel_path, not read_inventory)


@dataclass
class ExportReport:
    documents: int = 0
    mentions: int = 0
    relations: int = 0
    below_min_score: int = 0
    text_from_words: int = 0  # documents without a text: their words joined by spaces
    name_collisions: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.documents} documents ({self.mentions} mentions, {self.relations} relations)"]
        if self.below_min_score:
            parts.append(f"{self.below_min_score} relations below --min-score left out")
        if self.text_from_words:
            parts.append(f"{self.text_from_words} texts built from the words (no 'text' field)")
        return "; ".join(parts)


def _load_docred(path: Path) -> list[dict[str, Any]]:
    try:
        raw = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise DataError(DataProblem(str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")) from exc
    except RecursionError as exc:
        raise DataError(DataProblem(str(path), "JSON nested too deeply to be DocRED documents")) from exc
    documents_from_json(raw, str(path))  # docre's checks: titles, sentences, mentions, labels
    return raw


def display_labels(inventory: RelationInventory, use_names: bool) -> dict[str, str]:
    """The label each relation id is shown with: its name when known and ``use_names`` (an id
    whose name another relation shares keeps its id), else the id."""
    labels = {r: (inventory.names.get(r) or r) if use_names else r for r in inventory.ids[1:]}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[brat_safe(label)] = counts.get(brat_safe(label), 0) + 1
    return {r: label if counts[brat_safe(label)] == 1 else r for r, label in labels.items()}


def export_inventory(found: list[str], names: dict[str, str], relations: Optional[str | Path] = None,
                     model: Optional[str | Path] = None) -> RelationInventory:
    """The relations an export declares: the inventory of ``model`` (its ``relations.json``) or of
    ``relations``, else DocRED's whole inventory when every id ``found`` is a DocRED relation, else
    the ids found; ids found but missing from the inventory are added at its end."""
    from docre.resources import wikidata_relation_labels

    if model is not None and relations is not None:
        raise DocreError("give --model or --relations, not both")
    if model is not None:
        relations = Path(model) / "relations.json"
        if not relations.is_file():
            raise DocreError(f"{model}: not a model directory (no relations.json)")
    if relations is not None:
        known = RelationInventory.from_file(relations)
        extra = [r for r in RelationInventory.from_relations(found).ids[1:] if r not in known]
        if extra:
            logger.warning("%d relation ids of the file are not in %s (%s): listed after its relations", len(extra),
                           relations, ", ".join(extra[:5]))
        return RelationInventory(known.ids + extra, {**names, **known.names})
    labels = wikidata_relation_labels()
    if found and all(r in labels for r in found):
        return RelationInventory.from_relations(labels, {**labels, **names})
    return RelationInventory.from_relations(found, names)


def export_annotations(fmt: str, file: str | Path, dst: str | Path, min_score: Optional[float] = None,
                       coreference: str = COREFERENCE, labels: str = "name",
                       relations: Optional[str | Path] = None, model: Optional[str | Path] = None) -> ExportReport:
    """Write the documents of a DocRED file as brat files (``dst``: a new folder) or Label Studio
    tasks (``dst``: a ``.json`` file), predictions with their scores as pre-annotations.

    Args:
        file: DocRED JSON: gold ``labels``, or ``docre predict`` output (``relations`` with ``score``).
        min_score: leave out predicted relations scored below it (gold labels have no score and stay).
        coreference: the relation (brat: equivalence) name that ties an entity's mentions together.
        labels: ``name``: relations are labelled with their names where known (the ``relation`` field
            of predictions, or ``relations``), else their ids; ``id``: always the ids.
        relations: a relation inventory whose names label the relations (e.g. DocRED's rel_info.json).
        model: a model directory: its ``relations.json`` is the inventory (instead of ``relations``).

    The annotation config (brat ``annotation.conf``, Label Studio label config) lists a whole
    inventory, so that an annotator can add a relation the predictions miss: that of ``model`` or
    ``relations``; else, when every relation id found is one of DocRED's, DocRED's 96 relations;
    else the relations found in ``file``.
    """
    if labels not in ("name", "id"):
        raise DocreError(f"labels must be 'name' or 'id', got {labels!r}")
    if fmt not in FORMATS:
        raise DocreError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    file = Path(file)
    raw_docs = _load_docred(file)
    options = ExportOptions(min_score=min_score, coreference=coreference)
    report = ExportReport()
    annotated, names, rel_ids = [], {}, []
    for i, raw in enumerate(raw_docs):
        doc, found = from_docred(raw, str(file), i, options)
        annotated.append(doc)
        names.update({k: v for k, v in found.items() if k not in names})
        rel_ids.extend(r.label for r in doc.relations)
        listed = len(raw["relations"]) if "relations" in raw else len(raw.get("labels") or [])
        report.below_min_score += listed - len(doc.relations)
        report.documents += 1
        report.mentions += len(doc.spans)
        report.relations += len(doc.relations)
        report.text_from_words += not isinstance(raw.get("text"), str)
        if name_collisions(doc):
            report.name_collisions.append(doc.title)
    if report.name_collisions:
        logger.warning("%d documents have only one-mention entities and two of them share a name and type (%s): "
                       "import them back with --entities links, or identical names make them one entity",
                       len(report.name_collisions), ", ".join(report.name_collisions[:5]))
    inventory = export_inventory(rel_ids, names, relations, model)
    shown = display_labels(inventory, labels == "name")
    for doc in annotated:
        for r in doc.relations:
            r.label = shown[r.label]
    label_list = [shown[r] for r in inventory.ids[1:]]
    if fmt == "brat":
        brat.write_brat(annotated, dst, inventory, label_list, coreference)
        report.written = [str(dst)]
    else:
        report.written = [str(p) for p in labelstudio.write_labelstudio(annotated, dst, inventory, label_list,
                                                                          coreference)]
    return report


# ------------------------------------------------------------------ command line (parsed in docre/cli.py)
def run_interchange_command(args: argparse.Namespace) -> int:
    """``docre data import`` / ``docre data export``; returns the exit code."""
    from docre.errors import DocreError
    from docre.utils.io import is_stdout

    if args.data_command == "import":
        if is_stdout(args.out) and args.relations is None:
            raise DocreError("--out -: name the relation inventory to read or write with --relations (by default "
                             "it is written beside the output file)")
        options = ImportOptions(entities=args.entities, tokenizer=args.tokenizer, discontinuous=args.discontinuous,
                                coreference=tuple(args.coreference or COREFERENCE_LABELS))
        res = import_annotations(args.format, args.src, args.out, args.relations, options, args.text_key)
        how = "written" if res.relations_written else "read"
        print(f"{args.out}: {res.report.summary()}; {len(res.relations) - 1} relation ids, inventory {how}: "
              f"{res.relations_path}", file=sys.stderr if is_stdout(args.out) else sys.stdout)
        return 0
    rep = export_annotations(args.format, args.file, args.out, args.min_score, args.coreference, args.labels,
                             args.relations, getattr(args, "model", None))
    print(f"{args.out}: {rep.summary()}" + (f"; also {', '.join(rep.written[1:])}" if len(rep.written) > 1 else ""))
    return 0
