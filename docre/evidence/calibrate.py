"""The evidence threshold (and KMGRE's key-pair share) chosen on a split with gold evidence.

Each setting is scored with the official evidence F1 (:func:`docre.evaluation.official_scores`)
of the same predicted triples; ties go to the lower threshold and share listed first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from docre.data.documents import Document
from docre.evaluation import official_scores
from docre.evidence.attach import PARTS_KEY, apply_evidence

#: thresholds tried: 0.02, 0.04, ..., 0.98
THRESHOLDS = tuple(round(0.02 * k, 2) for k in range(1, 50))
#: KMGRE key-pair shares tried
SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class EvidenceChoice:
    threshold: float
    key_pair_share: float
    evi_f1: float
    evi_precision: float
    evi_recall: float


def has_gold_evidence(documents: Sequence[Document]) -> bool:
    return any(f.evidence for d in documents if d.labels for f in d.labels)


def choose_evidence_settings(triples: Sequence[dict[str, Any]], gold: Sequence[Document],
                             thresholds: Sequence[float] = THRESHOLDS, shares: Optional[Sequence[float]] = None
                             ) -> Optional[EvidenceChoice]:
    """The setting with the best evidence F1 on ``gold``; the triples are left with its evidence.
    None when no triple carries evidence parts."""
    scored = [t for t in triples if PARTS_KEY in t]
    if not scored:
        return None
    if shares is None:
        shares = SHARES if any("key_pairs" in t[PARTS_KEY] for t in scored) else (0.0,)
    best: Optional[EvidenceChoice] = None
    for share in shares:
        for th in thresholds:
            apply_evidence(scored, th, share)
            s = official_scores(triples, gold)
            if best is None or s["evi_f1"] > best.evi_f1 + 1e-9:
                best = EvidenceChoice(th, share, s["evi_f1"], s["evi_precision"], s["evi_recall"])
    assert best is not None
    apply_evidence(scored, best.threshold, best.key_pair_share)
    return best
