"""Key mention pairs: KMGRE's E-step pseudo labels and M-step selection and fusion (spec 3.3-3.5).

The mention pairs of a document are rows ``0..P-1``; ``pair_index[P]`` says which
ordered entity pair (bag, ``0..E-1``) each belongs to. Every per-bag reduction is a
segment operation keyed by ``pair_index`` (``scatter_reduce_`` / ``index_add_``), so
nothing loops over pairs. C is the number of classes including the threshold class 0.
"""
from __future__ import annotations

import math

import torch

#: Accepted values of ``na_policy`` in :func:`key_instance_pseudo_labels`.
NA_POLICIES = ("threshold_class", "all_key", "skip")
#: Accepted values of ``mode`` in :func:`fuse_key_pairs`.
FUSION_MODES = ("logsumexp", "mean")
#: Accepted values of ``schedule`` in :func:`tau_at`.
TAU_SCHEDULES = ("linear", "constant", "cosine")


def _accumulation_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 for means that must reproduce a bag of equal values exactly (not on MPS)."""
    return torch.float32 if t.device.type == "mps" else torch.float64


def _expand_index(index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``index [P]`` broadcast to ``values``' shape ``[P, ...]`` for scatter ops."""
    return index.view(-1, *([1] * (values.dim() - 1))).expand_as(values)


def segment_sum(values: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sum of ``values [P, ...]`` per segment ``index [P]`` -> ``[num_segments, ...]`` (empty: 0)."""
    out = values.new_zeros((num_segments, *values.shape[1:]))
    return out.index_add_(0, index, values)


def segment_count(index: torch.Tensor, num_segments: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Number of rows of each segment -> ``[num_segments]``."""
    return torch.zeros(num_segments, dtype=dtype, device=index.device).index_add_(
        0, index, torch.ones(index.numel(), dtype=dtype, device=index.device)
    )


def segment_mean(values: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of ``values [P, ...]`` per segment ``index [P]`` -> ``[num_segments, ...]``.

    An empty segment gives 0.
    """
    sums = segment_sum(values, index, num_segments)
    counts = segment_count(index, num_segments, dtype=values.dtype).clamp_min(1)  # [S]
    return sums / counts.view(-1, *([1] * (values.dim() - 1)))


def _segment_reduce(
    values: torch.Tensor, index: torch.Tensor, num_segments: int, reduce: str, empty_value: float
) -> torch.Tensor:
    out = values.new_full((num_segments, *values.shape[1:]), empty_value)
    return out.scatter_reduce_(0, _expand_index(index, values), values, reduce=reduce, include_self=False)


def segment_max(values: torch.Tensor, index: torch.Tensor, num_segments: int, empty_value: float = 0.0) -> torch.Tensor:
    """Max of ``values [P, ...]`` per segment -> ``[num_segments, ...]``; empty segments get ``empty_value``."""
    return _segment_reduce(values, index, num_segments, "amax", empty_value)


def segment_min(values: torch.Tensor, index: torch.Tensor, num_segments: int, empty_value: float = 0.0) -> torch.Tensor:
    """Min of ``values [P, ...]`` per segment -> ``[num_segments, ...]``; empty segments get ``empty_value``."""
    return _segment_reduce(values, index, num_segments, "amin", empty_value)


@torch.no_grad()
def key_instance_pseudo_labels(
    mention_probs: torch.Tensor,
    pair_index: torch.Tensor,
    labels: torch.Tensor,
    na_policy: str = "threshold_class",
) -> tuple[torch.Tensor, torch.Tensor]:
    """E-step pseudo labels zhat of the key instance classifier (spec 3.3).

    pbar(e, c) = mean over bag e's mention pairs of p_theta(y_c | m_i, m_j);
    zhat_(i,j) = 1 iff some gold class c of its entity pair has p(c) >= pbar(e, c).

    Args:
        mention_probs: ``[P, C]`` sigmoid of the mention-level logits (theta fixed: no
            gradient is taken).
        pair_index: ``[P]`` entity pair of each mention pair.
        labels: ``[E, C]`` multi-hot gold labels. A pair is NA iff it has no positive
            class among columns ``1..C-1`` (column 0 may be 1 or 0 for NA pairs; it is
            ignored for non-NA pairs).
        na_policy: how NA pairs are treated (spec 3.3, open choice):
            ``"threshold_class"``: class 0 is their one gold class in the rule above;
            ``"all_key"``: all their mention pairs get zhat = 1;
            ``"skip"``: their mention pairs are left out of L_omega.

    Returns:
        ``(zhat, weight_mask)``: ``zhat [P]`` float 0/1 pseudo labels and
        ``weight_mask [P]`` bool, True for the mention pairs that enter L_omega.
    """
    if na_policy not in NA_POLICIES:
        raise ValueError(f"na_policy must be one of {', '.join(NA_POLICIES)}; got {na_policy!r}")
    num_pairs = labels.size(0)
    acc = _accumulation_dtype(mention_probs)
    probs = mention_probs.detach().to(acc)  # [P, C]
    pbar = segment_mean(probs, pair_index, num_pairs)  # [E, C]
    gold = labels > 0  # [E, C]
    is_na = ~gold[:, 1:].any(-1)  # [E]
    gold_eff = gold.clone()
    gold_eff[:, 0] = is_na if na_policy == "threshold_class" else False  # class 0 is gold only for NA
    above = probs >= pbar.index_select(0, pair_index)  # [P, C]
    zhat = (above & gold_eff.index_select(0, pair_index)).any(-1)  # [P]
    na_rows = is_na.index_select(0, pair_index)  # [P]
    weight_mask = torch.ones_like(zhat)
    if na_policy == "all_key":
        zhat = zhat | na_rows
    elif na_policy == "skip":
        weight_mask = ~na_rows
    return zhat.to(mention_probs.dtype), weight_mask


@torch.no_grad()
def key_pair_threshold(
    p_omega: torch.Tensor, pair_index: torch.Tensor, num_entity_pairs: int, xi: float, tau: float
) -> torch.Tensor:
    """Per-entity-pair selection threshold (spec 3.4, paper Algorithm 1).

    ptilde(h,t) = min(mean(p_omega) + xi * (max(p_omega) - min(p_omega)), tau) over the
    pair's mention pairs.

    Args:
        p_omega: ``[P]`` key-instance probabilities.
        pair_index: ``[P]`` entity pair of each mention pair.
        num_entity_pairs: E.
        xi: spread weight (xi = 0, tau = 1: the plain mean).
        tau: upper bound on the threshold.

    Returns:
        ``[E]`` thresholds, in ``p_omega``'s dtype (an entity pair with no mention pair gets min(0, tau)).
    """
    p = p_omega.detach().to(_accumulation_dtype(p_omega))  # [P]
    mean = segment_mean(p, pair_index, num_entity_pairs)  # [E]
    spread = segment_max(p, pair_index, num_entity_pairs) - segment_min(p, pair_index, num_entity_pairs)  # [E]
    return (mean + xi * spread).clamp_max(tau).to(p_omega.dtype)


@torch.no_grad()
def select_key_pairs(
    p_omega: torch.Tensor, pair_index: torch.Tensor, num_entity_pairs: int, xi: float, tau: float
) -> torch.Tensor:
    """Key set K(h,t) = {(i,j) : p_omega >= ptilde(h,t)} (spec 3.4), never empty.

    The first mention pair with the highest p_omega of every entity pair is always in K,
    so K is non-empty even when tau is below every p_omega. The selection is discrete:
    no gradient flows through it.

    Args:
        p_omega: ``[P]`` key-instance probabilities.
        pair_index: ``[P]`` entity pair of each mention pair.
        num_entity_pairs: E.
        xi, tau: see :func:`key_pair_threshold`.

    Returns:
        ``[P]`` bool key mask.
    """
    p = p_omega.detach()
    ptilde = key_pair_threshold(p, pair_index, num_entity_pairs, xi, tau)  # [E]
    key = p >= ptilde.index_select(0, pair_index)  # [P]
    # First argmax of each bag: the smallest row index among the rows equal to the bag max.
    bag_max = segment_max(p, pair_index, num_entity_pairs)  # [E]
    rows = torch.arange(p.numel(), device=p.device)  # [P]
    candidates = torch.where(p == bag_max.index_select(0, pair_index), rows, p.numel())  # [P]
    first = segment_min(candidates, pair_index, num_entity_pairs, empty_value=p.numel())  # [E]
    first = first[first < p.numel()]  # bags that have rows
    key[first] = True
    return key


def fuse_key_pairs(
    mention_logits: torch.Tensor,
    key_mask: torch.Tensor,
    pair_index: torch.Tensor,
    num_entity_pairs: int,
    mode: str = "logsumexp",
) -> torch.Tensor:
    """Entity-level logits from the key mention pairs (spec 3.4, M-step).

    l_c(h,t) = logsumexp (default, the paper's) or mean over (i,j) in K(h,t) of l^(i,j)_c.
    The logsumexp is stabilised by a (detached) per-bag max. Mention pairs outside K
    contribute nothing and receive exactly zero gradient.

    Args:
        mention_logits: ``[P, C]`` mention-level relation logits.
        key_mask: ``[P]`` bool key set (from :func:`select_key_pairs`; all True = K is
            every mention pair).
        pair_index: ``[P]`` entity pair of each mention pair.
        num_entity_pairs: E.
        mode: ``"logsumexp"`` or ``"mean"``.

    Returns:
        ``[E, C]`` entity-pair logits, differentiable w.r.t. ``mention_logits``. Every
        entity pair should have a key mention pair; one without gets -inf (logsumexp)
        or 0 (mean).
    """
    if mode not in FUSION_MODES:
        raise ValueError(f"fusion mode must be one of {', '.join(FUSION_MODES)}; got {mode!r}")
    work = torch.promote_types(mention_logits.dtype, torch.float32)
    rows = key_mask.nonzero().squeeze(1)  # [K]
    logits = mention_logits.index_select(0, rows).to(work)  # [K, C]
    seg = pair_index.index_select(0, rows)  # [K]
    if mode == "mean":
        return segment_mean(logits, seg, num_entity_pairs)
    bag_max = segment_max(logits.detach(), seg, num_entity_pairs, empty_value=0.0)  # [E, C]
    bag_max = torch.where(torch.isfinite(bag_max), bag_max, torch.zeros_like(bag_max))
    sums = segment_sum(torch.exp(logits - bag_max.index_select(0, seg)), seg, num_entity_pairs)  # [E, C]
    return torch.log(sums) + bag_max


def tau_at(step: int, total_steps: int, start: float, end: float, schedule: str = "linear") -> float:
    """tau at ``step`` of the EM phase (spec 3.4: tau rises as the classifier improves).

    ``"linear"``: start -> end over ``total_steps``; ``"constant"``: start;
    ``"cosine"``: start -> end along a half cosine. ``step`` is clamped to
    ``[0, total_steps]``; ``total_steps <= 0`` means the schedule is already finished.
    """
    if schedule not in TAU_SCHEDULES:
        raise ValueError(f"tau schedule must be one of {', '.join(TAU_SCHEDULES)}; got {schedule!r}")
    if schedule == "constant":
        return float(start)
    frac = 1.0 if total_steps <= 0 else min(max(step, 0), total_steps) / total_steps
    if schedule == "cosine":
        frac = (1.0 - math.cos(math.pi * frac)) / 2.0
    return float(start + (end - start) * frac)


__all__ = [
    "FUSION_MODES",
    "NA_POLICIES",
    "TAU_SCHEDULES",
    "fuse_key_pairs",
    "key_instance_pseudo_labels",
    "key_pair_threshold",
    "segment_count",
    "segment_max",
    "segment_mean",
    "segment_min",
    "segment_sum",
    "select_key_pairs",
    "tau_at",
]
