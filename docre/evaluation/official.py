"""The official DocRED metrics.

:func:`official_scores` reproduces the scores of the DocRED CodaLab script -- relation
F1, Ign F1, evidence F1 -- plus the intra-/inter-sentence split of Re-DocRED's benchmark
script, for whichever split it is given. Unlike the original script it never crashes on
an empty prediction list and never adds an epsilon: any 0/0 is scored 0.

Predictions are the CodaLab ``result.json`` entries
``{"title", "h_idx", "t_idx", "r", "evidence"?}``; :func:`read_predictions` reads and
validates such a file, :func:`evaluate_files` scores files end to end.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from docre.data.documents import Document
from docre.data.reader import read_documents
from docre.utils.io import read_text_file
from docre.errors import DataError, DataProblem

PathLike = Union[str, Path]
# (title, head entity index, tail entity index, relation id)
TripleKey = tuple[str, int, int, str]
# (head mention name, tail mention name, relation id)
NameFact = tuple[str, str, str]

SCORE_KEYS: tuple[str, ...] = (
    "precision", "recall", "f1", "ign_precision", "ign_f1",
    "evi_precision", "evi_recall", "evi_f1",
    "intra_precision", "intra_recall", "intra_f1",
    "inter_precision", "inter_recall", "inter_f1",
)
COUNT_KEYS: tuple[str, ...] = ("num_predicted", "num_gold", "num_correct", "num_correct_in_train")


def _ratio(num: int, den: int) -> float:
    """``num / den``, with 0/0 (or anything over 0) scored 0.0."""
    return num / den if den > 0 else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def train_facts(train: Sequence[Document]) -> set[NameFact]:
    """The training facts used by Ign F1.

    Every ``(head mention name, tail mention name, r)`` over every training label and
    every pair of a head-entity mention and a tail-entity mention, as the official DocRED
    script builds them from the training file.
    """
    facts: set[NameFact] = set()
    for doc in train:
        for fact in doc.labels or ():
            head_names = doc.entities[fact.h].names
            tail_names = doc.entities[fact.t].names
            for name_h in head_names:
                for name_t in tail_names:
                    facts.add((name_h, name_t, fact.r))
    return facts


class _GoldDoc:
    """Per-document lookups, each entity's mention names and sentence ids computed once."""

    def __init__(self, doc: Document):
        self.names = [e.names for e in doc.entities]
        self.sent_ids = [e.sent_ids for e in doc.entities]

    def has_pair(self, h: int, t: int) -> bool:
        n = len(self.names)
        return _is_int(h) and _is_int(t) and 0 <= h < n and 0 <= t < n

    def is_intra(self, h: int, t: int) -> bool:
        """Intra-sentence pair: some head mention and some tail mention share a sentence."""
        return not self.sent_ids[h].isdisjoint(self.sent_ids[t])

    def in_train(self, h: int, t: int, r: str, facts: set[NameFact]) -> bool:
        """Whether any (head name, tail name, r) of the pair is a training fact."""
        return any((n_h, n_t, r) in facts for n_h in self.names[h] for n_t in self.names[t])


def _gold_index(gold: Sequence[Document]) -> tuple[dict[str, _GoldDoc], dict[TripleKey, set[int]], dict[TripleKey, bool]]:
    """Gold lookups: per-title documents, evidence per gold triple, intra flag per gold triple.

    A gold triple listed twice in one document counts once, with the union of its
    evidence (the official script would keep only the last copy's evidence but count
    both copies' evidence in the recall denominator; Re-DocRED and DocRED have none).
    """
    docs: dict[str, _GoldDoc] = {}
    evidence: dict[TripleKey, set[int]] = {}
    intra: dict[TripleKey, bool] = {}
    for doc in gold:
        if doc.title in docs:
            raise ValueError(f"gold documents share the title {doc.title!r}; titles must be unique")
        gdoc = _GoldDoc(doc)
        docs[doc.title] = gdoc
        for fact in doc.labels or ():
            key = (doc.title, fact.h, fact.t, fact.r)
            evidence.setdefault(key, set()).update(fact.evidence)
            intra[key] = gdoc.is_intra(fact.h, fact.t)
    return docs, evidence, intra


def _dedupe(predictions: Sequence[Mapping[str, Any]]) -> list[tuple[TripleKey, set[int]]]:
    """Predictions keyed by (title, h_idx, t_idx, r), the first of any duplicates kept."""
    seen: set[TripleKey] = set()
    out: list[tuple[TripleKey, set[int]]] = []
    for p in predictions:
        key = (p["title"], p["h_idx"], p["t_idx"], p["r"])
        if key in seen:
            continue
        seen.add(key)
        out.append((key, set(p.get("evidence") or ())))
    return out


def official_scores(
    predictions: Sequence[Mapping[str, Any]],
    gold: Sequence[Document],
    train: Optional[Sequence[Document]] = None,
) -> dict[str, Union[float, int]]:
    """Score predicted triples against gold documents with the official DocRED metrics.

    Args:
        predictions: CodaLab ``result.json`` entries ``{"title", "h_idx", "t_idx", "r",
            "evidence"?}``. Duplicates on (title, h_idx, t_idx, r) are dropped (the first
            is kept). A prediction on a title not in ``gold`` counts as predicted and wrong.
        gold: the gold documents; those whose ``labels`` is None contribute no facts.
        train: the training documents for Ign F1, or None (then nothing is "in train"
            and the Ign scores equal the plain ones).

    Returns:
        Percentages (0-100) under ``precision, recall, f1, ign_precision, ign_f1,
        evi_precision, evi_recall, evi_f1, intra_precision, intra_recall, intra_f1,
        inter_precision, inter_recall, inter_f1`` and the counts ``num_predicted,
        num_gold, num_correct, num_correct_in_train``. Any 0/0 is 0.0.

    Ign F1: a correct prediction is in train when, for some head-mention name and
    tail-mention name of the pair in the gold document, ``(name_h, name_t, r)`` is a
    training fact; ign precision = (correct - in train) / (predicted - in train), recall
    is unchanged. Evidence: a prediction's evidence is the set of its sentence ids;
    precision is over the evidence of all predictions, overlap is counted on correct
    triples only, recall is over all gold evidence. Intra / inter: a pair is intra when
    some head mention and some tail mention share a sentence; each prediction falls in
    the group of its pair in the gold document (a prediction on an unknown title or
    entity index falls in neither).
    """
    docs, gold_evidence, gold_intra = _gold_index(gold)
    facts = train_facts(train) if train is not None else set()
    preds = _dedupe(predictions)

    num_gold = len(gold_evidence)
    gold_evi_total = sum(len(e) for e in gold_evidence.values())
    gold_intra_total = sum(1 for v in gold_intra.values() if v)
    gold_inter_total = num_gold - gold_intra_total

    correct = correct_in_train = 0
    pred_evi_total = correct_evi = 0
    pred_intra = pred_inter = correct_intra = correct_inter = 0
    for key, evi in preds:
        pred_evi_total += len(evi)
        title, h, t, r = key
        gdoc = docs.get(title)
        if gdoc is None or not gdoc.has_pair(h, t):
            continue  # predicted and wrong, in no intra/inter group
        intra = gdoc.is_intra(h, t)
        if intra:
            pred_intra += 1
        else:
            pred_inter += 1
        gold_evi = gold_evidence.get(key)
        if gold_evi is None:
            continue
        correct += 1
        correct_evi += len(gold_evi & evi)
        if intra:
            correct_intra += 1
        else:
            correct_inter += 1
        if facts and gdoc.in_train(h, t, r, facts):
            correct_in_train += 1

    num_predicted = len(preds)
    precision, recall = _ratio(correct, num_predicted), _ratio(correct, num_gold)
    ign_precision = _ratio(correct - correct_in_train, num_predicted - correct_in_train)
    evi_precision, evi_recall = _ratio(correct_evi, pred_evi_total), _ratio(correct_evi, gold_evi_total)
    intra_precision, intra_recall = _ratio(correct_intra, pred_intra), _ratio(correct_intra, gold_intra_total)
    inter_precision, inter_recall = _ratio(correct_inter, pred_inter), _ratio(correct_inter, gold_inter_total)

    fractions = {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "ign_precision": ign_precision,
        "ign_f1": _f1(ign_precision, recall),
        "evi_precision": evi_precision,
        "evi_recall": evi_recall,
        "evi_f1": _f1(evi_precision, evi_recall),
        "intra_precision": intra_precision,
        "intra_recall": intra_recall,
        "intra_f1": _f1(intra_precision, intra_recall),
        "inter_precision": inter_precision,
        "inter_recall": inter_recall,
        "inter_f1": _f1(inter_precision, inter_recall),
    }
    scores: dict[str, Union[float, int]] = {k: 100.0 * v for k, v in fractions.items()}
    scores.update(
        num_predicted=num_predicted,
        num_gold=num_gold,
        num_correct=correct,
        num_correct_in_train=correct_in_train,
    )
    return scores


def _prediction_problem(entry: Any) -> Optional[tuple[Optional[str], str]]:
    """The first problem of one result.json entry as (field, message), or None if valid."""
    if not isinstance(entry, dict):
        return None, f"a prediction must be a JSON object, got {type(entry).__name__}"
    for key in ("title", "h_idx", "t_idx", "r"):
        if key not in entry:
            return key, f"missing key '{key}'"
    if not isinstance(entry["title"], str):
        return "title", f"must be a string, got {entry['title']!r}"
    for key in ("h_idx", "t_idx"):
        v = entry[key]
        if not _is_int(v) or v < 0:
            return key, f"must be an entity index (non-negative integer), got {v!r}"
    if not isinstance(entry["r"], str):
        return "r", f"must be a relation id string, got {entry['r']!r}"
    if "evidence" in entry:
        evi = entry["evidence"]
        if not isinstance(evi, list) or not all(_is_int(e) and e >= 0 for e in evi):
            return "evidence", f"must be a list of sentence ids (non-negative integers), got {evi!r}"
    return None


def check_prediction(entry: Any, file: str, index: int) -> None:
    """Raise :class:`DataError` if ``entry`` is not a valid result.json prediction.

    The problem names ``file``, the entry ``index``, its title when known and the field.
    """
    problem = _prediction_problem(entry)
    if problem is None:
        return
    fld, message = problem
    title = entry.get("title") if isinstance(entry, dict) else None
    raise DataError(DataProblem(file, message, doc_index=index, title=title if isinstance(title, str) else None, field=fld))


def read_predictions(path: PathLike) -> list[dict[str, Any]]:
    """Read and validate a CodaLab ``result.json`` (a JSON list of prediction objects).

    Each entry needs ``title`` (str), ``h_idx`` and ``t_idx`` (non-negative int, not
    bool) and ``r`` (str); ``evidence`` is optional (a list of sentence ids) and is
    filled in as ``[]`` when absent. Other keys are kept.

    Raises:
        DataError: naming the file, the entry index (``doc_index``), its title when
            known and the offending field.
    """
    file = str(path)
    text = read_text_file(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(DataProblem(file, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")) from exc
    except RecursionError as exc:
        raise DataError(DataProblem(file, "JSON nested too deeply")) from exc
    if not isinstance(obj, list):
        raise DataError(DataProblem(file, f"top level must be a JSON list of predictions, got {type(obj).__name__}"))
    predictions = []
    for i, entry in enumerate(obj):
        check_prediction(entry, file, i)
        predictions.append({**entry, "evidence": list(entry.get("evidence", []))})
    return predictions


def evaluate_files(
    pred_path: PathLike, gold_path: PathLike, train_path: Optional[PathLike] = None
) -> dict[str, Union[float, int]]:
    """Score a result.json against a gold DocRED file (and a training file for Ign F1).

    Returns :func:`official_scores` of the three files.

    Raises:
        DataError: a file is malformed, the training file lacks labels, or the gold file
            has no labels at all.
    """
    gold = read_documents(gold_path)
    if not any(d.has_labels for d in gold):
        raise DataError(DataProblem(str(gold_path), "has no labels: cannot score"))
    train = read_documents(train_path, require_labels=True) if train_path is not None else None
    predictions = read_predictions(pred_path)
    return official_scores(predictions, gold, train)


__all__ = ["official_scores", "read_predictions", "evaluate_files", "train_facts", "check_prediction", "SCORE_KEYS", "COUNT_KEYS"]
