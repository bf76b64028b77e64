"""Attribution records: why did the model predict (or miss) a triple? (spec 3.6)

One forward pass per batch gives, for every triple (h, r, t) of a document, the numbers
the decision rests on. For a KMGRE model these are the mention pairs (m_i, m_j) of the
entity pair: the key-instance probability p_omega, the mention-level logit l_r, whether
the pair is in the key set K(h,t), and its share of the fused entity logit. For an ATLOP
model (and a KMGRE model whose EM phase has not started, which scores at entity level)
they are the words that ATLOP's localized context pooling weighs most for the pair:
q = normalize(mean_heads(a_h * a_t)), subword weights summed per word.

Record schema (``SCHEMA_VERSION`` 1; one record per document; :data:`RECORD_SCHEMA`
states it as JSON Schema and :func:`validate_record` checks it)::

    {
      "schema_version": 1,
      "title": str, "doc_index": int,          # doc_index: position in the input file
      "head": str,                             # the model's head: "kmgre" | "atlop"
      "attribution": "key_pairs" | "context",  # how entity logits were formed (below)
      "fusion": "logsumexp" | "mean" | null,   # KMGRE's fusion of key-pair logits ("+entity": ATLOP's
                                               # entity logit added, kmgre.add_entity_logit)
      "sents": [[str]],                        # the document's words, per sentence
      "entities": [{"index": int, "name": str, "type": str,
                    "mentions": [{"mention": int, "text": str, "sent_id": int,
                                  "start": int, "end": int,   # word span [start, end) in the sentence
                                  "kept": bool}]}],           # False: past max_seq_length
      "has_gold": bool,
      "num_predicted": int,
      "scores": null | {"tp": int, "fp": int, "fn": int,  # whole document, before filters;
                        "precision": float, "recall": float, "f1": float},  # percentages
      "filters": {"only": str | null, "relation": str | null, "top_k": int},
      "triples": [{
        "h": int, "t": int, "r": str, "relation": str,     # entity indices, relation id and name
        "head": str, "head_type": str, "tail": str, "tail_type": str,  # entity names and types
        "score": float,            # sigmoid(margin) = sigmoid(l_r - l_TH), as docre predict's score
        "predicted": bool,
        "status": "tp" | "fp" | "fn" | null,                # null: the document has no gold labels
        "logit": float,            # entity-level logit of r
        "threshold_logit": float,  # entity-level logit of the threshold class 0
        "margin": float,           # logit - threshold_logit (> 0: r is above the threshold)
        "num_mention_pairs": int | null,   # null for "context" without a KMGRE head
        "num_key_pairs": int | null,       # |K(h,t)|
        "mention_pairs": null | [{
          "rank": int,             # position by p_omega within the entity pair, 0 = highest
          "head": MENTION, "tail": MENTION,
          "p_omega": float,        # key-instance probability
          "logit": float,          # mention-level logit l_r of this pair
          "prob": float,           # sigmoid(logit)
          "key": bool,             # in K(h,t)
          "share": float,          # share of the fused logit (0 outside K)
          "same_sentence": bool}],
        "context_tokens": null | [{"word": int, "sent_id": int, "pos": int, "text": str,
                                   "weight": float}]}]
    }
    MENTION = {"entity": int, "mention": int, "text": str,
               "sent_id": int | null, "start": int | null, "end": int | null}
               # mention -1 / nulls: a "virtual" mention for an entity whose every mention
               # lies past max_seq_length (the model scores it from zero vectors)

Key-pair attribution (``attribution == "key_pairs"``): the entity logit is the fusion of
the key pairs' mention logits, so it can be recomputed from the record:
``logit == logsumexp([p["logit"] for p in mention_pairs if p["key"]])`` (``mean`` for
``fusion == "mean"``). Shares: logsumexp fusion is a soft maximum whose gradient is the
softmax over K of l_r, so a key pair's share is ``exp(l_r) / sum_K exp(l_r)``; for mean
fusion every key pair has ``1 / |K|``; pairs outside K have 0. Shares of K sum to 1.

Choices made here:

- ``top_k`` keeps the ``top_k`` mention pairs of highest p_omega *and always every pair
  of K* (so the fused logit stays recomputable); ``rank`` shows where the shown pairs
  stand. For context tokens it keeps the ``top_k`` heaviest words. ``top_k = 0``: keep all.
- Triples: every predicted triple, plus (when the document has gold labels) every gold
  triple the model missed (``fn``), with its logits and mention pairs as for the others.
  The field names and ``score`` mean what they mean in ``docre predict``'s output.
  A gold triple whose relation the model does not know is an error (:class:`DataError`
  naming the document and label): the model could never predict it, and scores that
  counted it as missed would mislead.
- ``scores`` are the document's own before ``only``/``relation`` filter its triples;
  the filters only select which triple records are kept.
- KMGRE before its EM phase (warm-up at entity level): the entity logits come from the
  ATLOP-style entity head, so the record says ``"attribution": "context"`` and carries
  context tokens; its mention pairs (p_omega, K) are still listed for information, but
  their fusion is not the entity logit.
"""
from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch

from docre.data.documents import Document
from docre.data.features import DocFeatures, featurize_documents
from docre.errors import DocreError
from docre.inference import length_sorted
from docre.losses import adaptive_threshold_predict
from docre.models.batch import collate
from docre.models.mention_pairs import CONTEXT_EPS
from docre.models.pooling import pool_entities

SCHEMA_VERSION = 2  # 2: triples name entities head / tail (as docre predict) and carry score
STATUSES = ("tp", "fp", "fn")
ATTRIBUTIONS = ("key_pairs", "context")


class RecordSchemaError(DocreError):
    """An attribution record does not follow the schema."""


# ---------------------------------------------------------------------------- schema
_NUM = {"type": "number"}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


_MENTION = _obj({"entity": _INT, "mention": _INT, "text": _STR, "sent_id": {"type": ["integer", "null"]},
                 "start": {"type": ["integer", "null"]}, "end": {"type": ["integer", "null"]}})
_PAIR = _obj({"rank": _INT, "head": _MENTION, "tail": _MENTION, "p_omega": _NUM, "logit": _NUM, "prob": _NUM,
              "key": _BOOL, "share": _NUM, "same_sentence": _BOOL})
_TOKEN = _obj({"word": _INT, "sent_id": _INT, "pos": _INT, "text": _STR, "weight": _NUM})
_TRIPLE = _obj({
    "h": _INT, "t": _INT, "r": _STR, "relation": _STR, "head": _STR, "head_type": _STR, "tail": _STR,
    "tail_type": _STR, "score": _NUM, "predicted": _BOOL,
    "status": {"type": ["string", "null"], "enum": [*STATUSES, None]},
    "logit": _NUM, "threshold_logit": _NUM, "margin": _NUM,
    "num_mention_pairs": {"type": ["integer", "null"]}, "num_key_pairs": {"type": ["integer", "null"]},
    "mention_pairs": {"type": ["array", "null"], "items": _PAIR},
    "context_tokens": {"type": ["array", "null"], "items": _TOKEN},
})
_SCORES = _obj({"tp": _INT, "fp": _INT, "fn": _INT, "precision": _NUM, "recall": _NUM, "f1": _NUM})
#: The record of one document as JSON Schema (the subset :func:`validate_record` checks:
#: type, properties, required, items, enum).
RECORD_SCHEMA: dict[str, Any] = _obj({
    "schema_version": {"type": "integer", "enum": [SCHEMA_VERSION]},
    "title": _STR, "doc_index": _INT, "head": _STR,
    "attribution": {"type": "string", "enum": list(ATTRIBUTIONS)},
    "fusion": {"type": ["string", "null"]},
    "sents": {"type": "array", "items": {"type": "array", "items": _STR}},
    "entities": {"type": "array", "items": _obj({
        "index": _INT, "name": _STR, "type": _STR,
        "mentions": {"type": "array", "items": _obj({"mention": _INT, "text": _STR, "sent_id": _INT, "start": _INT,
                                                      "end": _INT, "kept": _BOOL})}})},
    "has_gold": _BOOL, "num_predicted": _INT,
    "scores": {"type": ["object", "null"], "properties": _SCORES["properties"], "required": _SCORES["required"]},
    "filters": _obj({"only": {"type": ["string", "null"]}, "relation": {"type": ["string", "null"]}, "top_k": _INT}),
    "triples": {"type": "array", "items": _TRIPLE},
})
RECORD_SCHEMA["$schema"] = "https://json-schema.org/draft/2020-12/schema"
RECORD_SCHEMA["title"] = f"docre attribution record, schema version {SCHEMA_VERSION}"

_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _check_schema(value: Any, schema: dict[str, Any], where: str) -> None:
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_JSON_TYPES[t](value) for t in types):
            raise RecordSchemaError(f"{where}: expected {' or '.join(types)}, got {value!r:.60}")
    if "enum" in schema and value not in schema["enum"]:
        raise RecordSchemaError(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise RecordSchemaError(f"{where}: missing field {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _check_schema(value[key], sub, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check_schema(item, schema["items"], f"{where}[{i}]")


def validate_record(record: Any, where: str = "record") -> None:
    """Check one document record against :data:`RECORD_SCHEMA` and its invariants
    (a predicted key-pair triple has a non-empty K whose shares sum to 1; statuses only
    with gold labels).

    Raises:
        RecordSchemaError: naming the first offending field.
    """
    _check_schema(record, RECORD_SCHEMA, where)
    for i, tr in enumerate(record["triples"]):
        at = f"{where}.triples[{i}]"
        if (tr["status"] is None) == record["has_gold"]:
            raise RecordSchemaError(f"{at}.status: {tr['status']!r} but has_gold is {record['has_gold']}")
        if tr["predicted"] != (tr["status"] in ("tp", "fp") if record["has_gold"] else True):
            raise RecordSchemaError(f"{at}.predicted: {tr['predicted']} disagrees with status {tr['status']!r}")
        pairs = tr["mention_pairs"]
        if record["attribution"] == "key_pairs":
            if pairs is None:
                raise RecordSchemaError(f"{at}.mention_pairs: required for key_pairs attribution")
            key = [p for p in pairs if p["key"]]
            if len(key) != tr["num_key_pairs"] or not key:
                raise RecordSchemaError(f"{at}: {len(key)} key pairs listed, num_key_pairs is {tr['num_key_pairs']}")
            if abs(sum(p["share"] for p in key) - 1.0) > 1e-3:
                raise RecordSchemaError(f"{at}: shares of the key pairs sum to {sum(p['share'] for p in key):.4f}")
        elif tr["context_tokens"] is None:
            raise RecordSchemaError(f"{at}.context_tokens: required for context attribution")


def validate_records(records: Any) -> None:
    """Validate a list of document records (see :func:`validate_record`)."""
    if not isinstance(records, list):
        raise RecordSchemaError(f"records: expected a list, got {type(records).__name__}")
    for i, rec in enumerate(records):
        validate_record(rec, f"records[{i}]")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Read the records of a ``docre inspect --out x.json`` file (or a bare list) and validate them."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocreError(f"{path}: cannot read attribution records: {exc}") from exc
    records = obj.get("documents") if isinstance(obj, dict) else obj
    validate_records(records)
    return records


# ---------------------------------------------------------------------------- math
def context_weights(head_att: torch.Tensor, tail_att: torch.Tensor, eps: float = CONTEXT_EPS) -> torch.Tensor:
    """ATLOP's localized-context weights q = normalize(mean_heads(a_h * a_t)) (spec 2).

    ``[n, heads, L]`` x2 -> ``[n, L]``, each row summing to (almost) 1; the same
    normaliser as :mod:`docre.models.mention_pairs`.
    """
    r = torch.einsum("nhl,nhl->nl", head_att.float(), tail_att.float()) / head_att.size(1)  # [n, L]
    return r / (r.sum(-1, keepdim=True) + eps)


def key_pair_shares(logits: torch.Tensor, key: torch.Tensor, fusion: str) -> torch.Tensor:
    """Each mention pair's share of the fused entity logit (spec 3.4).

    ``logits [n]`` (l_r of one entity pair's mention pairs), ``key [n]`` bool ->
    ``[n]`` float64: softmax over K of l_r for logsumexp fusion, 1/|K| for mean, 0 outside K.
    """
    out = torch.zeros(logits.shape, dtype=torch.float64)
    if not bool(key.any()):
        return out
    if fusion.split("+")[0] == "mean":  # "mean+entity": the key-pair term of add_entity_logit
        out[key] = 1.0 / int(key.sum())
    else:
        out[key] = torch.softmax(logits[key].double(), 0)
    return out


def token_words(feat: DocFeatures) -> list[int]:
    """The word each subword position of ``feat.input_ids`` belongs to (-1: special token).

    A subword belongs to the last word starting at or before it; a mention's opening
    marker ``*`` belongs to the mention's first word (the word after it), a closing
    marker to the mention's last word.
    """
    seq_len = len(feat.input_ids)
    out = [-1] * seq_len
    kept = [p for p in feat.word_pos if p >= 0]  # non-decreasing: truncation cuts the end
    w = -1
    for p in range(1, seq_len - 1):
        while w + 1 < len(kept) and kept[w + 1] <= p:
            w += 1
        out[p] = w
    starts = set(kept)  # without entity markers a mention position is its first word's own subword
    for p in feat.mention_pos:  # opening markers
        if p not in starts and 0 < p + 1 < seq_len - 1:
            out[p] = out[p + 1]
    return out


# ---------------------------------------------------------------------------- records
def _check_filters(model: Any, only: Optional[str], relation: Optional[str], top_k: int) -> None:
    if only is not None and only not in STATUSES:
        raise DocreError(f"only must be one of {', '.join(STATUSES)}; got {only!r}")
    if relation is not None and (relation not in model.relations or model.relations.index(relation) == 0):
        known = ", ".join(model.relations.ids[1:11]) + (" ..." if len(model.relations.ids) > 11 else "")
        raise DocreError(f"relation {relation!r} is not one of the model's relations ({known})")
    if top_k < 0:
        raise DocreError(f"top_k must be >= 0 (0: keep all); got {top_k}")


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    p = 100.0 * tp / (tp + fp) if tp + fp else 0.0
    r = 100.0 * tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f}


def _entities_json(doc: Document, feat: DocFeatures) -> list[dict[str, Any]]:
    kept = set(map(tuple, feat.mention_ref))
    out = []
    for e, ent in enumerate(doc.entities):
        rec: dict[str, Any] = {
            "index": e, "name": ent.name, "type": ent.type,
            "mentions": [{"mention": k, "text": " ".join(doc.sents[m.sent_id][m.start:m.end]), "sent_id": m.sent_id,
                          "start": m.start, "end": m.end, "kept": (e, k) in kept}
                         for k, m in enumerate(ent.mentions)]}
        linked = next((m for m in ent.mentions if m.has_link), None)
        if linked is not None:  # entity linking (docre link output, DWIE): the entity's title, None for NIL
            rec["link"] = linked.link
        out.append(rec)
    return out


class _DocumentExplainer:
    """Builds the record of one document from the model's outputs for it."""

    def __init__(self, model: Any, doc: Document, feat: DocFeatures, logits: torch.Tensor,
                 details: dict[str, Any], encoded: Any, only: Optional[str], relation: Optional[str], top_k: int):
        self.model, self.doc, self.feat = model, doc, feat
        self.logits = logits.float().cpu()  # [E, C]
        self.details = details or {}
        self.encoded = encoded
        self.only, self.relation, self.top_k = only, relation, top_k
        self.pair_of = {p: j for j, p in enumerate(feat.entity_pairs)}
        self.word_of_token: Optional[list[int]] = None
        self.word_loc = [(s, i) for s, sent in enumerate(doc.sents) for i in range(len(sent))]
        head_name = model.config.model.head
        if "key" in self.details:
            self.attribution = "context" if self.details.get("entity_level") else "key_pairs"
        else:
            self.attribution = "key_pairs" if head_name == "kmgre" else "context"
        self.entity_att: Optional[torch.Tensor] = None

    # ---- mention pairs (KMGRE)
    def _mention(self, m: int) -> dict[str, Any]:
        if m >= len(self.feat.mention_ref):  # a virtual mention (every real one truncated away)
            return {"entity": -1, "mention": -1, "text": "(no mention within max_seq_length)", "sent_id": None,
                    "start": None, "end": None}
        e, k = self.feat.mention_ref[m]
        men = self.doc.entities[e].mentions[k]
        return {"entity": e, "mention": k, "text": " ".join(self.doc.sents[men.sent_id][men.start:men.end]),
                "sent_id": men.sent_id, "start": men.start, "end": men.end}

    def _mention_pairs(self, j: int, c: int, h: int, t: int) -> tuple[list[dict[str, Any]], int, int]:
        d = self.details
        rows = (d["pair_index"] == j).nonzero().squeeze(1)  # [n] mention pairs of entity pair j
        p_omega = d["p_omega"][rows].double()
        logit = d["mention_logits"][rows, c].double()
        key = d["key"][rows].bool()
        share = key_pair_shares(logit, key, d["fusion"])
        order = sorted(range(rows.numel()), key=lambda i: (-float(p_omega[i]), i))
        keep = [i for rank, i in enumerate(order) if bool(key[i]) or self.top_k == 0 or rank < self.top_k]
        rank_of = {i: rank for rank, i in enumerate(order)}
        out = []
        for i in keep:
            head = self._mention(int(d["head_mention"][rows[i]]))
            tail = self._mention(int(d["tail_mention"][rows[i]]))
            if head["entity"] < 0:
                head["entity"] = h
            if tail["entity"] < 0:
                tail["entity"] = t
            out.append({"rank": rank_of[i], "head": head, "tail": tail, "p_omega": float(p_omega[i]),
                        "logit": float(logit[i]), "prob": float(torch.sigmoid(logit[i])), "key": bool(key[i]),
                        "share": float(share[i]),
                        "same_sentence": head["sent_id"] is not None and head["sent_id"] == tail["sent_id"]})
        return out, int(rows.numel()), int(key.sum())

    # ---- context tokens (ATLOP)
    def _context_tokens(self, h: int, t: int) -> list[dict[str, Any]]:
        if self.encoded is None:
            return []
        if self.entity_att is None:
            enc = self.encoded
            pos = torch.tensor(self.feat.mention_pos, dtype=torch.long, device=enc.hidden.device)
            _, self.entity_att = pool_entities(enc.hidden[pos], enc.query_att, self.feat.entity_mentions)
            self.word_of_token = token_words(self.feat)
        q = context_weights(self.entity_att[h:h + 1], self.entity_att[t:t + 1])[0].cpu()  # [L]
        weights: dict[int, float] = defaultdict(float)
        for p, w in enumerate(self.word_of_token or []):
            if w >= 0:
                weights[w] += float(q[p])
        ranked = sorted((w for w, v in weights.items() if v > 0), key=lambda w: (-weights[w], w))
        if self.top_k:
            ranked = ranked[: self.top_k]
        out = []
        for w in ranked:
            s, i = self.word_loc[w]
            out.append({"word": w, "sent_id": s, "pos": i, "text": self.doc.sents[s][i], "weight": weights[w]})
        return out

    # ---- the record
    def record(self) -> dict[str, Any]:
        doc, feat, rels = self.doc, self.feat, self.model.relations
        predicted: set[tuple[int, int, int]] = set()
        if self.logits.numel():
            pred = adaptive_threshold_predict(self.logits, self.model.config.model.num_labels)
            for j, c in pred[:, 1:].nonzero().tolist():
                h, t = feat.entity_pairs[j]
                predicted.add((h, t, c + 1))
        has_gold = doc.labels is not None
        gold_all = {(f.h, f.t, f.r) for f in doc.labels or []}
        gold = {(h, t, rels.index(r)) for h, t, r in gold_all if r in rels and rels.index(r) > 0}
        scores = None
        if has_gold:
            tp = len(predicted & gold)
            scores = _prf(tp, len(predicted) - tp, len(gold_all) - tp)
        triples = []
        for h, t, c in sorted(predicted | gold):
            is_pred = (h, t, c) in predicted
            status = None if not has_gold else ("tp" if is_pred and (h, t, c) in gold else "fp" if is_pred else "fn")
            r = rels.ids[c]
            if (self.only is not None and status != self.only) or (self.relation is not None and r != self.relation):
                continue
            j = self.pair_of[(h, t)]
            logit, th = float(self.logits[j, c]), float(self.logits[j, 0])
            head, tail = doc.entities[h], doc.entities[t]
            tr: dict[str, Any] = {
                "h": h, "t": t, "r": r, "relation": rels.name(r), "head": head.name, "head_type": head.type,
                "tail": tail.name, "tail_type": tail.type, "score": _sigmoid(logit - th),
                "predicted": is_pred, "status": status, "logit": logit, "threshold_logit": th, "margin": logit - th,
                "num_mention_pairs": None, "num_key_pairs": None, "mention_pairs": None, "context_tokens": None,
            }
            if "key" in self.details:
                tr["mention_pairs"], tr["num_mention_pairs"], tr["num_key_pairs"] = self._mention_pairs(j, c, h, t)
            if self.attribution == "context":
                tr["context_tokens"] = self._context_tokens(h, t)
            triples.append(tr)
        head = self.model.config.model.head
        return {
            "schema_version": SCHEMA_VERSION, "title": doc.title, "doc_index": doc.index,
            "head": head, "attribution": self.attribution,
            "fusion": self.details.get("fusion", self.model.config.kmgre.fusion if head == "kmgre" else None),
            "sents": [list(s) for s in doc.sents], "entities": _entities_json(doc, feat),
            "has_gold": has_gold, "num_predicted": len(predicted), "scores": scores,
            "filters": {"only": self.only, "relation": self.relation, "top_k": self.top_k},
            "triples": triples,
        }


@torch.inference_mode()
def explain_documents(model: Any, tokenizer: Any, documents: Sequence[Document], only: Optional[str] = None,
                      relation: Optional[str] = None, top_k: int = 10, batch_size: int = 8,
                      progress: bool = False, source: str = "<documents>") -> list[dict[str, Any]]:
    """Attribution records of documents, one per document, in input order (schema above).

    Args:
        model: a :class:`docre.models.model.DocREModel` (put in eval mode for the call).
        tokenizer: its tokenizer.
        documents: validated documents; with ``labels``, missed gold triples (fn) and
            per-document P/R/F1 are included.
        only: keep only triples of this gold status (``tp``, ``fp`` or ``fn``).
        relation: keep only triples of this relation id (e.g. ``"P17"``).
        top_k: mention pairs per triple, highest p_omega first, plus every key pair; for
            context attribution the heaviest words. 0 keeps all.
        batch_size: documents per forward pass.

    Raises:
        DocreError: a bad filter value (unknown relation, status, negative top_k).
        DataError: a gold label whose relation the model does not know (``source`` names the file).
    """
    from tqdm.auto import tqdm

    _check_filters(model, only, relation, top_k)
    documents = list(documents)
    check_gold_relations(documents, model.relations, source)
    feats = featurize_documents(documents, tokenizer, model.relations, model.config.data.max_seq_length,
                                markers=model.config.data.entity_markers)
    captured: dict[str, Any] = {}

    def keep_encoded(module: Any, inputs: Any, output: Any) -> None:
        captured["encoded"] = output  # per document: EncodedDocument (hidden [L, d], query_att [M, heads, L])

    was_training = model.training
    model.eval()
    handle = model.encoder.register_forward_hook(keep_encoded)
    records: list[Optional[dict[str, Any]]] = [None] * len(documents)
    scored = [False] * len(documents)  # the head returned details (the document has entity pairs)
    order = length_sorted(feats)
    bar = tqdm(total=len(feats), desc="explain", unit="doc", disable=not progress, leave=False)
    try:
        for s in range(0, len(order), max(1, batch_size)):
            idx = order[s: s + max(1, batch_size)]
            batch = collate([feats[i] for i in idx], model.relations.num_classes)
            batch.labels = [None] * len(idx)
            captured.clear()
            with_evidence = bool(getattr(model, "supports_evidence", False)) and model.config.evidence.enabled
            out = model(batch, phase="eval", return_details=True, **({"return_evidence": True} if with_evidence else {}))
            encoded = captured.get("encoded") or [None] * len(idx)
            details = out.details or [{}] * len(idx)
            for b, i in enumerate(idx):
                scored[i] = "key" in details[b]
                records[i] = _DocumentExplainer(model, documents[i], feats[i], out.logits[b], details[b], encoded[b],
                                                only, relation, top_k).record()
                if with_evidence and out.evidence is not None:
                    _add_evidence(records[i], documents[i], feats[i], out.evidence[b], model)
            bar.update(len(idx))
    finally:
        handle.remove()
        bar.close()
        if was_training:
            model.train()
    # a document without entity pairs says what the others say (it has no triples to explain)
    modes = {r["attribution"] for r, s in zip(records, scored) if s and r is not None}
    for r, s in zip(records, scored):
        if not s and r is not None and len(modes) == 1:
            r["attribution"] = next(iter(modes))
    return [r for r in records if r is not None]


def _sigmoid(x: float) -> float:
    """The score docre predict gives a triple, from its margin l_r - l_TH (rounded alike)."""
    return round(1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x)), 6)


def check_gold_relations(documents: Sequence[Document], relations: Any, source: str = "<documents>") -> None:
    """Every gold label's relation must be one the model knows (else inspect's scores and missed
    triples would silently leave it out).

    Raises:
        DataError: naming the file, the document (index and title) and the label.
    """
    from docre.errors import DataError, DataProblem

    for doc in documents:
        for k, fact in enumerate(doc.labels or []):
            if fact.r not in relations or relations.index(fact.r) == 0:
                known = ", ".join(relations.ids[1:11]) + (", ..." if len(relations) > 11 else "")
                raise DataError(DataProblem(
                    source, f"relation {fact.r!r} is not one the model knows ({len(relations) - 1} relations: "
                            f"{known}); inspect needs gold labels in the model's inventory", doc.index, doc.title,
                    f"labels[{k}].r"))


def _add_evidence(record: dict[str, Any], doc: Document, feat: Any, inputs: dict[str, Any], model: Any) -> None:
    """Each triple of a record gets ``evidence`` and ``evidence_scores`` (predicted triples:
    docre.evidence, as ``docre submit`` writes them; missed ones: None) and ``gold_evidence``."""
    from docre.evidence.attach import attach_evidence

    preds = [{"h_idx": tr["h"], "t_idx": tr["t"], "r": tr["r"], "_tr": tr} for tr in record["triples"] if tr["predicted"]]
    attach_evidence(preds, feat, inputs, model.relations.ids, model.config.evidence)
    gold: dict[tuple[int, int, str], list[int]] = {}
    for f in doc.labels or []:
        gold.setdefault((f.h, f.t, f.r), []).extend(f.evidence)
    for tr in record["triples"]:
        tr["evidence"] = tr["evidence_scores"] = None
        tr["gold_evidence"] = sorted(set(gold[(tr["h"], tr["t"], tr["r"])])) if (tr["h"], tr["t"], tr["r"]) in gold \
            else None
    for p in preds:
        p["_tr"]["evidence"] = p.get("evidence")
        p["_tr"]["evidence_scores"] = p.get("evidence_scores")


# ---------------------------------------------------------------------------- aggregate
def aggregate(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Statistics over records (a file's worth), over the triples the records keep (any
    iterable: it is consumed once, so the records can be streamed from disk).

    Returns a dict with:

    - ``documents``, ``documents_with_gold``; ``triples``: counts of ``predicted``,
      ``tp``, ``fp``, ``fn``; ``micro``: P/R/F1 (percent) summed over documents with gold
      (whole documents, before filters), or None.
    - ``key_sets`` (predicted triples with key-pair attribution): ``triples``,
      ``single`` (|K| = 1), ``several`` (|K| > 1), ``mean_size``; ``key_pairs``:
      ``intra_sentence`` / ``inter_sentence`` counts of their key mention pairs.
    - ``cross_sentence_relations``: per relation with such predictions, ``predicted``,
      ``inter_only`` (every key pair joins mentions in different sentences: the
      prediction rests on cross-sentence evidence), ``any_inter`` (some key pair does),
      ``share`` = inter_only / predicted; relations with ``inter_only > 0`` only, most first.
    """
    status = Counter()
    predicted = 0
    sums = Counter()
    sizes: list[int] = []
    intra = inter = 0
    per_rel: dict[str, Counter] = defaultdict(Counter)
    names: dict[str, str] = {}
    with_gold = 0
    n_docs = 0
    for rec in records:
        n_docs += 1
        if rec.get("scores"):
            with_gold += 1
            for k in ("tp", "fp", "fn"):
                sums[k] += rec["scores"][k]
        for tr in rec["triples"]:
            if tr["status"]:
                status[tr["status"]] += 1
            if not tr["predicted"]:
                continue
            predicted += 1
            if rec["attribution"] != "key_pairs" or not tr["mention_pairs"]:
                continue
            key = [p for p in tr["mention_pairs"] if p["key"]]
            sizes.append(len(key))
            n_intra = sum(1 for p in key if p["same_sentence"])
            intra += n_intra
            inter += len(key) - n_intra
            rel = per_rel[tr["r"]]
            names[tr["r"]] = tr["relation"]
            rel["predicted"] += 1
            rel["inter_only"] += int(n_intra == 0)
            rel["any_inter"] += int(n_intra < len(key))
    micro = None
    if with_gold:
        p = _prf(sums["tp"], sums["fp"], sums["fn"])
        micro = {k: p[k] for k in ("precision", "recall", "f1")}
    cross = [{"r": r, "relation": names[r], "predicted": c["predicted"], "inter_only": c["inter_only"],
              "any_inter": c["any_inter"], "share": c["inter_only"] / c["predicted"]}
             for r, c in per_rel.items() if c["inter_only"] > 0]
    cross.sort(key=lambda x: (-x["inter_only"], -x["share"], x["r"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "documents": n_docs, "documents_with_gold": with_gold,
        "triples": {"predicted": predicted, "tp": status["tp"], "fp": status["fp"], "fn": status["fn"]},
        "micro": micro,
        "key_sets": {"triples": len(sizes), "single": sum(1 for n in sizes if n == 1),
                     "several": sum(1 for n in sizes if n > 1),
                     "mean_size": (sum(sizes) / len(sizes)) if sizes else 0.0},
        "key_pairs": {"intra_sentence": intra, "inter_sentence": inter},
        "cross_sentence_relations": cross,
    }


def format_aggregate(agg: dict[str, Any]) -> str:
    """The aggregate view as a few lines of text (what ``docre inspect`` prints)."""
    t = agg["triples"]
    lines = [f"{agg['documents']} documents ({agg['documents_with_gold']} with gold labels); "
             f"{t['predicted']} predicted triples" + (f": {t['tp']} TP, {t['fp']} FP; {t['fn']} missed (FN)"
                                                       if agg["documents_with_gold"] else "")]
    if agg["micro"]:
        m = agg["micro"]
        lines.append(f"P {m['precision']:.2f}  R {m['recall']:.2f}  F1 {m['f1']:.2f} (micro over these documents)")
    ks = agg["key_sets"]
    if ks["triples"]:
        kp = agg["key_pairs"]
        total = kp["intra_sentence"] + kp["inter_sentence"]
        lines.append(f"key sets of {ks['triples']} predictions: {ks['single']} rest on a single mention pair, "
                     f"{ks['several']} on several (mean |K| {ks['mean_size']:.2f})")
        lines.append(f"key pairs: {kp['intra_sentence']} within one sentence, {kp['inter_sentence']} across "
                     f"sentences ({100.0 * kp['inter_sentence'] / max(1, total):.1f}% cross-sentence)")
        if agg["cross_sentence_relations"]:
            lines.append("relations predicted from cross-sentence key pairs only:")
            for c in agg["cross_sentence_relations"][:15]:
                name = c["relation"][:40] if c["relation"] != c["r"] else ""
                lines.append(f"  {c['r']:<8} {name:<40} {c['inter_only']:>5} of {c['predicted']:<5} "
                             f"({100.0 * c['share']:.0f}%)")
    return "\n".join(lines)
