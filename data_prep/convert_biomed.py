"""Convert a CDR or GDA ``.data`` file (ATLOP / edge-oriented graph format) to DocRED JSON.

Usage::

    python -m data_prep.convert_biomed data/cdr/train_filter.data data/cdr/train.json
    python -m data_prep.convert_biomed data/gda/train.data data/gda/train.json --corpus gda

Writes ``OUT.json`` (validated by docre's reader first) and ``rel2id.json`` beside it,
both atomically. docre can also read ``.data`` files directly; converting is for tools
that expect DocRED JSON and for inspecting the result.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence, Union

from docre.data.biomed import CORPORA, biomed_relations, load_biomed_file
from docre.data.reader import documents_from_json
from docre.errors import DocreError
from docre.utils.io import atomic_write_json

PathLike = Union[str, Path]
REL2ID_NAME = "rel2id.json"


def convert(in_path: PathLike, out_path: PathLike, corpus: Optional[str] = None) -> dict:
    """Convert ``in_path`` to DocRED JSON at ``out_path`` plus ``rel2id.json`` beside it.

    Returns counts: documents, entities, mentions, facts, excluded_pairs, and the corpus.

    Raises:
        DataError: the input is malformed (file, line, PubMed id and field are named).
        DocreError: ``rel2id.json`` beside the output already holds other relations.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    raw_docs, spec = load_biomed_file(in_path, corpus)
    if spec is None:
        raise DocreError(f"{in_path}: has no documents, so the corpus cannot be detected; pass --corpus")
    name = spec.name
    relations = biomed_relations(name)
    docs = documents_from_json(raw_docs, str(in_path), relations)  # same checks as docre's reader
    rel2id = {r: i for i, r in enumerate(relations.ids)}
    rel2id_path = out_path.parent / REL2ID_NAME
    if rel2id_path.exists():
        try:
            existing = json.loads(rel2id_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            existing = None
        if existing != rel2id:
            raise DocreError(
                f"{rel2id_path} already exists with different contents ({existing!r}, this corpus needs "
                f"{rel2id!r}); write the output to another folder"
            )
    atomic_write_json(out_path, raw_docs, indent=None)
    atomic_write_json(rel2id_path, rel2id)
    return {
        "corpus": name,
        "documents": len(docs),
        "entities": sum(len(d.entities) for d in docs),
        "mentions": sum(len(e.mentions) for d in docs for e in d.entities),
        "facts": sum(len(d.labels or []) for d in docs),
        "excluded_pairs": sum(len(r["excluded_pairs"]) for r in raw_docs),
        "relation": relations.ids[1],
        "rel2id": str(rel2id_path),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.convert_biomed",
        description="Convert a CDR/GDA .data file (ATLOP's tab-separated format) into a DocRED-format JSON file, "
                    "and write rel2id.json beside it.",
    )
    parser.add_argument("input", type=Path, metavar="IN.data", help="the .data file, e.g. train_filter.data")
    parser.add_argument("output", type=Path, metavar="OUT.json", help="the DocRED JSON file to write")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default=None,
                        help="cdr (Chemical/Disease, relation CID) or gda (Gene/Disease, relation GDA); "
                             "detected from the entity types when omitted")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        stats = convert(args.input, args.output, args.corpus)
    except DocreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.output}: {stats['documents']} documents, {stats['entities']} entities "
        f"({stats['mentions']} mentions), {stats['facts']} {stats['relation']} facts, "
        f"{stats['excluded_pairs']} excluded pairs ({stats['corpus'].upper()}); relation ids in {stats['rel2id']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
