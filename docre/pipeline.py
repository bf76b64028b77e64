"""Use a trained model from Python: ``Pipeline.from_dir(path).predict(documents)``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import torch

from docre.data.documents import Document
from docre.data.features import featurize_documents, report_truncation
from docre.data.reader import documents_from_json, read_documents
from docre.inference import predict
from docre.models.model import DocREModel

DocsLike = Union[str, Path, Sequence[Document], Sequence[dict]]


class Pipeline:
    """A loaded model directory plus its tokenizer.

    >>> pipe = Pipeline.from_dir("runs/demo/best_model")            # doctest: +SKIP
    >>> pipe.predict([{"title": ..., "sents": ..., "vertexSet": ...}])  # doctest: +SKIP
    >>> Pipeline.from_dir("runs/demo_end_to_end/best_model").extract("Plain text.")  # doctest: +SKIP
    """

    def __init__(self, model: DocREModel, tokenizer: Any, batch_size: int = 8, progress: bool = False,
                 max_seq_length: Optional[int] = None):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.progress = batch_size, progress
        # subwords per document (0: whole documents through sliding windows); default: as trained
        self.max_seq_length = model.config.data.max_seq_length if max_seq_length is None else max_seq_length
        # extraction from text reads whole documents unless told otherwise
        self.extract_max_seq_length = 0 if max_seq_length is None else max_seq_length

    @classmethod
    def from_dir(cls, directory: str | Path, device: Optional[str] = None, batch_size: int = 8,
                 progress: bool = False, max_seq_length: Optional[int] = None) -> "Pipeline":
        """Load a model directory written by ``docre train`` (safetensors + JSON, no pickle)."""
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, tok = DocREModel.load(directory, device=dev)
        return cls(model, tok, batch_size, progress, max_seq_length)

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

    def predict_triples(self, docs: DocsLike) -> list[dict[str, Any]]:
        """Predicted triples in CodaLab ``result.json`` form (title, h_idx, t_idx, r, evidence)."""
        documents = self.documents(docs)
        triples, _ = predict(self.model, self.featurize(documents, str(docs) if isinstance(docs, (str, Path)) else
                                                         "<documents>"), self.batch_size, progress=self.progress)
        return triples

    def predict(self, docs: DocsLike) -> list[dict[str, Any]]:
        """Readable predictions: per document its title and relations with entity and relation names."""
        documents = self.documents(docs)
        triples = self.predict_triples(documents)
        return readable_predictions(documents, triples, self.relations)

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

    def explain(self, doc: Union[Document, dict], **kwargs: Any) -> dict[str, Any]:
        """Attribution records of one document's predicted (and, with gold, missed) triples."""
        from docre.inspect.attribution import explain_documents

        documents = self.documents([doc])
        return explain_documents(self.model, self.tokenizer, documents, **kwargs)[0]


def readable_predictions(documents: Sequence[Document], triples: Iterable[dict[str, Any]], relations: Any
                         ) -> list[dict[str, Any]]:
    """Each document in DocRED format (without gold ``labels``), its ``index`` in the input, and its
    predicted ``relations``: ``{"h", "t", "r", "relation", "score", "head", "head_type", "tail",
    "tail_type"}`` (entity indices into ``vertexSet``, relation id and name, ``sigmoid(l_r - l_TH)``
    score, entity display names and types), highest score first."""
    by_title: dict[str, list[dict[str, Any]]] = {}
    for t in triples:
        by_title.setdefault(t["title"], []).append(t)
    out = []
    for d in documents:
        rels = []
        for t in by_title.get(d.title, []):
            h, tt = d.entities[t["h_idx"]], d.entities[t["t_idx"]]
            rels.append({"h": t["h_idx"], "t": t["t_idx"], "r": t["r"], "relation": relations.name(t["r"]),
                         "score": t.get("score"), "head": h.name, "head_type": h.type, "tail": tt.name,
                         "tail_type": tt.type})
        rels.sort(key=lambda r: -(r["score"] or 0.0))
        doc = d.to_json()
        doc.pop("labels", None)
        out.append({**doc, "index": d.index, "relations": rels})
    return out
