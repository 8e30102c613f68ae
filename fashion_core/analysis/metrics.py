"""Evaluation metrics in pure numpy: confusion matrices, per-value scores, AP, F-beta, FashionAI mAP."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fashion_core.errors import FashionCoreError

FloatArray = np.ndarray


class MetricsInputError(FashionCoreError, ValueError):
    """Arrays given to a metric have the wrong shape, range or length."""


# -- single-choice ---------------------------------------------------------------------------------


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts of (true value, predicted value): rows are the true value, columns the prediction.

    Args:
        y_true: True value indices.
        y_pred: Predicted value indices, same length.
        n_classes: Number of values of the category.

    Raises:
        MetricsInputError: Lengths differ or an index is outside ``[0, n_classes)``.
    """
    t, p = _indices(y_true, n_classes, "y_true"), _indices(y_pred, n_classes, "y_pred")
    if len(t) != len(p):
        raise MetricsInputError(f"y_true and y_pred differ in length: {len(t)} != {len(p)}")
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (t, p), 1)
    return out


def normalize_rows(matrix: np.ndarray) -> FloatArray:
    """Each row divided by its sum (recall per true value); rows without images stay 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def per_value_scores(matrix: np.ndarray) -> dict[str, FloatArray]:
    """Precision, recall, F1 and support of every value from a confusion matrix.

    A score whose denominator is 0 (a value never predicted, or without images) is 0, as
    scikit-learn's ``zero_division=0`` gives.

    Returns:
        ``{"precision", "recall", "f1", "support"}``, one entry per value.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def accuracy(matrix: np.ndarray) -> float:
    """Share of images whose prediction is their label (NaN without images)."""
    matrix = np.asarray(matrix)
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else float("nan")


def fashionai_ap(probs: np.ndarray, y_true: Sequence[int], maybe: np.ndarray | None = None) -> float:
    """The FashionAI attribute track's AP of one category (AttrKey).

    Rules of the Tianchi FashionAI Global Challenge 2018, attribute recognition track
    ("评估指标", tianchi.aliyun.com raceId=231649, as reproduced in competitors' READMEs):
    each image's prediction is its highest probability (MaxAttrValueProb) and that value
    (MaxAttrValue). For a threshold ProbThreshold, images below it are not output
    (BLOCK_COUNT); among the others the prediction is correct when MaxAttrValue is the
    image's 'y' value, ignored when it is one of its 'm' (maybe) values, else wrong.
    P = PRED_CORRECT_COUNT / PRED_COUNT. AP is the mean of P over every threshold that
    leaves BLOCK_COUNT in [0, GT_COUNT), i.e. over the distinct MaxAttrValueProb values (as
    the competitors' reference scripts enumerate them). A threshold at which every output
    is ignored has no P and is left out of the mean (the rules do not say; division by
    zero there).

    Args:
        probs: (N, K) probabilities of the category's K values.
        y_true: (N,) the index of each image's 'y' value.
        maybe: Optional (N, K) booleans: the image's 'm' values.

    Returns:
        The AP, or NaN without images.
    """
    correct, counted, max_prob = _fashionai_outcomes(probs, y_true, maybe)
    if not len(max_prob):
        return float("nan")
    order = np.argsort(-max_prob, kind="stable")
    sorted_prob = max_prob[order]
    n_correct, n_counted = np.cumsum(correct[order]), np.cumsum(counted[order])
    # Threshold t = a distinct max prob counts every image with max prob >= t: the last
    # position of that value in the descending order.
    last = np.flatnonzero(np.r_[sorted_prob[1:] != sorted_prob[:-1], True])
    usable = n_counted[last] > 0
    if not usable.any():
        return float("nan")
    return float(np.mean(n_correct[last][usable] / n_counted[last][usable]))


def basic_precision(probs: np.ndarray, y_true: Sequence[int], maybe: np.ndarray | None = None) -> float:
    """FashionAI's BasicPrecision of one category: the precision with ProbThreshold = 0."""
    correct, counted, _ = _fashionai_outcomes(probs, y_true, maybe)
    return float(correct.sum() / counted.sum()) if counted.sum() else float("nan")


def fashionai_map(aps: Sequence[float]) -> float:
    """The competition's mAP: the plain mean of the categories' APs (undefined ones left out)."""
    values = np.asarray([a for a in aps if a is not None and np.isfinite(a)], dtype=np.float64)
    return float(values.mean()) if len(values) else float("nan")


def _fashionai_outcomes(probs: np.ndarray, y_true: Sequence[int], maybe: np.ndarray | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    probs = _probabilities(probs)
    y = _indices(y_true, probs.shape[1], "y_true")
    if len(y) != len(probs):
        raise MetricsInputError(f"probs has {len(probs)} rows but y_true has {len(y)}")
    pred = probs.argmax(axis=1)
    rows = np.arange(len(pred))
    ignored = np.zeros(len(pred), dtype=bool)
    if maybe is not None:
        maybe = np.asarray(maybe, dtype=bool)
        if maybe.shape != probs.shape:
            raise MetricsInputError(f"maybe has shape {maybe.shape}; expected {probs.shape}")
        ignored = maybe[rows, pred] & (pred != y)
    correct = (pred == y) & ~ignored
    return correct, ~ignored, probs[rows, pred]


# -- ranking and multi-label ------------------------------------------------------------------------


def average_precision(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """Average precision of one binary task: sum over thresholds of (R_n - R_{n-1}) * P_n.

    The same step-wise definition as scikit-learn's ``average_precision_score`` (no
    interpolation), with one threshold per distinct score.

    Returns:
        The AP, or NaN when there is no positive.
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise MetricsInputError(f"y_true and scores must be 1-D of one length; got {y.shape} and {s.shape}")
    positives = int(y.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def fbeta_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, beta: float) -> FloatArray:
    """F-beta = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp); 0 where that is 0 / 0."""
    b2 = float(beta) ** 2
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    return _safe_divide((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)


def multilabel_scores(y_true: np.ndarray, probs: np.ndarray, thresholds: float | Sequence[float]
                      ) -> dict[str, FloatArray | float]:
    """Scores of a multi-label category with a threshold per value (``p >= t`` is positive).

    Returns:
        Per value: ``precision``, ``recall``, ``f1``, ``f2``, ``support`` (positives) and
        ``ap`` (threshold-free); and ``f1_macro``/``f2_macro`` (mean over values),
        ``f1_micro``/``f2_micro`` (pooled counts), ``f1_samples``/``f2_samples`` (per image,
        then the mean: scikit-learn's ``average="samples"``), ``exact_match`` (share of
        images whose predicted set is their label set).
    """
    y, p = _binary_matrix(y_true, probs)
    pred = p >= _thresholds(thresholds, p.shape[1])
    tp, fp, fn = (y & pred).sum(0), (~y & pred).sum(0), (y & ~pred).sum(0)
    out: dict[str, FloatArray | float] = {
        "precision": _safe_divide(tp, tp + fp), "recall": _safe_divide(tp, tp + fn),
        "support": y.sum(0).astype(np.int64),
        "ap": np.array([average_precision(y[:, k], p[:, k]) for k in range(p.shape[1])]),
    }
    for beta in (1, 2):
        out[f"f{beta}"] = fbeta_from_counts(tp, fp, fn, beta)
        out[f"f{beta}_macro"] = float(np.mean(out[f"f{beta}"])) if p.shape[1] else float("nan")
        out[f"f{beta}_micro"] = float(fbeta_from_counts(tp.sum(), fp.sum(), fn.sum(), beta))
        out[f"f{beta}_samples"] = samples_fbeta(y, pred, beta)
    out["exact_match"] = float(np.mean((y == pred).all(axis=1))) if len(y) else float("nan")
    return out


def samples_fbeta(y_true: np.ndarray, y_pred: np.ndarray, beta: float) -> float:
    """F-beta per image, then the mean over images (an image with no true and no predicted value scores 0).

    With beta = 2 this is the JD AI Fashion Challenge style-recognition score as the
    winning team computed it (``fbeta_score(..., beta=2, average='samples')`` in
    dinghuanghao/JD-AI-Fashion-Challenge-RAW, ``util/metrics.py``).
    """
    y, pred = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    if y.shape != pred.shape:
        raise MetricsInputError(f"y_true and y_pred shapes differ: {y.shape} != {pred.shape}")
    if not len(y):
        return float("nan")
    tp, fp, fn = (y & pred).sum(1), (~y & pred).sum(1), (y & ~pred).sum(1)
    return float(np.mean(fbeta_from_counts(tp, fp, fn, beta)))


def tune_thresholds(y_true: np.ndarray, probs: np.ndarray, *, beta: float = 2.0, default: float = 0.5
                    ) -> tuple[FloatArray, np.ndarray]:
    """Per value, the threshold that maximises that value's own F-beta on the given data.

    Candidate cuts lie halfway between consecutive distinct probabilities (so the
    threshold does not sit on a seen score); among equal scores the highest threshold wins.
    A value without any positive keeps ``default`` (nothing to tune on).

    Returns:
        ``(thresholds, tuned)``: one threshold per value and whether it was tuned.
    """
    y, p = _binary_matrix(y_true, probs)
    thresholds = np.full(p.shape[1], float(default))
    tuned = np.zeros(p.shape[1], dtype=bool)
    for k in range(p.shape[1]):
        if y[:, k].any():
            thresholds[k] = _best_cut(y[:, k], p[:, k], beta)
            tuned[k] = True
    return thresholds, tuned


def _best_cut(y: np.ndarray, s: np.ndarray, beta: float) -> float:
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # cut after these positions
    tp = np.cumsum(y)[last]
    fp = last + 1 - tp
    fn = y.sum() - tp
    best = int(np.argmax(fbeta_from_counts(tp, fp, fn, beta)))  # first = highest threshold
    below = s[last[best] + 1] if last[best] + 1 < len(s) else 0.0
    return float((s[last[best]] + below) / 2.0)


# -- validation helpers ---------------------------------------------------------------------------------


def _safe_divide(a: np.ndarray, b: np.ndarray) -> FloatArray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _indices(values: Sequence[int], n_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise MetricsInputError(f"`{name}` must be a 1-D sequence of value indices. Received dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise MetricsInputError(f"`{name}` holds indices outside [0, {n_classes}): {sorted(set(arr.tolist()))[:10]}")
    return arr.astype(np.int64)


def _probabilities(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise MetricsInputError(f"probabilities must be an (N, K) array with K >= 1; got shape {p.shape}")
    return p


def _binary_matrix(y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = _probabilities(probs)
    y = np.asarray(y_true)
    if y.shape != p.shape:
        raise MetricsInputError(f"y_true has shape {y.shape} but probabilities {p.shape}")
    return y.astype(bool), p


def _thresholds(thresholds: float | Sequence[float], n: int) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 0:
        return np.full(n, float(t))
    if t.shape != (n,):
        raise MetricsInputError(f"expected one threshold or {n}; got {t.shape[0]}")
    return t
