"""``docre inspect``: attribution records of chosen documents, written as JSON or as an HTML page.

    docre inspect --model runs/x/best_model --data dev.json --out inspect.html [--doc TITLE|INDEX ...]
                  [--only tp|fp|fn] [--relation P17] [--top-k 10]

The aggregate view (key-set sizes, intra/inter-sentence key pairs, relations resting on
cross-sentence key pairs) is printed to stdout.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from docre.data.documents import Document
from docre.errors import DocreError
from docre.streaming import DEFAULT_CHUNK_SIZE

OUTPUT_FORMATS = (".json", ".html")


def output_format(path: str | Path) -> str:
    """``.json`` or ``.html`` from the output path's extension (else :class:`DocreError`); ``-``
    (standard output) is ``.json``."""
    if str(path) == "-":
        return ".json"
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


def write_output(path: str | Path, records: Iterable[dict[str, Any]], agg: Optional[dict[str, Any]],
                 meta: dict[str, Any]) -> dict[str, Any]:
    """Write records atomically: ``.json`` as ``{"schema_version", "meta", "aggregate", "documents"}``
    (indented), ``.html`` as one self-contained page; return the aggregate.

    ``records`` may be any iterable (consumed as it is written). With ``agg`` None it is
    computed here: the records are first spooled to a temporary file beside ``path`` (the
    aggregate comes before the documents), so they are never all in memory.
    """
    from docre.inspect.attribution import SCHEMA_VERSION, aggregate
    from docre.inspect.report import write_html
    from docre.utils.io import atomic_path
    from docre.utils.jsonstream import write_object_streaming

    path = Path(path)
    fmt = output_format(path)
    with contextlib.ExitStack() as stack:
        if agg is None:
            spool = _spool(stack, path, records)
            agg = aggregate(spool())
            records = spool()
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            if fmt == ".json":
                write_object_streaming(fh, {"schema_version": SCHEMA_VERSION, "meta": meta, "aggregate": agg},
                                       "documents", records, indent=2)
                fh.write("\n")
            else:
                write_html(fh, records, agg, meta=meta)
    return agg


def _spool(stack: contextlib.ExitStack, path: Path, records: Iterable[dict[str, Any]]):
    """Write records to a hidden temporary file beside ``path`` (removed when ``stack`` closes);
    return a function giving a fresh iterator over them."""
    import tempfile

    folder = None if str(path) == "-" else path.parent  # standard output: the system's temporary folder
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".spool", dir=folder)
    spool = Path(name)
    stack.callback(lambda: spool.unlink(missing_ok=True))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def read() -> Iterator[dict[str, Any]]:
        with open(spool, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)

    return read


def select_from_file(source: Iterable[Document], wanted: Sequence[str]) -> list[Document]:
    """:func:`select_documents` over a stream of documents, keeping only the wanted ones (by
    title, or by index in the file) in memory."""
    titles = set(wanted)
    indices = {int(w) for w in wanted if w.strip().lstrip("-").isdigit()}
    kept: dict[int, Document] = {}
    count = 0
    for doc in source:
        if doc.title in titles or count in indices:
            kept[count] = doc
        count += 1
    return select_documents(_SparseDocuments(kept, count), wanted)


class _SparseDocuments(Sequence):
    """``count`` documents of which only some are held (what :func:`select_documents` looks at)."""

    def __init__(self, kept: dict[int, Document], count: int):
        self.kept, self.count = kept, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Document:  # type: ignore[override]
        return self.kept[i]

    def __iter__(self) -> Iterator[Document]:
        return iter(self.kept.values())


def explain_stream(pipe: Any, docs: Any, shard: tuple[int, int] = (0, 1), only: Optional[str] = None,
                   relation: Optional[str] = None, top_k: int = 10, name: Optional[str] = None
                   ) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(position, attribution record)`` of every document of ``docs`` (a file, a list, any
    iterable) in process ``shard[0]``'s chunks, explained ``pipe.chunk_size`` documents at a time.
    ``name`` names the input in errors (default: the file, or ``<documents>``)."""
    from docre.inspect.attribution import explain_documents
    from docre.streaming import DocumentSource, chunked, in_shard, open_documents, progress_bar, shard_size

    source = docs if isinstance(docs, DocumentSource) else open_documents(docs, progress=pipe.progress)
    rank, world = shard
    total = None if source.total is None else shard_size(source.total, rank, world, pipe.chunk_size)
    mine = ((p, d) for p, d in enumerate(source.documents) if in_shard(p, rank, world, pipe.chunk_size))
    with progress_bar(total, "explain", pipe.progress) as bar:
        for chunk in chunked(mine, pipe.chunk_size):
            records = explain_documents(pipe.model, pipe.tokenizer, [d for _, d in chunk], only=only,
                                        relation=relation, top_k=top_k, batch_size=pipe.batch_size,
                                        source=name or source.name)
            for (p, _), rec in zip(chunk, records):
                yield p, rec
            bar.update(len(chunk))


def run_inspect(args: argparse.Namespace) -> int:
    """The ``inspect`` subcommand; returns the exit code (user errors raise :class:`DocreError`).

    Streams: documents are read, explained a chunk at a time and written as they come; under
    ``accelerate launch`` / ``torchrun`` each process explains its chunks and the main process
    writes the merged output.
    """
    from docre.data.stream import iter_documents
    from docre.inspect.attribution import _check_filters, format_aggregate
    from docre.pipeline import Pipeline
    from docre.streaming import launched_processes, open_documents, ordered_records

    output_format(args.out)  # fail before loading a model
    quiet = bool(getattr(args, "quiet", False))
    procs = launched_processes(args.device)
    progress = not quiet and procs.is_main
    # the documents are checked (and the --doc ones picked) before the model loads
    docs: Any = select_from_file(iter_documents(args.data), args.doc) if args.doc else \
        open_documents(args.data, progress=progress)
    pipe = Pipeline.from_dir(args.model, device=procs.device or args.device, batch_size=args.batch_size,
                             progress=progress, chunk_size=getattr(args, "chunk_size", None) or DEFAULT_CHUNK_SIZE,
                             precision=getattr(args, "precision", "fp32"))
    _check_filters(pipe.model, args.only, args.relation, args.top_k)
    meta = {"model": str(args.model), "data": str(args.data), "head": pipe.model.config.model.head,
            "filters": {"only": args.only, "relation": args.relation, "top_k": args.top_k}}
    local = explain_stream(pipe, docs, procs.shard, only=args.only, relation=args.relation, top_k=args.top_k,
                           name=str(args.data))
    with ordered_records(local, args.out, procs) as records:
        if records is None:
            return 0
        counts = {"documents": 0, "triples": 0}

        def counted(recs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for r in recs:
                counts["documents"] += 1
                counts["triples"] += len(r["triples"])
                yield r

        agg = write_output(args.out, counted(records), None, meta)
    stream = sys.stderr if str(args.out) == "-" else sys.stdout  # the records went to standard output
    print(format_aggregate(agg), file=stream)
    print(f"{counts['documents']} documents, {counts['triples']} triples -> {args.out}", file=stream)
    return 0
