"""Losses of the method: ATLOP's adaptive-threshold loss and the binary focal loss (E-step).

Both are small pure functions of tensors so they can be checked against hand computations.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

_NEG = -1e30


def adaptive_threshold_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ATLoss (ATLOP, eq. 6-7), averaged over entity pairs.

    Args:
        logits: ``[n_pairs, n_classes]``; class 0 is the threshold class TH.
        labels: ``[n_pairs, n_classes]`` multi-hot gold labels; column 0 is ignored
            (an NA pair has no positive class).

    L1 ranks every positive class above TH (softmax over positives and TH);
    L2 ranks TH above every negative class (softmax over negatives and TH).
    """
    labels = labels.to(logits.dtype).clone()
    labels[:, 0] = 0.0
    th_label = torch.zeros_like(labels)
    th_label[:, 0] = 1.0
    pos_mask = labels + th_label  # positives and TH
    neg_mask = 1.0 - labels  # negatives and TH
    logit1 = logits.masked_fill(pos_mask == 0, _NEG)
    loss1 = -(F.log_softmax(logit1.float(), dim=-1) * labels).sum(-1)
    logit2 = logits.masked_fill(neg_mask == 0, _NEG)
    loss2 = -(F.log_softmax(logit2.float(), dim=-1) * th_label).sum(-1)
    return (loss1 + loss2).mean()


def threshold_multilabel_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """GPLinker's multi-label categorical cross-entropy for relation heads (``train.loss multilabel_ce``),
    averaged over entity pairs, with the scores measured against the pair's TH logit:
    :func:`multilabel_categorical_crossentropy` of ``logits[:, 1:] - logits[:, :1]``.

    Same arguments as :func:`adaptive_threshold_loss`, and the same prediction rule
    (:func:`adaptive_threshold_predict`): a class is predicted when its logit exceeds TH. For an NA
    pair it equals ATLoss's second term; for a pair with facts its positive term is one
    ``log(1 + sum_P exp(TH - s_p))`` where ATLoss sums one softmax term per positive class. With a TH
    logit of 0 it is GPLinker's loss exactly.
    """
    return multilabel_categorical_crossentropy(logits[:, 1:] - logits[:, :1], labels[:, 1:])


def relation_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The relation loss named by ``train.loss``: ``"atl"`` (ATLoss) or ``"multilabel_ce"``."""
    losses = {"atl": adaptive_threshold_loss, "multilabel_ce": threshold_multilabel_ce}
    if name not in losses:
        raise ValueError(f"train.loss must be one of {', '.join(losses)}, got {name!r}")
    return losses[name]


def adaptive_threshold_predict(logits: torch.Tensor, num_labels: int = 4) -> torch.Tensor:
    """ATLOP's prediction rule.

    Classes whose logit exceeds the TH logit (class 0), keeping at most ``num_labels``
    of them, highest first (``num_labels <= 0``: no limit). Returns a ``[n_pairs,
    n_classes]`` 0/1 tensor whose column 0 is 1 exactly for pairs predicted NA.
    """
    th = logits[:, :1]
    mask = logits > th
    if num_labels > 0:
        k = min(num_labels, logits.size(-1))
        top = torch.zeros_like(mask).scatter_(1, logits.topk(k, dim=-1).indices, True)
        mask = mask & top  # exactly the k highest (ties broken by topk), never more
    out = mask.to(logits.dtype)
    out[:, 0] = (out[:, 1:].sum(-1) == 0).to(logits.dtype)
    return out


def binary_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Binary focal loss, averaged over elements (KMGRE E-step, spec 3.3).

    ``FL(p, z) = -alpha (1-p)^gamma log p`` if ``z = 1``;
    ``-(1-alpha) p^gamma log(1-p)`` if ``z = 0``, with ``p = sigmoid(logits)``.
    Computed from logits for numerical stability. An empty input gives 0.
    """
    if logits.numel() == 0:
        return logits.sum() * 0.0
    logits = logits.float()
    targets = targets.to(logits.dtype)
    p = torch.sigmoid(logits)
    log_p = F.logsigmoid(logits)
    log_1mp = F.logsigmoid(-logits)
    pos = -alpha * (1.0 - p).pow(gamma) * log_p
    neg = -(1.0 - alpha) * p.pow(gamma) * log_1mp
    return (targets * pos + (1.0 - targets) * neg).mean()


def multilabel_categorical_crossentropy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """GPLinker's multi-label categorical cross-entropy, averaged over rows.

    For each row of ``scores [n, k]`` with positive set P (``labels`` 1) and negative set N (0)::

        L = log(1 + sum_{i in P} exp(-s_i)) + log(1 + sum_{i in N} exp(s_i))

    which trains every positive above 0 and every negative below 0: the decision threshold is
    fixed at 0 (ATLoss learns one per pair instead). Computed with ``logsumexp`` over the row and a
    zero column, so it is stable for any scores. A row without positives costs only its negative
    term; an empty input gives 0.
    """
    if scores.numel() == 0:
        return scores.sum() * 0.0
    s = scores.float()
    pos = labels.to(torch.bool)
    zero = s.new_zeros(s.shape[:-1] + (1,))
    neg_term = torch.logsumexp(torch.cat([s.masked_fill(pos, _NEG), zero], -1), -1)
    pos_term = torch.logsumexp(torch.cat([(-s).masked_fill(~pos, _NEG), zero], -1), -1)
    return (neg_term + pos_term).mean()
