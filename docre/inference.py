"""Prediction: entity-pair logits -> ATLOP's prediction rule -> relation triples -> readable records
(:func:`readable_prediction`, what ``docre predict``, ``Pipeline.predict`` and ``docre extract`` write)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import torch

from docre.data.documents import Document
from docre.data.features import DocFeatures
from docre.data.relations import RelationInventory
from docre.losses import adaptive_threshold_predict
from docre.models.batch import Batch, HeadOutput, collate


def batches(features: Sequence[DocFeatures], batch_size: int, num_classes: int, order: Optional[Sequence[int]] = None
            ) -> Iterator[Batch]:
    order = list(order) if order is not None else list(range(len(features)))
    for s in range(0, len(order), batch_size):
        yield collate([features[i] for i in order[s: s + batch_size]], num_classes)


def training_order(features: Sequence[DocFeatures], batch_size: int, seed: int, bucket_batches: int = 0) -> list[int]:
    """A shuffled document order for one epoch, deterministic in ``seed``.

    ``bucket_batches > 0``: documents of similar length are batched together (less padding):
    the shuffled order is cut into pools of ``bucket_batches * batch_size`` documents, each
    pool sorted by length and cut into batches, and the batches shuffled.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(features), generator=g).tolist()
    if bucket_batches <= 0:
        return order
    pool = bucket_batches * batch_size
    groups: list[list[int]] = []
    for s in range(0, len(order), pool):
        chunk = sorted(order[s: s + pool], key=lambda i: len(features[i].input_ids))
        groups.extend(chunk[j: j + batch_size] for j in range(0, len(chunk), batch_size))
    perm = torch.randperm(len(groups), generator=g).tolist()
    return [i for k in perm for i in groups[k]]


def length_sorted(features: Sequence[DocFeatures]) -> list[int]:
    """Indices by input length (inference batches of similar length waste less padding)."""
    return sorted(range(len(features)), key=lambda i: len(features[i].input_ids))


def triples_from_logits(feat: DocFeatures, logits: torch.Tensor, relations: RelationInventory,
                        num_labels: int) -> list[dict[str, Any]]:
    """The predicted triples of one document in result.json form."""
    if logits.numel() == 0:
        return []
    logits = logits.float()
    pred = adaptive_threshold_predict(logits, num_labels)
    scores = relation_scores(logits)
    out = []
    for j, c in pred[:, 1:].nonzero().tolist():
        h, t = feat.entity_pairs[j]
        out.append({"title": feat.title, "h_idx": h, "t_idx": t, "r": relations.ids[c + 1], "evidence": [],
                    "score": round(float(scores[j, c + 1]), 6)})
    return out


def relation_scores(logits: torch.Tensor) -> torch.Tensor:
    """``sigmoid(l_r - l_TH)`` per pair and class ``[E, C]``: above 0.5 exactly where the logit beats
    the threshold class, so a user can trade recall for precision by raising the cut-off."""
    return torch.sigmoid(logits - logits[:, :1])


@torch.inference_mode()
def predict(model: Any, features: Sequence[DocFeatures], batch_size: int = 8, progress: bool = False,
            return_logits: bool = False, on_batch: Optional[Callable[[int], None]] = None
            ) -> tuple[list[dict[str, Any]], Optional[list[torch.Tensor]]]:
    """Predict relation triples for featurised documents, in document order.

    ``on_batch(n)`` is called after each batch of ``n`` documents (an outer progress bar).
    Returns (triples, per-document logits when ``return_logits``).
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    num_classes = model.relations.num_classes
    order = length_sorted(features)
    per_doc: list[Optional[list]] = [None] * len(features)
    logits_out: list[Optional[torch.Tensor]] = [None] * len(features)
    with_evidence = bool(getattr(model, "supports_evidence", False)) and model.config.evidence.enabled
    bar = tqdm(total=len(features), desc="predict", unit="doc", disable=not progress, leave=False)
    for s in range(0, len(order), batch_size):
        idx = order[s: s + batch_size]
        batch = collate([features[i] for i in idx], num_classes)
        batch.labels = [None] * len(idx)
        out: HeadOutput = model(batch, phase="eval", return_evidence=True) if with_evidence else \
            model(batch, phase="eval")
        for b, (i, lg) in enumerate(zip(idx, out.logits)):
            per_doc[i] = triples_from_logits(features[i], lg, model.relations, model.config.model.num_labels)
            if with_evidence and out.evidence is not None:
                from docre.evidence.attach import attach_evidence

                attach_evidence(per_doc[i], features[i], out.evidence[b], model.relations.ids, model.config.evidence)
            if return_logits:
                logits_out[i] = lg.float().cpu()
        bar.update(len(idx))
        if on_batch is not None:
            on_batch(len(idx))
    bar.close()
    if was_training:
        model.train()
    triples = [t for doc in per_doc for t in (doc or [])]
    return triples, (logits_out if return_logits else None)


def readable_prediction(doc: Document, triples: Iterable[dict[str, Any]], relations: Any) -> dict[str, Any]:
    """One document in DocRED format (without gold ``labels``), its ``index`` in the input, and its
    predicted ``relations``: ``{"h", "t", "r", "relation", "score", "head", "head_type", "tail",
    "tail_type", "evidence", "evidence_scores"}`` (entity indices into ``vertexSet``, relation id and
    name, ``sigmoid(l_r - l_TH)`` score, entity display names and types, evidence sentence ids and
    the evidence score of every sentence, when the model gives evidence), highest score first."""
    rels = []
    for t in triples:
        h, tt = doc.entities[t["h_idx"]], doc.entities[t["t_idx"]]
        rel = {"h": t["h_idx"], "t": t["t_idx"], "r": t["r"], "relation": relations.name(t["r"]),
               "score": t.get("score"), "head": h.name, "head_type": h.type, "tail": tt.name,
               "tail_type": tt.type}
        if "evidence_scores" in t:
            rel["evidence"] = list(t.get("evidence") or [])
            rel["evidence_scores"] = list(t["evidence_scores"])
        rels.append(rel)
    rels.sort(key=lambda r: -(r["score"] or 0.0))
    out = doc.to_json()
    out.pop("labels", None)
    if isinstance(doc.extra.get("text"), str):  # a document's text travels on (docre data export uses it)
        out["text"] = doc.extra["text"]
    return {**out, "index": doc.index, "relations": rels}


def readable_predictions(documents: Sequence[Document], triples: Iterable[dict[str, Any]], relations: Any
                         ) -> list[dict[str, Any]]:
    """:func:`readable_prediction` of every document, matching triples to documents by title."""
    by_title: dict[str, list[dict[str, Any]]] = {}
    for t in triples:
        by_title.setdefault(t["title"], []).append(t)
    return [readable_prediction(d, by_title.get(d.title, []), relations) for d in documents]
