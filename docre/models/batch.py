"""Batches of document features and what heads return."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch

from docre.data.features import DocFeatures


@dataclass
class Batch:
    """A batch of documents.

    input_ids: per document ``[L_b]``; mention_pos: per document ``[M_b]``;
    labels: per document ``[E_b, C]`` multi-hot (column 0 = 1 for NA pairs), or None.
    """

    features: list[DocFeatures]
    input_ids: list[torch.Tensor]
    mention_pos: list[torch.Tensor]
    labels: list[Optional[torch.Tensor]]

    @property
    def has_labels(self) -> bool:
        return all(lab is not None for lab in self.labels)


def collate(features: Sequence[DocFeatures], num_classes: int) -> Batch:
    """Turn features into tensors (kept per document: documents differ in length)."""
    input_ids, mention_pos, labels = [], [], []
    for f in features:
        input_ids.append(torch.tensor(f.input_ids, dtype=torch.long))
        mention_pos.append(torch.tensor(f.mention_pos, dtype=torch.long))
        if f.labels is None:
            labels.append(None)
            continue
        lab = torch.zeros(len(f.entity_pairs), num_classes)
        for j, classes in enumerate(f.labels):
            if classes:
                lab[j, classes] = 1.0
            else:
                lab[j, 0] = 1.0
        labels.append(lab)
    return Batch(list(features), input_ids, mention_pos, labels)


@dataclass
class HeadOutput:
    """logits: per document ``[E_b, C]`` entity-pair logits (class 0 = TH);
    loss: the training loss of the phase (None without labels); stats: scalars to log;
    details: per document, head-specific attribution data (when asked for);
    loss_terms: the terms ``loss`` sums, by name (one of :data:`LOSS_TERMS`), each as (its mean
    over items, the number of items): data-parallel training weighs each process's terms by
    its share of the global batch's items (``docre.training.distributed``)."""

    logits: list[torch.Tensor]
    loss: Optional[torch.Tensor] = None
    stats: dict[str, float] = field(default_factory=dict)
    details: Optional[list[dict[str, Any]]] = None
    loss_terms: dict[str, tuple[torch.Tensor, int]] = field(default_factory=dict)
    #: per document, what evidence scores read (``forward(..., return_evidence=True)``; docre.evidence)
    evidence: Optional[list[dict[str, Any]]] = None


# names of loss terms: theta = ATLoss over entity pairs; omega = focal loss over mention pairs (KMGRE);
# evidence = KL of the pair attention per sentence from the gold evidence (train.evidence_weight)
LOSS_TERMS = ("theta", "omega", "evidence")
