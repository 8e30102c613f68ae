"""Metrics against values worked out by hand on small fixed examples, cross-checked with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from fashion_core.analysis import metrics as m

Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 0, 2]

# FashionAI example: 4 images, 3 values (predictions: 0 right, 1 wrong, 2 right, 0 wrong).
FAI_PROBS = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
FAI_TRUE = [0, 0, 2, 1]

# Multi-label example: 4 images, 2 values.
ML_TRUE = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
ML_PROBS = np.array([[0.9, 0.2], [0.6, 0.4], [0.3, 0.8], [0.7, 0.1]])


def test_confusion_matrix_counts_and_rows() -> None:
    cm = m.confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    np.testing.assert_array_equal(cm, skm.confusion_matrix(Y_TRUE, Y_PRED, labels=[0, 1, 2]))
    np.testing.assert_allclose(m.normalize_rows(cm), [[0.5, 0.5, 0], [0, 1, 0], [0.5, 0, 0.5]])


def test_normalize_rows_keeps_empty_rows_zero() -> None:
    cm = m.confusion_matrix([0, 0], [0, 1], 3)
    np.testing.assert_allclose(m.normalize_rows(cm), [[0.5, 0.5, 0], [0, 0, 0], [0, 0, 0]])


def test_per_value_scores_hand_computed_and_sklearn() -> None:
    scores = m.per_value_scores(m.confusion_matrix(Y_TRUE, Y_PRED, 3))
    np.testing.assert_allclose(scores["precision"], [0.5, 2 / 3, 1.0])
    np.testing.assert_allclose(scores["recall"], [0.5, 1.0, 0.5])
    np.testing.assert_allclose(scores["f1"], [0.5, 0.8, 2 / 3])
    assert scores["support"].tolist() == [2, 2, 2]
    p, r, f, s = skm.precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(scores["precision"], p)
    np.testing.assert_allclose(scores["recall"], r)
    np.testing.assert_allclose(scores["f1"], f)
    assert m.accuracy(m.confusion_matrix(Y_TRUE, Y_PRED, 3)) == pytest.approx(4 / 6)


def test_never_predicted_value_scores_zero_not_nan() -> None:
    scores = m.per_value_scores(m.confusion_matrix([0, 1], [0, 0], 2))
    assert scores["precision"].tolist() == [0.5, 0.0]
    assert scores["f1"][1] == 0.0


def test_bad_indices_are_reported() -> None:
    with pytest.raises(m.MetricsInputError, match="outside"):
        m.confusion_matrix([0, 3], [0, 0], 3)
    with pytest.raises(m.MetricsInputError, match="length"):
        m.confusion_matrix([0, 1], [0], 3)


def test_fashionai_ap_hand_computed() -> None:
    # Thresholds .9, .7, .6, .5 -> precisions 1/1, 1/2, 2/3, 2/4.
    assert m.fashionai_ap(FAI_PROBS, FAI_TRUE) == pytest.approx((1 + 1 / 2 + 2 / 3 + 2 / 4) / 4)
    assert m.basic_precision(FAI_PROBS, FAI_TRUE) == pytest.approx(0.5)


def test_fashionai_ap_ignores_maybe_predictions() -> None:
    maybe = np.zeros_like(FAI_PROBS, dtype=bool)
    maybe[3, 0] = True  # image 3's predicted value is one of its 'm' values: not counted
    assert m.fashionai_ap(FAI_PROBS, FAI_TRUE, maybe) == pytest.approx((1 + 1 / 2 + 2 / 3 + 2 / 3) / 4)
    assert m.basic_precision(FAI_PROBS, FAI_TRUE, maybe) == pytest.approx(2 / 3)


def test_fashionai_ap_counts_tied_probabilities_once() -> None:
    probs = np.array([[0.8, 0.2], [0.8, 0.2], [0.3, 0.7]])
    # Thresholds .8 (two images, one right) and .7 (three images, two right).
    assert m.fashionai_ap(probs, [0, 1, 1]) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_fashionai_ap_skips_threshold_with_only_ignored_outputs() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    maybe = np.array([[True, False], [False, False]])
    assert m.fashionai_ap(probs, [1, 1], maybe) == pytest.approx(1.0)


def test_fashionai_map_is_the_mean_of_category_aps() -> None:
    assert m.fashionai_map([0.5, 1.0, float("nan"), None]) == pytest.approx(0.75)
    assert np.isnan(m.fashionai_map([]))


def test_average_precision_hand_computed_and_sklearn() -> None:
    y, s = [1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]
    assert m.average_precision(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    rng = np.random.default_rng(0)
    y2, s2 = rng.integers(0, 2, 50), np.round(rng.random(50), 1)  # rounded: many ties
    assert m.average_precision(y2, s2) == pytest.approx(skm.average_precision_score(y2, s2))
    assert np.isnan(m.average_precision([0, 0], [0.1, 0.2]))


def test_multilabel_scores_hand_computed() -> None:
    out = m.multilabel_scores(ML_TRUE, ML_PROBS, 0.5)
    np.testing.assert_allclose(out["precision"], [2 / 3, 1.0])
    np.testing.assert_allclose(out["recall"], [1.0, 0.5])
    np.testing.assert_allclose(out["f1"], [0.8, 2 / 3])
    np.testing.assert_allclose(out["f2"], [10 / 11, 2.5 / 4.5])
    assert out["f2_samples"] == pytest.approx((1 + 5 / 9 + 1 + 0) / 4)
    assert out["f2_micro"] == pytest.approx(15 / 20)
    assert out["f2_macro"] == pytest.approx((10 / 11 + 2.5 / 4.5) / 2)
    assert out["exact_match"] == pytest.approx(2 / 4)
    assert out["support"].tolist() == [2, 2]


def test_multilabel_scores_match_sklearn() -> None:
    pred = (ML_PROBS >= 0.5).astype(int)
    out = m.multilabel_scores(ML_TRUE, ML_PROBS, [0.5, 0.5])
    for avg in ("samples", "micro", "macro"):
        assert out[f"f2_{avg}"] == pytest.approx(skm.fbeta_score(ML_TRUE, pred, beta=2, average=avg, zero_division=0))
        assert out[f"f1_{avg}"] == pytest.approx(skm.f1_score(ML_TRUE, pred, average=avg, zero_division=0))
    for k in range(2):
        assert out["ap"][k] == pytest.approx(skm.average_precision_score(ML_TRUE[:, k], ML_PROBS[:, k]))


def test_tune_thresholds_hand_computed() -> None:
    thresholds, tuned = m.tune_thresholds(ML_TRUE, ML_PROBS, beta=2)
    # Value 0: best F2 (10/11) predicting .9, .7, .6 -> cut between .6 and .3.
    # Value 1: best F2 (1.0) predicting .8, .4 -> cut between .4 and .2.
    np.testing.assert_allclose(thresholds, [0.45, 0.3])
    assert tuned.tolist() == [True, True]
    tuned_f2 = m.multilabel_scores(ML_TRUE, ML_PROBS, thresholds)["f2"]
    assert tuned_f2.tolist() == pytest.approx([10 / 11, 1.0])


def test_tune_thresholds_keeps_default_without_positives() -> None:
    thresholds, tuned = m.tune_thresholds(np.array([[0], [0]]), np.array([[0.3], [0.9]]), default=0.5)
    assert thresholds.tolist() == [0.5] and tuned.tolist() == [False]


def test_tune_thresholds_f2_favours_recall_over_f1() -> None:
    y = np.array([[1], [0], [0], [1]])
    p = np.array([[0.9], [0.8], [0.7], [0.6]])
    t1, _ = m.tune_thresholds(y, p, beta=1)
    t2, _ = m.tune_thresholds(y, p, beta=2)
    # F1 ties at 2/3 between {.9} and all four: the higher cut (.85) wins.
    # F2 is best (10/12) predicting all four: cut halfway between .6 and 0.
    assert t1[0] == pytest.approx(0.85)
    assert t2[0] == pytest.approx(0.3)
