"""End-to-end metrics (JEREX's, Eberts & Ulges EACL 2021): a system that found the mentions, their
entities and the relations itself, scored against gold documents of the same text.

Every stage is scored on its own, so the cost of each is visible:

- **mentions**: exact span match (character span ``[begin, end)`` into the text; type ignored);
- **coreference**: MUC, B-cubed and CEAF-e over the mention clusters, and their mean (the CoNLL score);
- **entities**: a predicted entity is correct when its mention set equals a gold entity's and its
  type is that entity's type;
- **relations, strict**: ``(head, r, tail)`` correct when both entities are correct as above (same
  mention set, same type) and the relation id is right; **relations, clusters**: the same without
  the entity types (JEREX's "without entity type").

All counts are summed over documents before dividing (micro averages; for coreference, the
numerators and denominators of each metric, as the CoNLL-2012 scorer does). Any 0/0 is 0, as in
:mod:`docre.evaluation.official`. Singleton clusters count: DocRED-style data annotates every
entity, most of them with one mention, so B-cubed and CEAF-e include them (MUC by its definition
gives a singleton no weight).

Gold clusters must not share a mention for B-cubed to stay within [0, 1]: :meth:`EntityGraph.partition`
keeps a span that a gold file lists under two entities in the first one only (Re-DocRED's dev set
has 36 such spans) for the coreference scores; mention, entity and relation scores use the
entities as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

Span = tuple[int, int]
Cluster = frozenset  # of Span

#: score thresholds at which the strict relation scores are also reported (calibration view)
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.5, 0.7, 0.9)


@dataclass
class EntityGraph:
    """What one document holds: entities (mention spans + type) and relations between them.

    entities: per entity, its mention spans and its type.
    relations: ``(head entity, tail entity, relation id) -> score`` (gold relations: score 1.0).
    """

    entities: list[tuple[frozenset, str]]
    relations: dict[tuple[int, int, str], float] = field(default_factory=dict)

    @property
    def mentions(self) -> set[Span]:
        return {s for spans, _ in self.entities for s in spans}

    def partition(self) -> list[frozenset]:
        """The entities' mention sets with each span kept in its first entity only (empty sets dropped)."""
        seen: set[Span] = set()
        out = []
        for spans, _ in self.entities:
            kept = frozenset(s for s in spans if s not in seen)
            seen |= kept
            if kept:
                out.append(kept)
        return out

    def typed_entities(self) -> set[tuple[frozenset, str]]:
        return {(spans, typ) for spans, typ in self.entities if spans}

    def strict_relations(self, min_score: float = 0.0) -> set[tuple]:
        """``((head spans, head type), (tail spans, tail type), r)`` of relations scoring at least ``min_score``."""
        out = set()
        for (h, t, r), score in self.relations.items():
            if score >= min_score:
                out.add((self.entities[h], self.entities[t], r))
        return out

    def cluster_relations(self) -> set[tuple]:
        """``(head spans, tail spans, r)``: relations with the entity types left out."""
        return {(self.entities[h][0], self.entities[t][0], r) for h, t, r in self.relations}


# ---------------------------------------------------------------------------- counting
def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


def prf(correct: float, predicted: float, gold: float) -> tuple[float, float, float]:
    """(precision, recall, F1) as fractions; 0/0 is 0."""
    p, r = _ratio(correct, predicted), _ratio(correct, gold)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def muc_counts(gold: Sequence[frozenset], pred: Sequence[frozenset]) -> tuple[int, int, int, int]:
    """MUC (Vilain et al. 1995) as (recall numerator, recall denominator, precision numerator, precision
    denominator).

    Recall: for every gold cluster k, ``|k| - |partition of k by the predicted clusters|`` over
    ``|k| - 1``, where a mention of k that no predicted cluster holds is a part of its own. Precision:
    the same with gold and predicted swapped.
    """
    def side(keys: Sequence[frozenset], responses: Sequence[frozenset]) -> tuple[int, int]:
        where = {m: i for i, c in enumerate(responses) for m in c}
        num = den = 0
        for k in keys:
            if not k:
                continue
            parts = {where.get(m, ("alone", m)) for m in k}
            num += len(k) - len(parts)
            den += len(k) - 1
        return num, den

    rn, rd = side(gold, pred)
    pn, pd = side(pred, gold)
    return rn, rd, pn, pd


def b_cubed_counts(gold: Sequence[frozenset], pred: Sequence[frozenset]) -> tuple[float, int, float, int]:
    """B-cubed (Bagga & Baldwin 1998) as (recall numerator, number of gold mentions, precision numerator,
    number of predicted mentions): recall = sum over gold clusters k and predicted clusters r of
    ``|k & r|^2 / |k|``, over the gold mentions; precision the same with ``/ |r|``, over the
    predicted mentions. Clusters of one side must not share mentions."""
    rn = pn = 0.0
    for k in gold:
        for r in pred:
            common = len(k & r)
            if common:
                rn += common * common / len(k)
                pn += common * common / len(r)
    return rn, sum(len(k) for k in gold), pn, sum(len(r) for r in pred)


def max_weight_assignment(weights: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """A one-to-one assignment of rows to columns with the largest total weight (Kuhn-Munkres).

    ``weights`` is an ``n x m`` matrix (any n, m); returns the chosen ``(row, column)`` pairs,
    ``min(n, m)`` of them. O(k^3) for k = max(n, m): the shortest augmenting path version with
    potentials, on costs ``max(w) - w`` padded to a square.
    """
    n = len(weights)
    m = len(weights[0]) if n else 0
    if n == 0 or m == 0:
        return []
    k = max(n, m)
    top = max(max(row) for row in weights)
    cost = [[(top - weights[i][j]) if i < n and j < m else top for j in range(k)] for i in range(k)]
    inf = float("inf")
    u = [0.0] * (k + 1)  # row potentials (1-based; 0 is the virtual start)
    v = [0.0] * (k + 1)  # column potentials
    match = [0] * (k + 1)  # match[j] = row assigned to column j
    way = [0] * (k + 1)
    for i in range(1, k + 1):
        match[0] = i
        j0 = 0
        minv = [inf] * (k + 1)
        used = [False] * (k + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = match[j0], inf, 0
            for j in range(1, k + 1):
                if used[j]:
                    continue
                cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                if cur < minv[j]:
                    minv[j], way[j] = cur, j0
                if minv[j] < delta:
                    delta, j1 = minv[j], j
            for j in range(k + 1):
                if used[j]:
                    u[match[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while True:  # flip the augmenting path
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
            if j0 == 0:
                break
    pairs = [(match[j] - 1, j - 1) for j in range(1, k + 1) if match[j] and match[j] - 1 < n and j - 1 < m]
    return sorted(pairs)


def ceaf_e_counts(gold: Sequence[frozenset], pred: Sequence[frozenset]) -> tuple[float, int, float, int]:
    """CEAF-e (Luo 2005, entity similarity phi_4) as (similarity, number of gold clusters, similarity,
    number of predicted clusters): the best one-to-one alignment of gold and predicted clusters by
    ``phi_4(k, r) = 2 |k & r| / (|k| + |r|)``; recall divides its total by the gold clusters,
    precision by the predicted ones."""
    gold = [k for k in gold if k]
    pred = [r for r in pred if r]
    if not gold or not pred:
        return 0.0, len(gold), 0.0, len(pred)
    sim = [[2 * len(k & r) / (len(k) + len(r)) for r in pred] for k in gold]
    total = sum(sim[i][j] for i, j in max_weight_assignment(sim))
    return total, len(gold), total, len(pred)


# ---------------------------------------------------------------------------- the scores
def _add(acc: list[float], counts: Iterable[float]) -> None:
    for i, c in enumerate(counts):
        acc[i] += c


def end_to_end_scores(gold: Sequence[EntityGraph], pred: Sequence[EntityGraph],
                      thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, float | int | list]:
    """JEREX's end-to-end scores of predicted documents against gold ones (same order, same texts).

    Returns percentages (0-100) ``mention_{precision,recall,f1}``, ``muc_*``, ``b3_*``, ``ceafe_*``,
    ``coref_f1`` (the mean of the three F1s), ``entity_*``, ``relation_strict_*`` and
    ``relation_clusters_*``; counts ``num_{gold,predicted,correct}_{mentions,entities,relations}``;
    and ``relation_strict_by_threshold``: per threshold, the strict scores of the relations whose
    score reaches it (how far raising the cut-off trades recall for precision).
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold documents but {len(pred)} predicted ones")
    mention = [0, 0, 0]  # correct, predicted, gold
    entity = [0, 0, 0]
    strict = [0, 0, 0]
    clusters = [0, 0, 0]
    muc, b3, ceafe = [0.0] * 4, [0.0] * 4, [0.0] * 4
    by_threshold = {t: [0, 0, 0] for t in thresholds}
    for g, p in zip(gold, pred):
        gm, pm = g.mentions, p.mentions
        _add(mention, (len(gm & pm), len(pm), len(gm)))
        gc, pc = g.partition(), p.partition()
        _add(muc, muc_counts(gc, pc))
        _add(b3, b_cubed_counts(gc, pc))
        _add(ceafe, ceaf_e_counts(gc, pc))
        ge, pe = g.typed_entities(), p.typed_entities()
        _add(entity, (len(ge & pe), len(pe), len(ge)))
        gs, ps = g.strict_relations(), p.strict_relations()
        _add(strict, (len(gs & ps), len(ps), len(gs)))
        for t in thresholds:
            pt = p.strict_relations(t)
            _add(by_threshold[t], (len(gs & pt), len(pt), len(gs)))
        gr, pr = g.cluster_relations(), p.cluster_relations()
        _add(clusters, (len(gr & pr), len(pr), len(gr)))

    out: dict[str, float | int | list] = {}

    def put(name: str, p: float, r: float, f: float) -> None:
        out[f"{name}_precision"], out[f"{name}_recall"], out[f"{name}_f1"] = 100 * p, 100 * r, 100 * f

    put("mention", *prf(*mention))
    for name, (rn, rd, pn, pd) in (("muc", muc), ("b3", b3), ("ceafe", ceafe)):
        p, r = _ratio(pn, pd), _ratio(rn, rd)
        put(name, p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)
    out["coref_f1"] = (out["muc_f1"] + out["b3_f1"] + out["ceafe_f1"]) / 3
    put("entity", *prf(*entity))
    put("relation_strict", *prf(*strict))
    put("relation_clusters", *prf(*clusters))
    for name, acc in (("mentions", mention), ("entities", entity), ("relations", strict)):
        out[f"num_correct_{name}"], out[f"num_predicted_{name}"], out[f"num_gold_{name}"] = acc
    rows = []
    for t in thresholds:
        p, r, f = prf(*by_threshold[t])
        rows.append({"threshold": t, "precision": 100 * p, "recall": 100 * r, "f1": 100 * f,
                     "num_predicted": by_threshold[t][1]})
    out["relation_strict_by_threshold"] = rows
    return out


def format_end_to_end(scores: Mapping[str, object], gold_entity_scores: Mapping[str, object] | None = None) -> str:
    """The scores as a small table, one line per stage (what ``docre evaluate --end-to-end`` prints)."""
    def row(label: str, name: str) -> str:
        return (f"{label:<34} P {scores[name + '_precision']:6.2f}  R {scores[name + '_recall']:6.2f}  "
                f"F1 {scores[name + '_f1']:6.2f}")

    lines = [row("mentions (exact span)", "mention"),
             row("coreference: MUC", "muc"), row("coreference: B-cubed", "b3"), row("coreference: CEAF-e", "ceafe"),
             f"{'coreference: mean (CoNLL)':<34} F1 {scores['coref_f1']:6.2f}",
             row("entities (cluster + type)", "entity"),
             row("relations, strict (from text)", "relation_strict"),
             row("relations, clusters (types ignored)", "relation_clusters")]
    if gold_entity_scores is not None:
        g = gold_entity_scores
        lines.append(f"{'relations given gold entities':<34} P {g['precision']:6.2f}  R {g['recall']:6.2f}  "
                     f"F1 {g['f1']:6.2f}  (Ign F1 {g['ign_f1']:.2f})")
    for t in scores.get("relation_strict_by_threshold", []):  # type: ignore[union-attr]
        lines.append(f"  strict, score >= {t['threshold']:<4g}             P {t['precision']:6.2f}  "
                     f"R {t['recall']:6.2f}  F1 {t['f1']:6.2f}  ({t['num_predicted']} predicted)")
    return "\n".join(lines)


#: rows of the stage table: the end-to-end row, then each stage given gold input up to it
STAGE_LABELS = {
    "end_to_end": "from text (end to end)",
    "gold_mentions": "given gold mentions",
    "gold_clusters": "given gold mentions + clusters",
    "gold_entities": "given gold entities (+ types)",
}


def format_stage_table(rows: Mapping[str, Mapping[str, object]]) -> str:
    """The stage table: per row of :data:`STAGE_LABELS` present in ``rows`` (name -> end-to-end
    scores), mention, coreference (CoNLL mean), entity and strict relation F1, and the strict relation
    F1 as a share of the gold-entity row's. Where a row is given a stage from the gold annotation, that
    stage's column scores the given input (below 100 only where mentions lie past the encoded text)."""
    cols = (("mention", "mention_f1"), ("coref", "coref_f1"), ("entity", "entity_f1"),
            ("relation", "relation_strict_f1"))
    ref = rows.get("gold_entities", {}).get("relation_strict_f1")
    head = f"{'stage':<32}" + "".join(f"{c:>10}" for c, _ in cols) + f"{'of gold':>10}"
    lines = [head, "-" * len(head)]
    for name, label in STAGE_LABELS.items():
        if name not in rows:
            continue
        r = rows[name]
        share = f"{float(r['relation_strict_f1']) / float(ref):>10.2f}" if ref else f"{'':>10}"
        lines.append(f"{label:<32}" + "".join(f"{float(r[k]):>10.2f}" for _, k in cols) + share)
    return "\n".join(lines)


__all__ = ["EntityGraph", "end_to_end_scores", "format_end_to_end", "format_stage_table", "STAGE_LABELS", "muc_counts", "b_cubed_counts",
           "ceaf_e_counts", "max_weight_assignment", "prf", "DEFAULT_THRESHOLDS"]
