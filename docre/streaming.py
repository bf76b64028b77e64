"""Streaming prediction in bounded memory, in one process or sharded across several.

The layer every prediction command shares (``docre predict``, ``submit``, ``inspect``, and
any command that turns some input into documents, e.g. raw text):

1. **documents in**: :func:`open_documents` turns a file (``.json`` read incrementally,
   ``.jsonl``), a list of DocRED dicts or :class:`~docre.data.documents.Document` objects,
   or any iterator of them into a :class:`DocumentSource`: validated documents one at a
   time, and their number when it is cheap to know (a file gets a first validation pass, so
   a bad document deep in a big file stops the run before any model work).
2. **chunks**: :func:`predict_documents` featurises and predicts ``chunk_size`` documents at a
   time (length-sorted batches inside a chunk) and yields one :class:`Prediction` per
   document, in input order. Only one chunk's documents and features are held.
3. **records out**: the caller maps each prediction to its record (readable JSON, result.json
   rows, attribution records) and writes it at once with
   :func:`docre.utils.jsonstream.open_record_writer` (temporary file, renamed at the end).

Several processes (``accelerate launch`` / ``torchrun``, see :func:`launched_processes`):
process ``r`` of ``W`` predicts the chunks ``r, r + W, r + 2W, ...`` (the same chunks a single
process forms, hence the same batches and the same numbers), writes its records to a shard
file beside the output, and after a barrier the main process merges the shards by input
position (:func:`ordered_records`) into the one output a single process would have written.
"""
from __future__ import annotations

import contextlib
import heapq
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, TypeVar, Union

from docre.data.documents import Document
from docre.data.features import DocFeatures, featurize_documents
from docre.data.stream import iter_documents, scan_documents, validate_stream

logger = logging.getLogger("docre")

T = TypeVar("T")
DEFAULT_CHUNK_SIZE = 256  # documents featurised and predicted together (the unit of sharding too)
DocsLike = Union[str, Path, Iterable[Document], Iterable[dict]]


# ---------------------------------------------------------------------------- documents in
@dataclass
class DocumentSource:
    """Validated documents to predict, one at a time.

    ``documents`` is iterated once; ``total`` is their number when known (else None);
    ``name`` names the input in messages.
    """

    documents: Iterable[Document]
    total: Optional[int]
    name: str


def open_documents(docs: DocsLike, precheck: bool = True, progress: bool = False) -> DocumentSource:
    """Documents from a file path, a list of DocRED dicts / Documents, or any iterable of them.

    A path is read incrementally (``.json``, ``.jsonl``, ``.data``); with ``precheck`` the
    whole file is first validated (no documents kept) and counted. A list of dicts is
    validated before anything is predicted, as :meth:`docre.pipeline.Pipeline.predict` always
    did. Any other iterable is validated as it is consumed. ``progress``: a counter while a file
    is checked.

    Raises:
        DataError: naming the file (or ``<documents>``), the document index and title, and the
            field, of the first problem (with ``precheck`` or a list: before returning).
    """
    if isinstance(docs, (str, Path)):
        total = None
        if precheck:
            with progress_bar(None, "check", progress) as bar:
                total = scan_documents(docs, on_document=bar.update)
        return DocumentSource(iter_documents(docs), total, str(docs))
    if isinstance(docs, Sequence):
        if docs and not isinstance(docs[0], Document):
            from docre.data.reader import documents_from_json

            docs = documents_from_json(list(docs), source="<documents>")
        return DocumentSource(validate_stream(docs, "<documents>"), len(docs), "<documents>")
    return DocumentSource(validate_stream(docs, "<documents>"), None, "<documents>")


# ---------------------------------------------------------------------------- chunks and shards
def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def in_shard(position: int, rank: int, world: int, chunk_size: int) -> bool:
    """Whether the item at ``position`` belongs to process ``rank`` of ``world``: whole chunks
    of ``chunk_size`` items are dealt out in turn (chunk ``k`` to process ``k % world``)."""
    return (position // chunk_size) % world == rank


def shard_size(total: int, rank: int, world: int, chunk_size: int) -> int:
    """How many of ``total`` items process ``rank`` gets (see :func:`in_shard`)."""
    full, rest = divmod(total, chunk_size)  # full chunks, items in the last short chunk
    n = (full // world + (1 if rank < full % world else 0)) * chunk_size
    return n + (rest if rest and full % world == rank else 0)


@dataclass
class TruncationTally:
    """Mentions dropped by ``max_seq_length``, counted chunk by chunk and reported once."""

    lost: int = 0
    docs: int = 0
    empty: int = 0

    def add(self, features: Sequence[DocFeatures]) -> None:
        for f in features:
            if f.num_truncated_mentions:
                self.lost += f.num_truncated_mentions
                self.docs += 1
                self.empty += int(any(not m for m in f.entity_mentions))

    def report(self, source: str, max_seq_length: int) -> None:
        if self.lost:
            logger.warning(
                "%s: %d mentions in %d documents lie past max_seq_length=%d and are dropped; %d documents have "
                "entities left with no mention (scored from a zero vector). Raise data.max_seq_length or set it "
                "to 0 (sliding windows over the whole document).", source, self.lost, self.docs, max_seq_length,
                self.empty)


@dataclass
class Prediction:
    """One document's prediction: its ``position`` in the input, the document, and its predicted
    triples in result.json form with a ``score`` (:func:`docre.inference.triples_from_logits`)."""

    position: int
    document: Document
    triples: list[dict[str, Any]] = field(default_factory=list)


def predict_documents(model: Any, tokenizer: Any, documents: Iterable[Document], max_seq_length: int,
                      batch_size: int = 8, chunk_size: int = DEFAULT_CHUNK_SIZE, shard: tuple[int, int] = (0, 1),
                      on_batch: Optional[Callable[[int], None]] = None, source: str = "<documents>"
                      ) -> Iterator[Prediction]:
    """Predict documents a chunk at a time; yield one :class:`Prediction` per document, in order.

    Args:
        model, tokenizer: a loaded :class:`docre.models.model.DocREModel` and its tokenizer.
        documents: validated documents (consumed once).
        max_seq_length: subwords per document (0: whole documents through sliding windows).
        batch_size: documents per forward pass (length-sorted inside a chunk).
        chunk_size: documents featurised and predicted together.
        shard: ``(rank, world)``: predict only the chunks of process ``rank`` (:func:`in_shard`).
        on_batch: called with the number of documents after each forward pass.
        source: names the input in the truncation warning (logged once, at the end).
    """
    from docre.inference import predict

    rank, world = shard
    mine = ((p, d) for p, d in enumerate(documents) if in_shard(p, rank, world, chunk_size))
    tally = TruncationTally()
    for chunk in chunked(mine, chunk_size):
        docs = [d for _, d in chunk]
        feats = featurize_documents(docs, tokenizer, model.relations, max_seq_length,
                                    markers=model.config.data.entity_markers)
        tally.add(feats)
        triples, _ = predict(model, feats, batch_size, on_batch=on_batch)
        by_title: dict[str, list[dict[str, Any]]] = {}
        for t in triples:
            by_title.setdefault(t["title"], []).append(t)
        for p, d in chunk:
            yield Prediction(p, d, by_title.get(d.title, []))
    tally.report(source, max_seq_length)


def progress_bar(total: Optional[int], desc: str, enabled: bool) -> Any:
    """A tqdm bar over documents (``total`` None: a counter without an end)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="doc", disable=not enabled, dynamic_ncols=True)


# ---------------------------------------------------------------------------- processes
@dataclass
class Processes:
    """This process's place in a launch: ``rank`` of ``world`` processes (1: a plain run)."""

    rank: int = 0
    world: int = 1
    device: Optional[str] = None
    state: Any = None  # accelerate's PartialState when launched with several processes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world

    def barrier(self) -> None:
        if self.world > 1:
            self.state.wait_for_everyone()


def launched_processes(device: Optional[str] = None) -> Processes:
    """The processes of this launch: several under ``accelerate launch`` / ``torchrun``
    (``WORLD_SIZE`` > 1: accelerate joins the process group, gloo on CPU, NCCL on GPUs, and
    gives each process its device), else one. ``device`` ``cpu`` keeps every process on CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Processes(device=device)
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu")
    return Processes(state.process_index, state.num_processes, str(state.device), state)


def is_main_process() -> bool:
    """Rank 0 of a launch, or a plain run (read from the launcher's environment)."""
    return int(os.environ.get("RANK", "0")) == 0


def _shard_path(target: Path, rank: int, world: int) -> Path:
    return target.parent / f".{target.name}.part-{rank:05d}-of-{world:05d}.jsonl"


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (what a launcher sends the other processes when one fails) unwinds like an
    exception, so ``finally`` blocks remove this process's partial files."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def ordered_records(local: Iterable[tuple[int, Any]], target: Union[str, Path], procs: Processes
                    ) -> Iterator[Optional[Iterator[Any]]]:
    """All processes' ``(position, record)`` pairs as one iterator of records in position order.

    One process: ``local``'s records, lazily (the caller writes them as they are predicted).
    Several: each process writes its pairs to a shard file beside ``target`` (one JSON line
    each), waits for the others, and the main process gets an iterator merging the shards by
    position (the other processes get None); the shards are removed when the block ends,
    whether it succeeds or not. ``local`` must be in increasing position order.
    """
    if procs.world <= 1:
        yield (rec for _, rec in local)
        return
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    mine = _shard_path(target, procs.rank, procs.world)
    shards = [_shard_path(target, r, procs.world) for r in range(procs.world)]
    merged = False  # once every shard is complete, the main process owns (and removes) them all
    with _terminate_as_exit():
        try:
            with open(mine, "w", encoding="utf-8") as fh:
                for pos, rec in local:
                    fh.write(json.dumps([pos, rec], ensure_ascii=False) + "\n")
            procs.barrier()
            merged = True
            if not procs.is_main:
                yield None
                return
            with contextlib.ExitStack() as stack:
                files = [stack.enter_context(open(s, encoding="utf-8")) for s in shards]
                streams = [(json.loads(line) for line in f) for f in files]
                yield (rec for _, rec in heapq.merge(*streams, key=lambda pr: pr[0]))
        finally:
            for s in (shards if procs.is_main and merged else [] if merged else [mine]):
                with contextlib.suppress(FileNotFoundError):
                    s.unlink()


__all__ = ["DocumentSource", "open_documents", "chunked", "in_shard", "shard_size", "Prediction",
           "predict_documents", "Processes", "launched_processes", "ordered_records", "DEFAULT_CHUNK_SIZE"]
