"""ATLOP's adaptive-threshold loss and prediction rule, and the focal loss, against hand computations."""
from __future__ import annotations

import math

import pytest
import torch

from docre.losses import (adaptive_threshold_loss, adaptive_threshold_predict, binary_focal_loss, relation_loss,
                          threshold_multilabel_ce)

# Classes: 0 = TH, 1, 2, 3.
# Pair A: logits [0, 1, -1, 2], gold {1}.
#   L1 = -log_softmax over {TH, 1} at 1 = -(1 - log(e^0 + e^1)) = log(1 + e) - 1 = 0.313262
#   L2 = -log_softmax over {TH, 2, 3} at TH = log(e^0 + e^-1 + e^2) - 0 = log(8.756935) = 2.169846
# Pair B: logits [1, 0, 3, -2], NA (no positive class).
#   L1 = 0 (no positives)
#   L2 = -log_softmax over {TH, 1, 2, 3} at TH = log(e + 1 + e^3 + e^-2) - 1 = 3.175515 - 1 = 2.175515
# Mean over the two pairs: (0.313262 + 2.169846 + 2.175515) / 2 = 2.329312
LOGITS = torch.tensor([[0.0, 1.0, -1.0, 2.0], [1.0, 0.0, 3.0, -2.0]])
LABELS = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])  # column 0 = 1 marks NA (ignored)


def test_atloss_two_pairs_by_hand() -> None:
    pair_a = (math.log(1 + math.e) - 1) + math.log(1 + math.exp(-1) + math.exp(2))
    pair_b = math.log(math.e + 1 + math.exp(3) + math.exp(-2)) - 1
    assert pair_a == pytest.approx(2.483108, abs=1e-6) and pair_b == pytest.approx(2.175515, abs=1e-6)
    loss = adaptive_threshold_loss(LOGITS, LABELS)
    assert loss.shape == ()
    assert float(loss) == pytest.approx((pair_a + pair_b) / 2, abs=1e-5)
    assert float(loss) == pytest.approx(2.329312, abs=1e-5)


def test_atloss_ignores_column_zero_of_the_labels() -> None:
    no_na_mark = LABELS.clone()
    no_na_mark[:, 0] = 0.0
    all_marked = LABELS.clone()
    all_marked[:, 0] = 1.0
    expected = adaptive_threshold_loss(LOGITS, LABELS)
    torch.testing.assert_close(adaptive_threshold_loss(LOGITS, no_na_mark), expected)
    torch.testing.assert_close(adaptive_threshold_loss(LOGITS, all_marked), expected)


def test_atloss_multi_label_pair_by_hand() -> None:
    # logits [0.5, 2, 1, -1], gold {1, 2}; Z = log(e^0.5 + e^2 + e^1) = 2.464369
    #   L1 = (Z - 2) + (Z - 1) = 1.928738 (each positive against TH and the other positive)
    #   L2 = log(e^0.5 + e^-1) - 0.5 = 0.201413 (TH against the one negative, class 3)
    logits = torch.tensor([[0.5, 2.0, 1.0, -1.0]])
    labels = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    z = math.log(math.exp(0.5) + math.exp(2) + math.exp(1))
    expected = (z - 2) + (z - 1) + math.log(math.exp(0.5) + math.exp(-1)) - 0.5
    assert expected == pytest.approx(2.130151, abs=1e-6)
    assert float(adaptive_threshold_loss(logits, labels)) == pytest.approx(expected, abs=1e-5)


def test_atloss_gradient_pushes_positives_up_and_negatives_down() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    adaptive_threshold_loss(logits, LABELS).backward()
    g = logits.grad
    assert g is not None
    assert g[0, 1] < 0 and g[0, 2] > 0 and g[0, 3] > 0  # gold class up, negatives down
    assert g[1, 1:].gt(0).all() and g[1, 0] < 0  # NA pair: TH up, every class down


def test_atloss_is_small_when_ranked_right_and_finite_for_extreme_logits() -> None:
    good = torch.tensor([[0.0, 20.0, -20.0, -20.0]])
    lab = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    assert float(adaptive_threshold_loss(good, lab)) < 1e-6
    huge = torch.tensor([[1e4, -1e4, 3e4, -3e4]])
    assert torch.isfinite(adaptive_threshold_loss(huge, lab))


# ---------------------------------------------------------------- prediction rule


def test_predict_keeps_the_num_labels_highest_above_threshold() -> None:
    # five classes beat TH (0.0); num_labels = 4 keeps 5, 4, 3, 2 and drops 1; -1 is below TH
    logits = torch.tensor([[0.0, 1.0, 5.0, 3.0, 4.0, 2.0, -1.0]])
    out = adaptive_threshold_predict(logits, num_labels=4)
    assert out.tolist() == [[0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]]
    unlimited = adaptive_threshold_predict(logits, num_labels=0)
    assert unlimited.tolist() == [[0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]]
    assert adaptive_threshold_predict(logits, num_labels=1).tolist() == [[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]]


def test_predict_sets_na_when_nothing_beats_the_threshold() -> None:
    logits = torch.tensor([
        [3.0, 1.0, 2.0, 0.0],  # all below TH -> NA
        [1.0, 1.0, 1.0, 0.0],  # ties with TH are not above it -> NA
        [1.0, 1.0, 2.0, 0.0],  # only class 2 beats TH
        [-5.0, -1.0, -4.0, -6.0],  # classes 1 and 2 beat a negative TH
    ])
    out = adaptive_threshold_predict(logits, num_labels=4)
    assert out.tolist() == [
        [1.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
    ]
    assert out.dtype == logits.dtype


def test_predict_on_the_atloss_example() -> None:
    # pair A: 1 and 3 beat TH (0); pair B: nothing beats TH (1) except class 2 (3)
    out = adaptive_threshold_predict(LOGITS, num_labels=4)
    assert out.tolist() == [[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]]


def test_predict_num_labels_larger_than_classes() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0]])
    assert adaptive_threshold_predict(logits, num_labels=10).tolist() == [[0.0, 1.0, 1.0]]


def test_predict_tie_with_threshold_inside_the_top_k() -> None:
    # TH itself is among the top 2 (3, 2): only class 1 is above TH
    logits = torch.tensor([[2.0, 3.0, 2.0, 1.0]])
    assert adaptive_threshold_predict(logits, num_labels=2).tolist() == [[0.0, 1.0, 0.0, 0.0]]


def test_predict_never_exceeds_num_labels_under_ties() -> None:
    logits = torch.tensor([[0.0, 3.0, 2.0, 2.0, 2.0]])
    out = adaptive_threshold_predict(logits, num_labels=2)
    assert out[0, 1] == 1.0  # the unique highest class is kept
    assert float(out[0, 1:].sum()) == 2.0


# ---------------------------------------------------------------- focal loss (E-step)


def test_binary_focal_loss_by_hand() -> None:
    # p = sigmoid(0) = 0.5, z = 1: -alpha (1 - p)^2 log p = -0.25 * 0.25 * log 0.5 = 0.0433217
    # p = sigmoid(ln 3) = 0.75, z = 0: -(1 - alpha) p^2 log(1 - p) = -0.75 * 0.5625 * log 0.25 = 0.5848434
    logits = torch.tensor([0.0, math.log(3.0)])
    targets = torch.tensor([1.0, 0.0])
    pos = -0.25 * 0.25 * math.log(0.5)
    neg = -0.75 * 0.75**2 * math.log(0.25)
    assert float(binary_focal_loss(logits, targets, alpha=0.25, gamma=2.0)) == pytest.approx((pos + neg) / 2, abs=1e-6)
    # gamma = 0, alpha = 0.5: half the binary cross-entropy
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    assert float(binary_focal_loss(logits, targets, alpha=0.5, gamma=0.0)) == pytest.approx(0.5 * float(bce), abs=1e-6)


def test_binary_focal_loss_empty_is_zero_and_differentiable() -> None:
    logits = torch.zeros(0, requires_grad=True)
    loss = binary_focal_loss(logits, torch.zeros(0))
    assert float(loss.detach()) == 0.0
    loss.backward()


# ---------------------------------------------------------------- multi-label categorical CE (train.loss)


def test_threshold_multilabel_ce_by_hand() -> None:
    # pair 0: TH 0.5, positives 1 (logit 2) and 3 (logit 0), negative 2 (logit 1)
    # pair 1: NA, TH 1, negatives 0.0 and -1.0, 3.0
    logits = torch.tensor([[0.5, 2.0, 1.0, 0.0], [1.0, 0.0, -1.0, 3.0]])
    labels = torch.tensor([[0, 1, 0, 1], [1, 0, 0, 0]])
    pair0 = math.log(1 + math.exp(0.5 - 2.0) + math.exp(0.5 - 0.0)) + math.log(1 + math.exp(1.0 - 0.5))
    pair1 = math.log(1 + math.exp(-1.0) + math.exp(-2.0) + math.exp(2.0))
    assert float(threshold_multilabel_ce(logits, labels)) == pytest.approx((pair0 + pair1) / 2, rel=1e-6)


def test_threshold_multilabel_ce_equals_atloss_on_na_pairs_and_differs_with_two_positives() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 6)
    na = torch.zeros(5, 6)
    na[:, 0] = 1
    assert float(threshold_multilabel_ce(logits, na)) == pytest.approx(float(adaptive_threshold_loss(logits, na)),
                                                                        rel=1e-6)
    two = torch.zeros(5, 6)
    two[:, 1] = two[:, 2] = 1
    assert float(threshold_multilabel_ce(logits, two)) != pytest.approx(float(adaptive_threshold_loss(logits, two)),
                                                                         rel=1e-3)


def test_relation_loss_by_name() -> None:
    assert relation_loss("atl") is adaptive_threshold_loss
    assert relation_loss("multilabel_ce") is threshold_multilabel_ce
    with pytest.raises(ValueError, match="train.loss"):
        relation_loss("focal")
