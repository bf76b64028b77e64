"""Linking documents: the model's option logits -> one link (or NIL) and its probability per entity,
written onto every mention of the entity as ``"link"`` and ``"link_score"``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch

from docre.data.documents import Document
from docre.errors import ModelDirError
from docre.linking.features import LinkFeatures, link_features
from docre.models.batch import collate

#: one entity's decision: (title or None for NIL, probability of that option)
Decision = tuple[Optional[str], float]


def require_linker(model: Any, where: str = "the model") -> Any:
    """``model`` when it is an entity linker; a :class:`ModelDirError` otherwise."""
    from docre.linking.model import LinkerModel

    if not isinstance(model, LinkerModel):
        raise ModelDirError(f"{where} is not an entity linker (model.task = {model.config.model.task!r}); train one "
                            "with model.task = linker, e.g. docre train --config configs/dwie_minilm_linker.json")
    return model


def decide(feat: LinkFeatures, logits: torch.Tensor) -> list[Decision]:
    """Per entity, the most probable option of ``logits`` ``[E, 1 + C]`` (option 0 = NIL) and its probability."""
    out: list[Decision] = []
    if logits.numel() == 0:
        return [(None, 1.0) for _ in feat.cand_titles]
    probs = torch.softmax(logits.float(), dim=-1)
    best = probs.argmax(-1).tolist()
    for e, k in enumerate(best):
        title = None if k == 0 else feat.cand_titles[e][k - 1]
        out.append((title, round(float(probs[e, k]), 6)))
    return out


@torch.inference_mode()
def predict_links(model: Any, features: Sequence[LinkFeatures], batch_size: int = 8) -> list[list[Decision]]:
    """Decisions of every document's entities, in document order."""
    was_training = model.training
    model.eval()
    out: list[list[Decision]] = []
    try:
        for s in range(0, len(features), batch_size):
            chunk = list(features[s: s + batch_size])
            res = model(collate(chunk, model.relations.num_classes))
            out.extend(decide(f, lg) for f, lg in zip(chunk, res.logits))
    finally:
        model.train(was_training)
    return out


def link_documents(model: Any, tokenizer: Any, docs: Sequence[Document], batch_size: int = 8,
                   max_seq_length: Optional[int] = None) -> list[list[Decision]]:
    """Link the entities of ``docs`` with a loaded linker (its alias table gives the candidates of mentions
    that come without). ``max_seq_length``: subwords per document (default: as trained; 0: whole)."""
    require_linker(model)
    msl = model.config.data.max_seq_length if max_seq_length is None else max_seq_length
    feats = link_features(docs, tokenizer, model.aliases, model.config.linker, msl)
    return predict_links(model, feats, batch_size)


def with_links(raw: dict[str, Any], decisions: Sequence[Decision]) -> dict[str, Any]:
    """A copy of the DocRED document ``raw`` with ``link`` and ``link_score`` on every mention (the
    entity's); everything else unchanged."""
    out = dict(raw)
    vertex_set = []
    for ent, (title, score) in zip(raw["vertexSet"], decisions):
        vertex_set.append([{**m, "link": title, "link_score": score} for m in ent])
    out["vertexSet"] = vertex_set
    return out


def read_raw_documents(path: str | Path) -> tuple[list[dict[str, Any]], list[Document]]:
    """A DocRED JSON (or ``.jsonl``) file as raw dicts and as validated documents."""
    from docre.data.reader import documents_from_json
    from docre.e2e.extract import read_records

    raw = read_records(path)
    return raw, documents_from_json(raw, str(path))


def link_file(pipeline: Any, data: str | Path, out: str | Path) -> tuple[int, int, int]:
    """``docre link``: the documents of ``data`` with every mention's ``link`` and ``link_score``, written
    to ``out`` (a JSON list, or JSON lines for ``.jsonl``) through a temporary file and a rename.

    Returns (documents, entities, entities linked to a title).
    """
    from docre.e2e.extract import write_records

    require_linker(pipeline.model)
    raw, docs = read_raw_documents(data)
    decisions = link_documents(pipeline.model, pipeline.tokenizer, docs, pipeline.batch_size, pipeline.max_seq_length)
    records = [with_links(r, d) for r, d in zip(raw, decisions)]
    write_records(out, records)
    n_ent = sum(len(d) for d in decisions)
    n_linked = sum(1 for d in decisions for title, _ in d if title is not None)
    return len(records), n_ent, n_linked


def linked_documents(pipeline: Any, docs: Iterable[Any]) -> list[dict[str, Any]]:
    """``Pipeline.link``: DocRED dicts (or a file path) in, the same dicts with links out."""
    if isinstance(docs, (str, Path)):
        raw, parsed = read_raw_documents(docs)
    else:
        from docre.data.reader import documents_from_json

        raw = [d.to_json() if isinstance(d, Document) else d for d in docs]
        parsed = documents_from_json(json.loads(json.dumps(raw)), "<documents>")
    decisions = link_documents(pipeline.model, pipeline.tokenizer, parsed, pipeline.batch_size,
                               pipeline.max_seq_length)
    return [with_links(r, d) for r, d in zip(raw, decisions)]
