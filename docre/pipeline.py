"""Use a trained model from Python: ``Pipeline.from_dir(path).predict(documents)``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import torch

from docre.data.documents import Document
from docre.data.features import featurize_documents, report_truncation
from docre.data.reader import documents_from_json, read_documents
from docre.inference import readable_prediction, readable_predictions  # noqa: F401 (re-exported: Pipeline API)
from docre.models.model import DocREModel
from docre.models.precision import check_precision
from docre.streaming import (DEFAULT_CHUNK_SIZE, DocumentSource, Prediction, Processes, open_documents,
                             ordered_records, predict_documents, progress_bar, shard_size)

DocsLike = Union[str, Path, Sequence[Document], Sequence[dict], Iterable[Document], Iterable[dict], DocumentSource]


class Pipeline:
    """A loaded model directory plus its tokenizer.

    >>> pipe = Pipeline.from_dir("runs/demo/best_model")            # doctest: +SKIP
    >>> pipe.predict([{"title": ..., "sents": ..., "vertexSet": ...}])  # doctest: +SKIP
    >>> Pipeline.from_dir("runs/demo_end_to_end/best_model").extract("Plain text.")  # doctest: +SKIP
    >>> for rec in pipe.predict_stream("big.jsonl"): ...             # doctest: +SKIP

    Every prediction method works a chunk of ``chunk_size`` documents at a time
    (:mod:`docre.streaming`); the ``*_stream`` methods also read and yield one document at a
    time, so memory does not grow with the input.
    """

    def __init__(self, model: DocREModel, tokenizer: Any, batch_size: int = 8, progress: bool = False,
                 max_seq_length: Optional[int] = None, chunk_size: int = DEFAULT_CHUNK_SIZE, precision: str = "fp32"):
        self.model, self.tokenizer = model, tokenizer
        # fp32 | bf16 | fp16: autocast for every prediction the model makes (docre.models.precision)
        model.inference_precision = check_precision(precision, next(model.parameters()).device)
        self.batch_size, self.progress = batch_size, progress
        # subwords per document (0: whole documents through sliding windows); default: as trained
        self.max_seq_length = model.config.data.max_seq_length if max_seq_length is None else max_seq_length
        self.chunk_size = chunk_size
        # extraction from text reads whole documents unless told otherwise
        self.extract_max_seq_length = 0 if max_seq_length is None else max_seq_length

    @classmethod
    def from_dir(cls, directory: str | Path, device: Optional[str] = None, batch_size: int = 8,
                 progress: bool = False, max_seq_length: Optional[int] = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, precision: str = "fp32") -> "Pipeline":
        """Load a model directory written by ``docre train`` (safetensors + JSON, no pickle).

        ``precision``: ``fp32`` (default), ``bf16`` or ``fp16`` (GPU only) autocast for prediction."""
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        check_precision(precision, dev)  # before the model loads
        model, tok = DocREModel.load(directory, device=dev)
        return cls(model, tok, batch_size, progress, max_seq_length, chunk_size, precision)

    @property
    def relations(self):
        return self.model.relations

    def documents(self, docs: DocsLike) -> list[Document]:
        """Validate input documents: a file path, DocRED dicts, or Document objects."""
        if isinstance(docs, (str, Path)):
            return read_documents(docs)
        docs = list(docs)
        if docs and isinstance(docs[0], Document):
            return docs  # type: ignore[return-value]
        return documents_from_json(docs, source="<documents>")

    def featurize(self, docs: Sequence[Document], source: str = "<documents>"):
        feats = featurize_documents(docs, self.tokenizer, self.relations, self.max_seq_length, progress=self.progress,
                                    markers=self.model.config.data.entity_markers)
        report_truncation(feats, source, self.max_seq_length)
        return feats

    def stream(self, docs: DocsLike, shard: tuple[int, int] = (0, 1), precheck: bool = True,
               desc: str = "predict") -> Iterator[Prediction]:
        """One :class:`~docre.streaming.Prediction` per document (position, document, triples
        with scores), in input order, predicted a chunk at a time.

        ``docs``: a file (``.json`` read incrementally, ``.jsonl``), a list of DocRED dicts or
        Documents, any iterable of them, or a :class:`~docre.streaming.DocumentSource` already opened. ``precheck``: validate and count a file first (a
        bad document stops the run before any model work; the progress bar knows its total).
        ``shard``: ``(rank, world)``: only process ``rank``'s chunks (:mod:`docre.streaming`).
        """
        source = docs if isinstance(docs, DocumentSource) else open_documents(docs, precheck, self.progress)
        rank, world = shard
        total = None if source.total is None else shard_size(source.total, rank, world, self.chunk_size)
        bar = progress_bar(total, desc, self.progress)
        try:
            yield from predict_documents(self.model, self.tokenizer, source.documents, self.max_seq_length,
                                         self.batch_size, self.chunk_size, shard, on_batch=bar.update,
                                         source=source.name)
        finally:
            bar.close()

    def predict_stream(self, docs: DocsLike, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Readable predictions (see :meth:`predict`), yielded one document at a time."""
        for p in self.stream(docs, **kwargs):
            yield readable_prediction(p.document, p.triples, self.relations)

    def predict_triples(self, docs: DocsLike) -> list[dict[str, Any]]:
        """Predicted triples in CodaLab ``result.json`` form (title, h_idx, t_idx, r, evidence, score)."""
        return [t for p in self.stream(docs) for t in p.triples]

    def predict(self, docs: DocsLike) -> list[dict[str, Any]]:
        """Readable predictions: per document its title and relations with entity and relation names."""
        return list(self.predict_stream(docs))

    def extract(self, text: str, id: str = "text") -> dict[str, Any]:
        """Entities and relations of a plain text (``model.task = end_to_end`` models).

        Returns one record: the document in DocRED format (``title`` = ``id``, ``sents``, ``vertexSet``
        whose mentions carry ``char_span`` ``[begin, end)`` into ``text`` and a ``score``), ``index``,
        ``relations`` as :meth:`predict` gives them, ``id`` and ``text``.
        """
        return next(iter(self.extract_many([(id, text)])))

    def extract_many(self, items: Iterable[Union[str, tuple[str, str]]]) -> Iterator[dict[str, Any]]:
        """Records (as :meth:`extract`) for texts or ``(id, text)`` pairs, lazily, ``batch_size`` at a
        time; a bare text gets its position as id."""
        from docre.e2e.extract import extract_records

        pairs = ((str(i), x) if isinstance(x, str) else (str(x[0]), x[1]) for i, x in enumerate(items))
        return extract_records(self.model, self.tokenizer, pairs, self.batch_size, self.extract_max_seq_length,
                               self.progress)

    def link(self, docs: DocsLike) -> list[dict[str, Any]]:
        """Entity linking (``model.task = linker`` models): the documents (DocRED dicts, Documents or a file)
        back as DocRED dicts with ``link`` (a Wikipedia title, or None for NIL) and ``link_score`` on
        every mention, one value per entity. Mentions without ``candidates`` take the model's alias table's."""
        from docre.linking.predict import linked_documents

        return linked_documents(self, docs)

    def explain(self, doc: Union[Document, dict], **kwargs: Any) -> dict[str, Any]:
        """Attribution records of one document's predicted (and, with gold, missed) triples."""
        from docre.inspect.attribution import explain_documents

        documents = self.documents([doc])
        return explain_documents(self.model, self.tokenizer, documents, **kwargs)[0]


def write_predictions(pipe: Pipeline, docs: DocsLike, out: str | Path, procs: Optional[Processes] = None
                      ) -> Optional[tuple[int, int]]:
    """Predict ``docs`` and write readable predictions to ``out`` as they come (``docre predict``).

    ``out``: a JSON list (indented as before) or, for ``.jsonl``/``.ndjson``, one document per
    line; written to a temporary file renamed at the end (a failure leaves no output). Under a
    launch of several processes (``procs``) each predicts its shard and the main process writes
    the merged output (the same bytes a single process writes).

    Returns (documents, predicted relations) on the process that wrote ``out``, else None.
    """
    from docre.utils.jsonstream import open_record_writer

    procs = procs or Processes()
    local = ((p.position, readable_prediction(p.document, p.triples, pipe.relations))
             for p in pipe.stream(docs, shard=procs.shard))
    with ordered_records(local, out, procs) as records:
        if records is None:
            return None
        n_docs = n_rel = 0
        with open_record_writer(out, indent=2) as writer:
            for rec in records:
                writer.write(rec)
                n_docs += 1
                n_rel += len(rec["relations"])
    return n_docs, n_rel


def write_submission(pipe: Pipeline, docs: DocsLike, out: str | Path, zip_path: Optional[str | Path] = None,
                     procs: Optional[Processes] = None) -> Optional[tuple[int, int]]:
    """Predict ``docs`` and write a CodaLab ``result.json`` (and its zip) as they come (``docre submit``).

    Sharded across ``procs`` like :func:`write_predictions`. Returns (documents, triples) on the
    process that wrote ``out``, else None.
    """
    from docre.evaluation.submission import result_json_writer

    procs = procs or Processes()
    local = ((p.position, p.triples) for p in pipe.stream(docs, shard=procs.shard))
    with ordered_records(local, out, procs) as records:
        if records is None:
            return None
        n_docs = 0
        with result_json_writer(out, zip_path) as writer:
            for triples in records:
                n_docs += 1
                for t in triples:
                    writer.add(t)
    return n_docs, writer.count
