"""End-to-end evaluation: extract from the text of gold documents, score every stage.

The text of a gold document is its ``text`` field when it has one and every mention carries
``char_span`` (a converter from an original corpus, e.g. DWIE's, keeps both); otherwise its words
joined with single spaces (sentences too), the mentions' character spans following from that. The
extracted documents are matched to the gold ones by title and scored on character spans
(:mod:`docre.evaluation.end_to_end`), so a different sentence split or tokenisation of the same
text costs nothing by itself.

:func:`evaluate_end_to_end` also scores the relation stage of the same model given the gold
entities (the official DocRED scores), so the cost of finding the entities is visible, and
:func:`oracle_stage_scores` the stage table: each stage given gold input from the stage before.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch

from docre.data.documents import Document
from docre.data.features import featurize_documents
from docre.errors import DataError, DataProblem
from docre.evaluation.end_to_end import DEFAULT_THRESHOLDS, EntityGraph, end_to_end_scores
from docre.evaluation.official import official_scores
from docre.inference import predict
from docre.e2e.features import SpanView


def gold_text(doc: Document) -> tuple[str, list[list[tuple[int, int]]]]:
    """The text of a gold document and, per entity, its mentions' character spans in it."""
    text = doc.extra.get("text")
    mentions = [m for e in doc.entities for m in e.mentions]
    if isinstance(text, str) and mentions and all(m.char_span is not None for m in mentions):
        return text, [[m.char_span for m in e.mentions] for e in doc.entities]  # type: ignore[misc]
    starts: list[list[int]] = []
    pos = 0
    for sent in doc.sents:
        row = []
        for w in sent:
            row.append(pos)
            pos += len(w) + 1
        starts.append(row)
    text = " ".join(w for s in doc.sents for w in s)
    spans = [[(starts[m.sent_id][m.start], starts[m.sent_id][m.end - 1] + len(doc.sents[m.sent_id][m.end - 1]))
              for m in e.mentions] for e in doc.entities]
    return text, spans


def gold_graph(doc: Document) -> EntityGraph:
    """The gold entities (character spans, the entity's type) and relations of a document."""
    _, spans = gold_text(doc)
    entities = [(frozenset(s), e.type) for s, e in zip(spans, doc.entities)]
    relations = {(f.h, f.t, f.r): 1.0 for f in doc.labels or []}
    return EntityGraph(entities, relations)


def record_graph(rec: dict[str, Any], source: str = "<records>", index: int = 0) -> EntityGraph:
    """The predicted entities and relations of an extract record (``vertexSet`` with ``char_span``)."""
    entities = []
    title = rec.get("title") if isinstance(rec, dict) else None
    try:
        for e, ent in enumerate(rec["vertexSet"]):
            spans = []
            for k, m in enumerate(ent):
                cs = m.get("char_span")
                if not (isinstance(cs, list) and len(cs) == 2):
                    raise DataError(DataProblem(source, "every mention needs char_span [begin, end) (an output of "
                                                        "docre extract)", index, title, f"vertexSet[{e}][{k}].char_span"))
                spans.append((int(cs[0]), int(cs[1])))
            typ = ent[0].get("type", "") if ent else ""
            entities.append((frozenset(spans), typ))
        relations = {(r["h"], r["t"], r["r"]): float(r.get("score") if r.get("score") is not None else 1.0)
                     for r in rec.get("relations", [])}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DataError(DataProblem(source, f"not a docre extract record: {exc!r}", index, title)) from exc
    for (h, t, r) in relations:
        if not (0 <= h < len(entities) and 0 <= t < len(entities)):
            raise DataError(DataProblem(source, f"relation ({h}, {t}, {r}) names an entity that is not in vertexSet",
                                        index, title, "relations"))
    return EntityGraph(entities, relations)


def score_records(gold: Sequence[Document], records: Iterable[dict[str, Any]], source: str = "<records>",
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """End-to-end scores of extract records against gold documents, matched by title.

    A gold document without a record counts as one with nothing found. Raises :class:`DataError`
    for a record whose title is not a gold document, or whose text is not the gold document's.
    """
    by_title = {d.title: d for d in gold}
    found: dict[str, EntityGraph] = {}
    for i, rec in enumerate(records):
        title = rec.get("title") if isinstance(rec, dict) else None
        if title not in by_title:
            raise DataError(DataProblem(source, "no gold document has this title", i, title if isinstance(title, str)
                                        else None, "title"))
        text, _ = gold_text(by_title[title])
        if rec.get("text") != text:
            raise DataError(DataProblem(source, "its text is not the gold document's (extract from the gold text: "
                                                "its 'text' field, or its words joined by single spaces)", i, title,
                                        "text"))
        found[title] = record_graph(rec, source, i)
    preds = [found.get(d.title, EntityGraph([])) for d in gold]
    return end_to_end_scores([gold_graph(d) for d in gold], preds, thresholds)


#: the oracle rows of the stage table: what each is given from the gold annotation
ORACLE_STAGES = {
    "gold_mentions": "coreference, typing and relations on the gold mentions",
    "gold_clusters": "typing and relations on the gold mentions and clusters",
    "gold_entities": "relations on the gold entities (mentions, clusters and types)",
}


def gold_word_entities(doc: Document, view: SpanView) -> tuple[list[tuple[int, int]], list[list[int]], list[str],
                                                               dict[tuple[int, int], tuple[int, int]]]:
    """The gold mentions of ``doc`` as global word spans inside the encoded text (a span under two
    entities kept once, with its first), each entity's mention indices and type, and the character
    span (in :func:`gold_text`) of every word span."""
    _, chars = gold_text(doc)
    spans: list[tuple[int, int]] = []
    index: dict[tuple[int, int], int] = {}
    char_of: dict[tuple[int, int], tuple[int, int]] = {}
    clusters: list[list[int]] = []
    types: list[str] = []
    for e, ent in enumerate(doc.entities):
        members = []
        for m, cs in zip(ent.mentions, chars[e]):
            first = view.sent_bounds[m.sent_id][0]
            span = (first + m.start, first + m.end)
            if view.word_start[span[1] - 1] < 0 or span in index:
                continue  # past the encoded text, repeated, or taken by an earlier entity
            index[span] = len(spans)
            spans.append(span)
            char_of[span] = cs
            members.append(index[span])
        if members:
            clusters.append(members)
            types.append(ent.type)
    return spans, clusters, types, char_of


def oracle_stage_graphs(model: Any, tokenizer: Any, gold: Sequence[Document], batch_size: int = 8,
                        max_seq_length: int = 0) -> dict[str, list[EntityGraph]]:
    """Per oracle stage (:data:`ORACLE_STAGES`), the entity graphs the model predicts for ``gold``'s
    documents when the stages before it are given from the gold annotation. The documents are read in
    their own words (no re-tokenisation), so the gold mentions are exact word spans."""
    from docre.e2e.extract import document_from_entities, encode_plain, relation_triples, require_joint
    from docre.e2e.model import PredictedEntities

    model = require_joint(model)
    was_training = model.training
    model.eval()
    out: dict[str, list[EntityGraph]] = {stage: [] for stage in ORACLE_STAGES}
    for c in range(0, len(gold), batch_size):
        chunk = gold[c: c + batch_size]
        plain = [Document(title=d.title, sents=d.sents, entities=[], labels=None, index=d.index) for d in chunk]
        with torch.inference_mode():
            views, encoded = encode_plain(model, tokenizer, plain, max_seq_length)
            golds = [gold_word_entities(d, v) for d, v in zip(chunk, views)]
            for stage in ORACLE_STAGES:
                found = []
                with model.precision_scope():
                    for enc, v, (spans, clusters, types, _) in zip(encoded, views, golds):
                        if stage == "gold_entities":
                            found.append(PredictedEntities(spans, [1.0] * len(spans), torch.zeros(len(spans), 0),
                                                           clusters, types))
                        else:
                            found.append(model.predict_entities(enc.hidden, v, mentions=spans,
                                                                clusters=clusters if stage == "gold_clusters" else None))
                docs = [document_from_entities(d.title, d.sents, f, d.index) for d, f in zip(chunk, found)]
                triples = relation_triples(model, tokenizer, docs, encoded, views, max_seq_length)
                for f, t, (spans, _, _, char_of) in zip(found, triples, golds):
                    entities = [(frozenset(char_of[f.mentions[k]] for k in cl), typ)
                                for cl, typ in zip(f.clusters, f.entity_types)]
                    out[stage].append(EntityGraph(entities, {(x["h_idx"], x["t_idx"], x["r"]): x["score"] for x in t}))
    if was_training:
        model.train()
    return out


def oracle_stage_scores(model: Any, tokenizer: Any, gold: Sequence[Document], batch_size: int = 8,
                        max_seq_length: int = 0, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
                        ) -> dict[str, dict[str, Any]]:
    """The oracle rows of the stage table: per stage of :data:`ORACLE_STAGES`, the end-to-end scores
    (:func:`docre.evaluation.end_to_end.end_to_end_scores`) of the model given gold input up to it."""
    graphs = oracle_stage_graphs(model, tokenizer, gold, batch_size, max_seq_length)
    truth = [gold_graph(d) for d in gold]
    return {stage: end_to_end_scores(truth, g, thresholds) for stage, g in graphs.items()}


def evaluate_end_to_end(model: Any, tokenizer: Any, gold: Sequence[Document],
                        train: Optional[Sequence[Document]] = None, batch_size: int = 8, max_seq_length: int = 0,
                        progress: bool = False, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
                        ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Extract from the gold documents' text and score every stage; score the relation stage given
    the gold entities too.

    Returns ``(end-to-end scores, official scores given gold entities, extract records, triples
    given gold entities)``. ``train``: training documents for Ign F1 of the gold-entity scores.
    """
    from docre.e2e.extract import extract_records, require_joint

    model = require_joint(model)
    items = [(d.title, gold_text(d)[0]) for d in gold]
    records = list(extract_records(model, tokenizer, items, batch_size, max_seq_length, progress, total=len(items)))
    scores = score_records(gold, records, thresholds=thresholds)
    feats = featurize_documents(gold, tokenizer, model.relations, max_seq_length,
                                markers=model.config.data.entity_markers)
    triples, _ = predict(model, feats, batch_size, progress=progress)
    return scores, official_scores(triples, gold, train), records, triples


def evaluate_files_end_to_end(gold_path: str | Path, pipeline: Any = None, pred_path: Optional[str | Path] = None,
                              train_path: Optional[str | Path] = None, extracted_path: Optional[str | Path] = None,
                              stages: bool = False
                              ) -> tuple[dict[str, Any], Optional[dict[str, Any]], int, Optional[dict[str, Any]]]:
    """``docre evaluate --end-to-end``: score a gold file end to end.

    With ``pipeline`` (a loaded end-to-end :class:`docre.pipeline.Pipeline`): extract from the gold
    documents' text (written to ``extracted_path`` when given) and score the relation stage given the
    gold entities too (Ign F1 against ``train_path``). With ``pred_path``: score a ``docre extract``
    output of that text. ``stages`` (with ``pipeline``): also the oracle rows of the stage table
    (:func:`oracle_stage_scores`). Returns (end-to-end scores, gold-entity scores or None, number of
    documents, oracle stage scores or None).
    """
    from docre.data.reader import read_documents
    from docre.e2e.extract import read_records, require_joint, write_records

    gold = read_documents(gold_path)
    if not any(d.has_labels for d in gold):
        raise DataError(DataProblem(str(gold_path), "has no labels: cannot score"))
    if pipeline is None:
        if pred_path is None:
            raise ValueError("give a pipeline or pred_path")
        return score_records(gold, read_records(pred_path), source=str(pred_path)), None, len(gold), None
    require_joint(pipeline.model, "this model")
    train = read_documents(train_path, require_labels=True) if train_path else None
    scores, gold_scores, records, _ = evaluate_end_to_end(
        pipeline.model, pipeline.tokenizer, gold, train, pipeline.batch_size, pipeline.extract_max_seq_length,
        pipeline.progress)
    stage_scores = None
    if stages:
        stage_scores = oracle_stage_scores(pipeline.model, pipeline.tokenizer, gold, pipeline.batch_size,
                                           pipeline.extract_max_seq_length)
    if extracted_path:
        write_records(extracted_path, records)
    return scores, gold_scores, len(gold), stage_scores
