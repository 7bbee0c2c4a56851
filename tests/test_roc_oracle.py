"""The weighted ROC curve and its AUC against scikit-learn's, with ``sample_weight``, as an oracle.

scikit-learn is a test-only dependency (the ``test`` extra): hepdl computes its own curves so
that the working point is a real cut on the score (:func:`hepdl.evaluate.metrics.tpr_at_fpr`).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from hepdl.evaluate.metrics import roc_curve


def events(seed: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, labels and physical-like weights: signal weights 1e-3, background ones 1e3
    (the cross-sections differ by orders of magnitude), exponentially spread within each."""
    rng = np.random.default_rng(seed)
    label = (rng.random(500) < 0.3).astype(int)
    score = rng.normal(label * 1.2, 1.0)
    if ties:
        score = np.round(score, 1)
    weight = rng.exponential(1.0, 500) * np.where(label == 1, 1e-3, 1e3)
    return score, label, weight


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_roc_and_auc_match_scikit_learn(seed: int, ties: bool) -> None:
    score, label, weight = events(seed, ties=ties)
    roc = roc_curve(score, label, weight)
    fpr, tpr, threshold = sklearn_roc_curve(
        label, score, sample_weight=weight, drop_intermediate=False
    )
    np.testing.assert_allclose(roc.fpr, fpr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(roc.tpr, tpr, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(roc.threshold, threshold)
    assert roc.auc == pytest.approx(roc_auc_score(label, score, sample_weight=weight), rel=1e-12)


def test_zero_weight_events_do_not_move_the_auc() -> None:
    """scikit-learn drops zero-weight events; hepdl keeps their thresholds as repeated points,
    which add no area."""
    score, label, weight = events(3, ties=False)
    weight[::7] = 0.0
    roc = roc_curve(score, label, weight)
    assert roc.auc == pytest.approx(roc_auc_score(label, score, sample_weight=weight), rel=1e-12)
    kept = weight > 0
    assert roc.auc == pytest.approx(roc_curve(score[kept], label[kept], weight[kept]).auc)
