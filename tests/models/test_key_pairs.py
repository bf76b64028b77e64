"""E-step pseudo labels, key-pair selection and fusion, tau schedule (spec 3.3-3.5)."""
from __future__ import annotations

import math

import pytest
import torch

from docre.losses import binary_focal_loss
from docre.models.key_pairs import (
    fuse_key_pairs,
    key_instance_pseudo_labels,
    key_pair_threshold,
    segment_max,
    segment_mean,
    segment_min,
    select_key_pairs,
    tau_at,
)

# ---------------------------------------------------------------- segment helpers


def test_segment_helpers_with_an_empty_segment() -> None:
    values = torch.tensor([[1.0, -2.0], [3.0, 4.0], [5.0, 0.0]])
    index = torch.tensor([0, 0, 2])  # segment 1 is empty
    torch.testing.assert_close(segment_mean(values, index, 3), torch.tensor([[2.0, 1.0], [0.0, 0.0], [5.0, 0.0]]))
    torch.testing.assert_close(
        segment_max(values, index, 3, empty_value=-7.0), torch.tensor([[3.0, 4.0], [-7.0, -7.0], [5.0, 0.0]])
    )
    torch.testing.assert_close(segment_min(values, index, 3), torch.tensor([[1.0, -2.0], [0.0, 0.0], [5.0, 0.0]]))


# ---------------------------------------------------------------- E-step pseudo labels (3.3)

# Classes: 0 = TH, 1, 2, 3. Entity pair 0 has gold {1, 2}; entity pair 1 is NA.
_PROBS = torch.tensor(
    [
        # entity pair 0: class-1 mean (.9+.2+.1)/3 = .4, class-2 mean (.1+.8+.3)/3 = .4
        [0.50, 0.9, 0.1, 0.5],  # above the mean for class 1 -> key
        [0.50, 0.2, 0.8, 0.5],  # above the mean for class 2 -> key
        [0.50, 0.1, 0.3, 0.9],  # below both; high only on non-gold class 3 and tied on TH -> not key
        # entity pair 1 (NA): class-0 mean (.25+.75+.5)/3 = .5
        [0.25, 0.9, 0.1, 0.1],  # below the TH mean; high on non-gold class 1 -> not key
        [0.75, 0.1, 0.1, 0.1],  # above -> key
        [0.50, 0.1, 0.1, 0.1],  # equal to the mean (">=") -> key
    ]
)
_PAIR_INDEX = torch.tensor([0, 0, 0, 1, 1, 1])


def _labels(na_column0: float) -> torch.Tensor:
    return torch.tensor([[0.0, 1.0, 1.0, 0.0], [na_column0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize("na_column0", [1.0, 0.0])
def test_pseudo_labels_threshold_class(na_column0: float) -> None:
    zhat, mask = key_instance_pseudo_labels(_PROBS, _PAIR_INDEX, _labels(na_column0), "threshold_class")
    assert zhat.tolist() == [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    assert zhat.dtype == _PROBS.dtype
    assert mask.dtype == torch.bool and mask.tolist() == [True] * 6


def test_pseudo_labels_all_key() -> None:
    zhat, mask = key_instance_pseudo_labels(_PROBS, _PAIR_INDEX, _labels(1.0), "all_key")
    assert zhat.tolist() == [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    assert mask.tolist() == [True] * 6


def test_pseudo_labels_skip() -> None:
    zhat, mask = key_instance_pseudo_labels(_PROBS, _PAIR_INDEX, _labels(1.0), "skip")
    assert zhat[:3].tolist() == [1.0, 1.0, 0.0]
    assert mask.tolist() == [True, True, True, False, False, False]


def test_pseudo_labels_invalid_policy() -> None:
    with pytest.raises(ValueError, match="threshold_class, all_key, skip"):
        key_instance_pseudo_labels(_PROBS, _PAIR_INDEX, _labels(1.0), "ignore")


def test_pseudo_labels_ties_are_key() -> None:
    # A bag of 7 equal probabilities: each equals the mean. (In float32, 7 * 0.1 / 7 rounds
    # above 0.1, so a naive float32 mean would call none of them key.) A one-pair bag is its own mean.
    probs = torch.tensor([[0.0, 0.1]] * 7 + [[0.0, 0.3]])
    pair_index = torch.tensor([0] * 7 + [1])
    labels = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    zhat, _ = key_instance_pseudo_labels(probs, pair_index, labels)
    assert zhat.tolist() == [1.0] * 8


def test_pseudo_labels_take_no_gradient() -> None:
    probs = _PROBS.clone().requires_grad_(True)
    zhat, _ = key_instance_pseudo_labels(probs, _PAIR_INDEX, _labels(1.0))
    assert not zhat.requires_grad


# ---------------------------------------------------------------- focal loss (docre.losses)


def test_binary_focal_loss_by_hand() -> None:
    # p = .8, z = 1: -alpha (1-p)^gamma log p = -.25 * .2^2 * ln .8 = .25 * .04 * .2231435513 = .0022314355
    # p = .3, z = 0: -(1-alpha) p^gamma log(1-p) = -.75 * .3^2 * ln .7 = .75 * .09 * .3566749439 = .0240755587
    # mean = (.0022314355 + .0240755587) / 2 = .0131534971
    logits = torch.tensor([math.log(0.8 / 0.2), math.log(0.3 / 0.7)])
    targets = torch.tensor([1.0, 0.0])
    loss = binary_focal_loss(logits, targets, alpha=0.25, gamma=2.0)
    assert loss.item() == pytest.approx(0.0131534971, abs=1e-8)
    each = [binary_focal_loss(logits[i : i + 1], targets[i : i + 1]).item() for i in range(2)]
    assert each == pytest.approx([0.0022314355, 0.0240755587], abs=1e-8)


# ---------------------------------------------------------------- threshold and key set (3.4)

# Bag 0: p = [.125, .5, .625, .75]: mean .5, max - min .625. Bag 1: p = [.25, .5]: mean .375, spread .25.
_P_OMEGA = torch.tensor([0.125, 0.5, 0.625, 0.75, 0.25, 0.5])
_BAGS = torch.tensor([0, 0, 0, 0, 1, 1])


def test_threshold_formula_both_branches() -> None:
    # xi = .25: bag 0: .5 + .25 * .625 = .65625 (< tau = .9); bag 1: .375 + .25 * .25 = .4375
    got = key_pair_threshold(_P_OMEGA, _BAGS, 2, xi=0.25, tau=0.9)
    torch.testing.assert_close(got, torch.tensor([0.65625, 0.4375]))
    # tau = .6 caps bag 0 (.65625 -> .6) but not bag 1 (.4375)
    got = key_pair_threshold(_P_OMEGA, _BAGS, 2, xi=0.25, tau=0.6)
    torch.testing.assert_close(got, torch.tensor([0.6, 0.4375]))


def test_select_key_pairs_by_hand() -> None:
    assert select_key_pairs(_P_OMEGA, _BAGS, 2, xi=0.25, tau=0.9).tolist() == [False, False, False, True, False, True]
    assert select_key_pairs(_P_OMEGA, _BAGS, 2, xi=0.25, tau=0.6).tolist() == [False, False, True, True, False, True]
    # plain mean (xi = 0, tau = 1); .5 ties the bag-0 mean and is kept
    assert select_key_pairs(_P_OMEGA, _BAGS, 2, xi=0.0, tau=1.0).tolist() == [False, True, True, True, False, True]


def test_key_set_never_empty() -> None:
    # Threshold above every p (xi = 1: .6333 + .8 = 1.43, capped at tau = 1): nothing passes,
    # so only the first argmax of each bag is kept (bag 0 has its max .9 twice).
    p = torch.tensor([0.9, 0.1, 0.9, 0.2, 0.4])
    bags = torch.tensor([0, 0, 0, 1, 1])
    assert select_key_pairs(p, bags, 2, xi=1.0, tau=1.0).tolist() == [True, False, False, False, True]
    # tau below every p: ptilde = tau, so every pair passes.
    assert select_key_pairs(p, bags, 2, xi=1.0, tau=0.05).tolist() == [True] * 5


def test_key_set_all_equal_probabilities() -> None:
    # Seven equal values: mean == each value and max - min == 0, so all are kept for any xi.
    p = torch.full((7,), 0.1)
    bags = torch.zeros(7, dtype=torch.long)
    assert select_key_pairs(p, bags, 1, xi=0.2, tau=0.9).tolist() == [True] * 7
    assert select_key_pairs(p, bags, 1, xi=5.0, tau=1.0).tolist() == [True] * 7


# ---------------------------------------------------------------- fusion (3.4)

_LOGITS = torch.tensor(
    [
        [1.0, 2.0],  # bag 0, key
        [100.0, -5.0],  # bag 0, not key: would dominate a logsumexp if it leaked in
        [3.0, 0.0],  # bag 0, key
        [1000.0, -1000.0],  # bag 1, key (large values: the fusion must be stable)
        [1000.5, -1000.0],  # bag 1, key
    ]
)
_KEY = torch.tensor([True, False, True, True, True])
_FUSE_BAGS = torch.tensor([0, 0, 0, 1, 1])


def test_fuse_logsumexp_by_hand() -> None:
    logits = _LOGITS.clone().requires_grad_(True)
    out = fuse_key_pairs(logits, _KEY, _FUSE_BAGS, 2, mode="logsumexp")
    expected = torch.tensor(
        [
            [math.log(math.exp(1) + math.exp(3)), math.log(math.exp(2) + math.exp(0))],
            [1000.5 + math.log1p(math.exp(-0.5)), -1000.0 + math.log(2.0)],
        ]
    )
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    out.sum().backward()
    # d logsumexp / d x_k = softmax weight of x_k within its bag's key pairs; non-key: exactly 0
    w = 1.0 / (1.0 + math.exp(2.0))  # e^1 / (e^1 + e^3)
    torch.testing.assert_close(logits.grad[0], torch.tensor([w, math.exp(2) / (math.exp(2) + 1.0)]))
    assert logits.grad[1].tolist() == [0.0, 0.0]
    torch.testing.assert_close(logits.grad[3:, 1], torch.tensor([0.5, 0.5]))


def test_fuse_mean_by_hand() -> None:
    logits = _LOGITS.clone().requires_grad_(True)
    out = fuse_key_pairs(logits, _KEY, _FUSE_BAGS, 2, mode="mean")
    # bag 0: ([1, 2] + [3, 0]) / 2 = [2, 1]; bag 1: ([1000, -1000] + [1000.5, -1000]) / 2
    torch.testing.assert_close(out, torch.tensor([[2.0, 1.0], [1000.25, -1000.0]]))
    out.sum().backward()
    assert logits.grad.tolist() == [[0.5, 0.5], [0.0, 0.0], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]


def test_fuse_all_key_single_pair_is_identity() -> None:
    logits = torch.tensor([[0.3, -1.2], [2.0, 4.0]])
    out = fuse_key_pairs(logits, torch.ones(2, dtype=torch.bool), torch.tensor([0, 1]), 2)
    torch.testing.assert_close(out, logits)


def test_no_gradient_reaches_p_omega_through_selection() -> None:
    p_omega = torch.tensor([0.2, 0.9, 0.7, 0.4, 0.6], requires_grad=True)
    logits = _LOGITS.clone().requires_grad_(True)
    key = select_key_pairs(p_omega, _FUSE_BAGS, 2, xi=0.2, tau=0.9)
    assert key.dtype == torch.bool and not key.requires_grad
    out = fuse_key_pairs(logits, key, _FUSE_BAGS, 2)
    out.sum().backward()
    assert p_omega.grad is None
    assert logits.grad is not None


def test_fuse_invalid_mode() -> None:
    with pytest.raises(ValueError, match="logsumexp, mean"):
        fuse_key_pairs(_LOGITS, _KEY, _FUSE_BAGS, 2, mode="max")


# ---------------------------------------------------------------- tau schedule (3.4-3.5)


def test_tau_at_values() -> None:
    assert tau_at(0, 10, 0.5, 0.9) == pytest.approx(0.5)
    assert tau_at(5, 10, 0.5, 0.9) == pytest.approx(0.7)
    assert tau_at(10, 10, 0.5, 0.9) == pytest.approx(0.9)
    assert tau_at(25, 10, 0.5, 0.9) == pytest.approx(0.9)  # clamped
    assert tau_at(-3, 10, 0.5, 0.9) == pytest.approx(0.5)  # clamped
    assert tau_at(7, 10, 0.5, 0.9, "constant") == 0.5
    # cosine: start + (end - start) * (1 - cos(pi * step / total)) / 2
    assert tau_at(1, 4, 0.5, 0.9, "cosine") == pytest.approx(0.5 + 0.4 * (1 - math.cos(math.pi / 4)) / 2)  # .55858
    assert tau_at(2, 4, 0.5, 0.9, "cosine") == pytest.approx(0.7)
    assert tau_at(4, 4, 0.5, 0.9, "cosine") == pytest.approx(0.9)
    assert tau_at(3, 0, 0.5, 0.9) == pytest.approx(0.9)  # empty phase: already finished
    with pytest.raises(ValueError, match="linear, constant, cosine"):
        tau_at(1, 10, 0.5, 0.9, "step")
