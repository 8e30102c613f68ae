"""Confident learning over out-of-sample probabilities: which given labels a model that never saw them doubts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from fashion_core.errors import FashionCoreError

RANK_BY = ("self_confidence", "normalized_margin")


class SuspiciousError(FashionCoreError, ValueError):
    """The suspicious-label analysis cannot run (bad option, too little data) or a review is refused."""


def out_of_sample_probs(features: np.ndarray, labels: np.ndarray, n_classes: int, *, folds: int = 5,
                        seed: int = 0, c: float = 0.1) -> np.ndarray:
    """Probabilities of every row from a model that never saw that row (stratified k-fold).

    In-sample probabilities would flatter every given label, wrong ones included, so each
    fold's rows are scored by a logistic regression fitted on the other folds only.

    Args:
        features: (N, D) feature vectors.
        labels: (N,) class indices in ``[0, n_classes)``.
        n_classes: Number of classes; a class missing from a fold's training rows gets 0.
        folds: Number of folds (at most N).
        seed: Seed of the fold assignment.
        c: Inverse regularisation strength of the logistic regression.

    Returns:
        (N, n_classes) probabilities, each row summing to 1.
    """
    from sklearn.model_selection import KFold, StratifiedKFold
    from threadpoolctl import threadpool_limits

    x, y = np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if len(x) != len(y) or len(x) < 2:
        raise SuspiciousError(f"Need at least 2 rows with one label each; got {len(x)} features and {len(y)} labels")
    k = min(int(folds), len(y))
    # Stratify when some class can fill every fold (scikit-learn refuses otherwise).
    stratify = np.bincount(y).max() >= k
    splitter = (StratifiedKFold if stratify else KFold)(k, shuffle=True, random_state=seed)
    out = np.zeros((len(y), n_classes), dtype=np.float64)
    # One BLAS thread: on these small matrices extra threads only fight other processes for the
    # cores (measured on the demo data, 2 busy cores: 24 s per fit with 2 threads, 0.5 s with 1).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # too-small classes and slow convergence: expected on small data
        for train, test in splitter.split(x, y):
            out[test] = _fit_predict(x[train], y[train], x[test], n_classes, c)
    return out


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, n_classes: int, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probs = np.zeros((len(x_test), n_classes))
    classes = np.unique(y_train)
    if len(classes) == 1:  # nothing to separate: the only class seen
        probs[:, classes[0]] = 1.0
        return probs
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    model.fit(x_train, y_train)
    probs[:, model.classes_] = model.predict_proba(x_test)
    return probs


# -- confident learning -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelIssues:
    """Confident-learning verdicts of one category's rows (arrays aligned with the input rows)."""

    flagged: np.ndarray  # bool: another value is confidently more likely than the given one
    suggested: np.ndarray  # int: the confident value (flagged rows) or the likeliest other value
    self_confidence: np.ndarray  # probability of the given value
    suggested_prob: np.ndarray
    margin: np.ndarray  # normalized margin: p(given) - max p(other)


def confident_issues(probs: np.ndarray, given: np.ndarray) -> LabelIssues:
    """Find label issues by confident learning (Northcutt, Jiang & Chuang, "Confident Learning:
    Estimating Uncertainty in Dataset Labels", JAIR 2021; the idea behind cleanlab).

    Per value j the threshold t_j is the mean probability of j over the rows labelled j
    (its average self-confidence). A row's confident values are those whose probability
    reaches their threshold; the likeliest of them is its confident label. A row is an issue
    when that confident label is not its given one, i.e. the model backs another value more
    than it usually backs that value's own images, and the given value less.

    Args:
        probs: (N, K) out-of-sample probabilities.
        given: (N,) given value indices.
    """
    p, y = np.asarray(probs, dtype=np.float64), np.asarray(given, dtype=np.int64)
    rows = np.arange(len(y))
    thresholds = np.full(p.shape[1], np.inf)  # a value nobody has cannot be confidently suggested
    for j in np.unique(y):
        thresholds[j] = p[y == j, j].mean()
    confident = np.where(p >= thresholds - 1e-12, p, -np.inf)
    has_confident = np.isfinite(confident).any(axis=1)
    confident_label = confident.argmax(axis=1)
    others = p.copy()
    others[rows, y] = -np.inf
    best_other = others.argmax(axis=1)
    flagged = has_confident & (confident_label != y)
    suggested = np.where(flagged, confident_label, best_other)
    self_conf = p[rows, y]
    return LabelIssues(flagged, suggested, self_conf, p[rows, suggested], self_conf - others[rows, best_other])


def rank_rows(issues: LabelIssues, rank_by: str = "self_confidence") -> np.ndarray:
    """Row order of the review queue: flagged rows first, each group least likely given label first."""
    check_rank_by(rank_by)
    score = issues.self_confidence if rank_by == "self_confidence" else issues.margin
    return np.lexsort((score, ~issues.flagged))


def check_rank_by(rank_by: str) -> None:
    if rank_by not in RANK_BY:
        raise SuspiciousError(f"`rank_by` must be one of {list(RANK_BY)}. Received: rank_by={rank_by!r}")
