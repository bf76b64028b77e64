"""Linking accuracy: entities with a link, NIL entities, all entities and mentions, beside the prior baseline.

An entity counts when its gold mentions carry a ``link`` (a title, or null for NIL). Its prediction is
right when it equals the gold title (NIL for NIL). Mention level: every annotated mention, its
entity's prediction against its own gold link. The **prior baseline** links each entity to the
candidate with the highest prior over its mentions (the input's candidates; with an alias table,
mentions without candidates take the table's), NIL when it has none.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from docre.data.documents import Document
from docre.errors import DataError, DataProblem
from docre.linking.aliases import AliasTable
from docre.linking.features import gold_link

#: the scores, in table order
SCORE_NAMES = ("linked_accuracy", "nil_accuracy", "entity_accuracy", "mention_accuracy")


def prior_links(doc: Document, aliases: Optional[AliasTable] = None, alias_candidates: int = 16
                ) -> list[Optional[str]]:
    """The prior baseline's title (None: NIL) for each entity of ``doc``."""
    out = []
    for ent in doc.entities:
        best: dict[str, float] = {}
        for m in ent.mentions:
            cands = m.candidates
            if cands is None and aliases is not None:
                cands = tuple(aliases.candidates(m.name, alias_candidates))
            for t, p in cands or ():
                best[t] = max(best.get(t, 0.0), p)
        out.append(min(best, key=lambda t: (-best[t], t)) if best else None)
    return out


def accuracy(predicted: Sequence[Sequence[Optional[str]]], gold_docs: Sequence[Document]) -> dict[str, Any]:
    """Scores (percentages) and counts of per-entity predictions ``predicted[doc][entity]`` against ``gold_docs``."""
    n = {"linked": 0, "nil": 0, "mentions": 0}
    right = {"linked": 0, "nil": 0, "mentions": 0}
    for doc, preds in zip(gold_docs, predicted):
        for ent, pred in zip(doc.entities, preds):
            annotated, link = gold_link(ent)
            if not annotated:
                continue
            kind = "nil" if link is None else "linked"
            n[kind] += 1
            right[kind] += int(pred == link)
            for m in ent.mentions:
                if m.has_link:
                    n["mentions"] += 1
                    right["mentions"] += int(pred == m.link)

    def pct(a: int, b: int) -> float:
        return round(100.0 * a / b, 2) if b else 0.0

    return {"linked_accuracy": pct(right["linked"], n["linked"]), "nil_accuracy": pct(right["nil"], n["nil"]),
            "entity_accuracy": pct(right["linked"] + right["nil"], n["linked"] + n["nil"]),
            "mention_accuracy": pct(right["mentions"], n["mentions"]),
            "linked_entities": n["linked"], "nil_entities": n["nil"], "mentions": n["mentions"]}


def linking_scores(predicted: Sequence[Sequence[Optional[str]]], gold_docs: Sequence[Document],
                   baseline_docs: Optional[Sequence[Document]] = None, aliases: Optional[AliasTable] = None
                   ) -> dict[str, Any]:
    """The system's scores and the prior baseline's (``prior_*``), whose candidates come from
    ``baseline_docs`` (default: ``gold_docs``) and, for mentions without, from ``aliases``."""
    scores = accuracy(predicted, gold_docs)
    base = [prior_links(d, aliases) for d in (baseline_docs or gold_docs)]
    scores.update({f"prior_{k}": v for k, v in accuracy(base, gold_docs).items() if k in SCORE_NAMES})
    return scores


def predicted_links(pred_docs: Sequence[Document], gold_docs: Sequence[Document], source: str
                    ) -> list[list[Optional[str]]]:
    """Each gold document's per-entity predicted links, read from ``pred_docs`` (matched by title; the
    entities must be the gold ones, mention for mention).

    Raises:
        DataError: a gold document without prediction, or entities that differ, naming the document and field.
    """
    by_title = {d.title: d for d in pred_docs}
    out = []
    for g in gold_docs:
        p = by_title.get(g.title)
        if p is None:
            raise DataError(DataProblem(source, "no prediction for this gold document", g.index, g.title, "title"))
        if [[(m.sent_id, m.pos) for m in e.mentions] for e in p.entities] != \
                [[(m.sent_id, m.pos) for m in e.mentions] for e in g.entities]:
            raise DataError(DataProblem(source, "the entities differ from the gold document's (linking accuracy "
                                                "compares links of the same entities)", p.index, p.title, "vertexSet"))
        links = []
        for ei, e in enumerate(p.entities):
            if not any(m.has_link for m in e.mentions):
                raise DataError(DataProblem(source, "no 'link' on this entity's mentions (output of docre link?)",
                                            p.index, p.title, f"vertexSet[{ei}]"))
            links.append(gold_link(e)[1])
        out.append(links)
    return out


def format_linking(scores: dict[str, Any], system: str = "linker", baseline: str = "prior baseline") -> str:
    """The scores as a text table: one row for the system, one for the prior baseline."""
    head = f"{'':<18}{'linked':>9}{'NIL':>9}{'entities':>10}{'mentions':>10}"
    rows = [head]
    for name, prefix in ((system, ""), (baseline, "prior_")):
        vals = [scores[prefix + k] for k in SCORE_NAMES]
        rows.append(f"{name:<18}" + "".join(f"{v:>{w}.2f}" for v, w in zip(vals, (9, 9, 10, 10))))
    rows.append(f"({scores['linked_entities']} entities with a link, {scores['nil_entities']} NIL, "
                f"{scores['mentions']} mentions; accuracy in %)")
    return "\n".join(rows)
