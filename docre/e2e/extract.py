"""Plain text in, DocRED-format documents with predicted entities and relations out.

The core is :func:`extract_records`: an iterator of ``(id, text)`` in, one record per text out,
processed ``batch_size`` texts at a time (memory stays bounded by one chunk, so it can sit behind
any streaming reader and writer). A record is what ``docre predict`` writes for a document --
``title``, ``sents``, ``vertexSet``, ``index``, ``relations`` -- plus the input's ``id`` and
``text``; every mention carries ``char_span`` ``[begin, end)`` into ``text``
(``text[begin:end] == name``) and ``score`` (1 - p(not a mention)); every entity's mentions carry
the entity's type. Relations are ``{"h", "t", "r", "relation", "score", "head", "head_type",
"tail", "tail_type"}`` with ``score = sigmoid(l_r - l_TH)`` (above 0.5 exactly when predicted).

Inputs (:func:`iter_text_inputs`): a ``.txt`` file (its id: the file name without ``.txt``), a
directory of ``.txt`` files (sorted by name), or a ``.jsonl`` file of ``{"id": ..., "text": ...}``
lines. Empty texts, binary files (NUL bytes), invalid UTF-8, a ``.jsonl`` line that is not an
object with a string ``text``, and repeated ids are refused with a :class:`DataError` naming the
file, the document and the field.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import torch

from docre.data.documents import Document, Entity, Mention
from docre.data.features import featurize_documents
from docre.data.text import TokenizedText, tokenize_text
from docre.errors import DataError, DataProblem, DocreError
from docre.inference import readable_predictions, triples_from_logits
from docre.models.batch import collate
from docre.e2e.features import SpanView, span_view
from docre.e2e.model import JointModel, PredictedEntities
from docre.utils.io import atomic_path

TEXT_SUFFIX = ".txt"
JSONL_SUFFIX = ".jsonl"
#: characters per read when a file is checked for NUL bytes
_READ_BLOCK = 1 << 20


# ---------------------------------------------------------------------------- inputs
def check_text(text: Any, source: str, index: Optional[int] = None, doc_id: Optional[str] = None,
               fld: Optional[str] = None) -> str:
    """``text`` if it is a non-empty string without NUL characters, else a :class:`DataError`."""
    if not isinstance(text, str):
        raise DataError(DataProblem(source, f"must be a string, got {type(text).__name__}", index, doc_id, fld))
    if not text.strip():
        raise DataError(DataProblem(source, "empty text: nothing to extract from", index, doc_id, fld))
    nul = text.find("\x00")
    if nul >= 0:
        raise DataError(DataProblem(source, f"contains a NUL character at offset {nul} (binary data, not text)",
                                    index, doc_id, fld))
    return text


def read_text(path: Path) -> str:
    """A ``.txt`` file's text: UTF-8, not binary, not empty (else a :class:`DataError` naming the file)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(DataProblem(str(path), f"cannot read file: {exc.strerror or exc}")) from exc
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(DataProblem(str(path), f"binary file (a NUL byte at offset {nul}), not text"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(DataProblem(str(path), f"not valid UTF-8 (line {line}, byte offset {exc.start})")) from exc
    if not text.strip():
        raise DataError(DataProblem(str(path), "empty file: no text to extract from"))
    return text.removeprefix("\ufeff")  # a byte-order mark is no part of the text


def _jsonl_items(path: Path) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    index = 0
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(DataProblem(str(path), f"cannot read file: {exc.strerror or exc}")) from exc
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            where = f"line {lineno}"
            if b"\x00" in raw:
                raise DataError(DataProblem(str(path), f"{where}: binary data (a NUL byte), not JSON lines", index))
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(DataProblem(str(path), f"{where}: not valid UTF-8 (byte {exc.start} of the line)",
                                            index)) from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(DataProblem(str(path), f"{where}: invalid JSON at column {exc.colno}: {exc.msg}",
                                            index)) from exc
            except RecursionError as exc:
                raise DataError(DataProblem(str(path), f"{where}: JSON nested too deeply", index)) from exc
            if not isinstance(obj, dict):
                raise DataError(DataProblem(str(path), f"{where}: must be an object {{\"id\": ..., \"text\": ...}}, "
                                                       f"got {type(obj).__name__}", index))
            doc_id = obj.get("id", f"{path.stem}:{lineno}")
            if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
                raise DataError(DataProblem(str(path), f"{where}: must be a string or an integer, got {doc_id!r}",
                                            index, None, "id"))
            doc_id = str(doc_id)
            if "text" not in obj:
                raise DataError(DataProblem(str(path), f"{where}: missing key 'text'", index, doc_id, "text"))
            text = obj["text"]
            if not isinstance(text, str):
                raise DataError(DataProblem(str(path), f"{where}: must be a string, got {type(text).__name__}",
                                            index, doc_id, "text"))
            if not text.strip():
                raise DataError(DataProblem(str(path), f"{where}: empty text", index, doc_id, "text"))
            check_text(text, str(path), index, doc_id, "text")
            if doc_id in seen:
                raise DataError(DataProblem(str(path), f"{where}: id used by an earlier line", index, doc_id, "id"))
            seen.add(doc_id)
            index += 1
            yield doc_id, text
    if index == 0:
        raise DataError(DataProblem(str(path), "no documents (an empty .jsonl file)"))


def iter_text_inputs(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(id, text)`` of every document under ``path`` (a ``.txt`` file, a directory of them, or a
    ``.jsonl`` file of ``{"id", "text"}`` lines), read lazily and validated as read.

    Raises:
        DataError: naming the file (and the line / document) and the field of the first problem.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == TEXT_SUFFIX and p.is_file())
        if not files:
            raise DataError(DataProblem(str(path), "a directory without .txt files"))
        for f in files:
            yield f.stem, read_text(f)
        return
    if not path.exists():
        raise DataError(DataProblem(str(path), "no such file or directory"))
    if path.suffix == JSONL_SUFFIX:
        yield from _jsonl_items(path)
    elif path.suffix == TEXT_SUFFIX:
        yield path.stem, read_text(path)
    else:
        raise DataError(DataProblem(str(path), "give a .txt file, a directory of .txt files, or a .jsonl file of "
                                               "{\"id\": ..., \"text\": ...} lines"))


def count_text_inputs(path: str | Path) -> int:
    """Validate every input under ``path`` (as :func:`iter_text_inputs`) and count the documents."""
    return sum(1 for _ in iter_text_inputs(path))


# ---------------------------------------------------------------------------- the model
def require_joint(model: Any, where: str = "the model") -> JointModel:
    """``model`` if it finds entities itself, else a :class:`DocreError` saying what to train."""
    if not isinstance(model, JointModel):
        raise DocreError(f"{where} extracts relations between given entities only (model.task = relation); "
                         "extracting from plain text needs a model trained with model.task end_to_end "
                         "(e.g. configs/demo_end_to_end.json)")
    return model


def document_from_entities(title: str, sents: Sequence[Sequence[str]], found: PredictedEntities, index: int,
                           tt: Optional[TokenizedText] = None) -> Document:
    """A DocRED document of the words ``sents`` with the predicted entities as its ``vertexSet``;
    with ``tt`` (the tokenised text the words come from) every mention carries its ``char_span``."""
    sent_of: dict[int, tuple[int, int]] = {}
    first = 0
    for s, words in enumerate(sents):
        for w in range(first, first + len(words)):
            sent_of[w] = (s, first)
        first += len(words)
    entities = []
    for cluster, typ in zip(found.clusters, found.entity_types):
        mentions = []
        for k in cluster:
            start, end = found.mentions[k]
            sid, first = sent_of[start]
            if tt is not None:
                b, e = tt.char_span(sid, start - first, end - first)
                name, char_span = tt.text[b:e], (b, e)
            else:
                name, char_span = " ".join(sents[sid][start - first: end - first]), None
            mentions.append(Mention(name=name, sent_id=sid, start=start - first, end=end - first, type=typ,
                                    char_span=char_span))
        entities.append(Entity(tuple(mentions)))
    return Document(title=title, sents=[list(s) for s in sents], entities=entities, labels=None, index=index)


def relation_triples(model: JointModel, tokenizer: Any, docs: Sequence[Document], encoded: Sequence[Any],
                     views: Sequence[SpanView], max_seq_length: int = 0) -> list[list[dict[str, Any]]]:
    """Stage 4, relations between the entities of ``docs`` (result.json triples per document).

    With ``data.entity_markers`` a second encoder pass over the text with ``*`` around the entities'
    mentions; without, the relation head reads the span pass ``encoded`` of the same words
    (:meth:`JointModel.relation_logits_from_span_pass`).
    """
    relations = model.relations
    markers = model.config.data.entity_markers
    feats = featurize_documents(docs, tokenizer, relations, max_seq_length, markers=markers)
    batch = collate(feats, relations.num_classes)
    batch.labels = [None] * len(feats)
    if markers:
        logits = model(batch, phase="eval").logits
    else:
        with model.precision_scope():
            logits = model.relation_logits_from_span_pass(encoded, views, batch)
    return [triples_from_logits(f, lg, relations, model.config.model.num_labels) for f, lg in zip(feats, logits)]


def encode_plain(model: JointModel, tokenizer: Any, docs: Sequence[Document], max_seq_length: int = 0
                 ) -> tuple[list[SpanView], list[Any]]:
    """The span views of documents (their words, entities ignored) and their markerless encoder pass."""
    plain = featurize_documents(docs, tokenizer, model.relations, max_seq_length, markers=False)
    views = [span_view(d, f, None, own_ids=False) for d, f in zip(docs, plain)]
    with model.precision_scope():  # --precision: autocast for the encoder pass
        encoded = model.encode_span_views(views, [f.input_ids for f in plain])
    return views, encoded


def _record(doc: Document, doc_id: str, text: str, found: PredictedEntities, triples: list[dict[str, Any]],
            relations: Any) -> dict[str, Any]:
    rec = readable_predictions([doc], triples, relations)[0]
    for ent, cluster in zip(rec["vertexSet"], found.clusters):
        for m, k in zip(ent, cluster):
            m["score"] = round(found.mention_scores[k], 6)
    rec["id"] = doc_id
    rec["text"] = text
    return rec


@torch.inference_mode()
def extract_chunk(model: JointModel, tokenizer: Any, items: Sequence[tuple[str, str]], start_index: int = 0,
                  max_seq_length: int = 0, source: str = "<text>", indices: Optional[Sequence[int]] = None
                  ) -> list[dict[str, Any]]:
    """Extract one batch of texts: ``(id, text)`` in, one record per text out (same order). The
    documents' positions in the input are ``start_index, start_index + 1, ...`` or ``indices``.

    Two encoder passes with entity markers (markerless text for mentions and coreference, then the
    text with ``*`` around the predicted mentions for relations), one without (``data.entity_markers``).
    """
    was_training = model.training
    model.eval()
    positions = list(indices) if indices is not None else [start_index + i for i in range(len(items))]
    texts = []
    for pos, (doc_id, text) in zip(positions, items):
        check_text(text, source, pos, doc_id, "text")
        texts.append(tokenize_text(text))
    plain_docs = [Document(title=doc_id, sents=tt.words, entities=[], labels=None, index=pos)
                  for pos, (doc_id, _), tt in zip(positions, items, texts)]
    views, encoded = encode_plain(model, tokenizer, plain_docs, max_seq_length)
    with model.precision_scope():  # the span scorer under --precision too
        found = [model.predict_entities(enc.hidden, v) for enc, v in zip(encoded, views)]
    docs = [document_from_entities(d.title, tt.words, f, d.index, tt) for d, tt, f in zip(plain_docs, texts, found)]
    triples = relation_triples(model, tokenizer, docs, encoded, views, max_seq_length)
    records = [_record(doc, doc_id, text, f, t, model.relations)
               for (doc_id, text), doc, f, t in zip(items, docs, found, triples)]
    if was_training:
        model.train()
    return records


def extract_records(model: Any, tokenizer: Any, items: Iterable[tuple[str, str]], batch_size: int = 8,
                    max_seq_length: int = 0, progress: bool = False, total: Optional[int] = None,
                    source: str = "<text>", chunk_size: int = 64) -> Iterator[dict[str, Any]]:
    """Records for ``(id, text)`` items, in input order (lazy): ``chunk_size`` texts are read at a
    time and extracted ``batch_size`` at a time, texts of similar length together (less padding in
    the encoder's batches, as ``docre predict`` batches documents).

    Args:
        model: a :class:`JointModel` (``model.task = end_to_end``).
        max_seq_length: subwords per document; 0 (default): whole documents through the encoder's
            sliding windows.
        total: the number of items, for the progress bar.
        chunk_size: texts read ahead and sorted by length (at least ``batch_size``).
    Raises:
        DocreError: the model is not an end-to-end model; DataError: an empty text or a repeated id.
    """
    from tqdm.auto import tqdm

    model = require_joint(model)
    bar = tqdm(total=total, desc="extract", unit="doc", disable=not progress, leave=False)
    seen: set[str] = set()
    chunk: list[tuple[str, str]] = []
    index = 0
    try:
        for doc_id, text in items:
            doc_id = str(doc_id)
            if doc_id in seen:
                raise DataError(DataProblem(source, "id used by an earlier document", index + len(chunk), doc_id, "id"))
            seen.add(doc_id)
            chunk.append((doc_id, text))
            if len(chunk) >= max(chunk_size, batch_size):
                yield from _extract_sorted(model, tokenizer, chunk, index, batch_size, max_seq_length, source, bar)
                index += len(chunk)
                chunk = []
        if chunk:
            yield from _extract_sorted(model, tokenizer, chunk, index, batch_size, max_seq_length, source, bar)
    finally:
        bar.close()


def _extract_sorted(model: JointModel, tokenizer: Any, chunk: Sequence[tuple[str, str]], start_index: int,
                    batch_size: int, max_seq_length: int, source: str, bar: Any) -> list[dict[str, Any]]:
    """The records of ``chunk`` in its order, extracted in batches of texts of similar length."""
    order = sorted(range(len(chunk)), key=lambda i: len(chunk[i][1]) if isinstance(chunk[i][1], str) else 0)
    records: list[Optional[dict[str, Any]]] = [None] * len(chunk)
    for s in range(0, len(order), batch_size):
        idx = order[s: s + batch_size]
        recs = extract_chunk(model, tokenizer, [chunk[i] for i in idx], max_seq_length=max_seq_length, source=source,
                             indices=[start_index + i for i in idx])
        for i, r in zip(idx, recs):
            records[i] = r
        bar.update(len(idx))
    return records  # type: ignore[return-value]


# ---------------------------------------------------------------------------- output
def write_records(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as they come, atomically: a JSON list (``.jsonl``: one record per line).

    Nothing is left at ``path`` if the records raise part-way. Returns the number written.
    """
    path = Path(path)
    lines = path.suffix == JSONL_SUFFIX
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            if not lines:
                fh.write("[")
            for rec in records:
                text = json.dumps(rec, ensure_ascii=False)
                if lines:
                    fh.write(text + "\n")
                else:
                    fh.write(("\n" if n == 0 else ",\n") + text)
                n += 1
            if not lines:
                fh.write("\n]\n")
    return n


def extract_file(pipeline: Any, text_path: str | Path, out_path: str | Path, total: Optional[int] = None
                 ) -> tuple[int, int, int]:
    """``docre extract``: every text under ``text_path`` through ``pipeline`` (a loaded
    :class:`docre.pipeline.Pipeline`) into ``out_path``, written as the records come and atomically.

    Returns (documents, entities, relations) written.
    """
    require_joint(pipeline.model, "this model")
    counts = [0, 0]

    def counted(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for rec in records:
            counts[0] += len(rec["vertexSet"])
            counts[1] += len(rec["relations"])
            yield rec

    records = extract_records(pipeline.model, pipeline.tokenizer, iter_text_inputs(text_path), pipeline.batch_size,
                              pipeline.extract_max_seq_length, progress=pipeline.progress, total=total,
                              source=str(text_path))
    n = write_records(out_path, counted(records))
    return n, counts[0], counts[1]


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records written by :func:`write_records` (a JSON list, or JSON lines for ``.jsonl``)."""
    from docre.utils.io import read_text_file

    path = Path(path)
    text = read_text_file(path)
    try:
        if path.suffix == JSONL_SUFFIX:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(DataProblem(str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")) \
            from exc
    if not isinstance(obj, list):
        raise DataError(DataProblem(str(path), f"top level must be a JSON list of documents, got {type(obj).__name__}"))
    return obj
