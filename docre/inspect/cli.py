"""``docre inspect``: attribution records of chosen documents, written as JSON or as an HTML page.

    docre inspect --model runs/x/best_model --data dev.json --out inspect.html [--doc TITLE|INDEX ...]
                  [--only tp|fp|fn] [--relation P17] [--top-k 10]

The aggregate view (key-set sizes, intra/inter-sentence key pairs, relations resting on
cross-sentence key pairs) is printed to stdout.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional, Sequence

from docre.data.documents import Document
from docre.errors import DocreError

OUTPUT_FORMATS = (".json", ".html")


def output_format(path: str | Path) -> str:
    """``.json`` or ``.html`` from the output path's extension (else :class:`DocreError`)."""
    ext = Path(path).suffix.lower()
    if ext not in OUTPUT_FORMATS:
        raise DocreError(f"--out {path}: the extension must be .json (records) or .html (a page), "
                         f"not {ext or 'none'!r}")
    return ext


def select_documents(docs: Sequence[Document], wanted: Optional[Sequence[str]]) -> list[Document]:
    """Documents by title or by index in the file, in the order asked (all when ``wanted`` is empty).

    A value that is a title selects that document; otherwise an integer selects by index.

    Raises:
        DocreError: naming every value that matches no document.
    """
    if not wanted:
        return list(docs)
    by_title = {d.title: d for d in docs}
    out: list[Document] = []
    unknown: list[str] = []
    for w in wanted:
        doc = by_title.get(w)
        if doc is None and w.strip().lstrip("-").isdigit() and 0 <= int(w) < len(docs):
            doc = docs[int(w)]
        if doc is None:
            unknown.append(w)
        elif all(doc is not o for o in out):
            out.append(doc)
    if unknown:
        raise DocreError(f"--doc: no document with title or index {', '.join(repr(u) for u in unknown)} "
                         f"({len(docs)} documents, indices 0..{len(docs) - 1})")
    return out


def write_output(path: str | Path, records: list[dict[str, Any]], agg: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write records atomically: ``.json`` as ``{"schema_version", "meta", "aggregate", "documents"}``,
    ``.html`` as one self-contained page."""
    from docre.inspect.attribution import SCHEMA_VERSION
    from docre.inspect.report import render_html
    from docre.utils.io import atomic_write_json, atomic_write_text

    if output_format(path) == ".json":
        atomic_write_json(path, {"schema_version": SCHEMA_VERSION, "meta": meta, "aggregate": agg,
                                 "documents": records})
    else:
        atomic_write_text(path, render_html(records, agg, meta=meta))


def run_inspect(args: argparse.Namespace) -> int:
    """The ``inspect`` subcommand; returns the exit code (user errors raise :class:`DocreError`)."""
    from docre.inspect.attribution import aggregate, explain_documents, format_aggregate
    from docre.pipeline import Pipeline

    output_format(args.out)  # fail before loading a model
    quiet = bool(getattr(args, "quiet", False))
    pipe = Pipeline.from_dir(args.model, device=args.device, batch_size=args.batch_size, progress=not quiet)
    docs = select_documents(pipe.documents(args.data), args.doc)
    records = explain_documents(pipe.model, pipe.tokenizer, docs, only=args.only, relation=args.relation,
                                top_k=args.top_k, batch_size=args.batch_size, progress=not quiet)
    agg = aggregate(records)
    meta = {"model": str(args.model), "data": str(args.data), "head": pipe.model.config.model.head,
            "filters": {"only": args.only, "relation": args.relation, "top_k": args.top_k}}
    write_output(args.out, records, agg, meta)
    print(format_aggregate(agg))
    n = sum(len(r["triples"]) for r in records)
    print(f"{len(records)} documents, {n} triples -> {args.out}")
    return 0
