"""Per-category figures of an evaluation: single-choice and multi-label metrics, tuned thresholds, mistakes."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd

from fashion_core.analysis import metrics
from fashion_core.schema import Category, Kind, split_value

TUNING_METRICS = {"f1": 1.0, "f2": 2.0}
DEFAULT_THRESHOLD = 0.5


def label_targets(category: Category, rows: pd.DataFrame) -> np.ndarray:
    """Value indices (single-choice) or a 0/1 matrix (multi-label) of rows' ``value`` column."""
    if category.kind is Kind.SINGLE:
        return np.array([category.values.index(v) for v in rows["value"]], dtype=np.int64)
    out = np.zeros((len(rows), len(category.values)), dtype=np.int64)
    for r, value in enumerate(rows["value"]):
        for name in split_value(value):
            out[r, category.values.index(name)] = 1
    return out


def maybe_marks(category: Category, rows: pd.DataFrame) -> np.ndarray:
    """The 'm' marks of each row (only on unedited labels: marks belong to the original)."""
    out = np.zeros((len(rows), len(category.values)), dtype=bool)
    edited = rows["edited"].fillna(False).astype(bool) if "edited" in rows else pd.Series(False, index=rows.index)
    for r, (marks, was_edited) in enumerate(zip(rows["maybe"].fillna(""), edited)):
        for name in split_value(str(marks)):
            if name in category.values and not was_edited:
                out[r, category.values.index(name)] = True
    return out


def single_category_scores(category: Category, y: np.ndarray, p: np.ndarray, maybe: np.ndarray) -> dict[str, Any]:
    """Accuracy, FashionAI AP, confusion matrix and per-value figures of a single-choice category."""
    cm = metrics.confusion_matrix(y, p.argmax(axis=1), len(category.values))
    scores = metrics.per_value_scores(cm)
    aps = [metrics.average_precision(y == k, p[:, k]) for k in range(len(category.values))]
    per_value = [{"value": v, "precision": json_number(scores["precision"][k]), "recall": json_number(scores["recall"][k]),
                  "f1": json_number(scores["f1"][k]), "support": int(scores["support"][k]), "ap": json_number(aps[k])}
                 for k, v in enumerate(category.values)]
    present = scores["support"] > 0
    return {
        "kind": Kind.SINGLE.value, "values": list(category.values), "images": int(len(y)),
        "accuracy": json_number(metrics.accuracy(cm)), "fashionai_ap": json_number(metrics.fashionai_ap(p, y, maybe)),
        "basic_precision": json_number(metrics.basic_precision(p, y, maybe)),
        "macro_f1": json_number(float(np.mean(scores["f1"][present])) if present.any() else float("nan")),
        "mean_value_ap": json_number(np.nanmean(aps) if np.isfinite(aps).any() else float("nan")),
        "confusion": cm.tolist(), "per_value": per_value,
    }


def multi_category_scores(category: Category, y: np.ndarray, p: np.ndarray, metric: str) -> dict[str, Any]:
    """Per-value 2x2 tables and scores at 0.5, then at thresholds tuned for ``metric``."""
    at_default = metrics.multilabel_scores(y, p, DEFAULT_THRESHOLD)
    hot, truth = p >= DEFAULT_THRESHOLD, y == 1
    per_value = [{"value": v, **{k: json_number(at_default[k][i]) for k in ("precision", "recall", "f1", "f2", "ap")},
                  "support": int(at_default["support"][i]),
                  # The value's own 2x2 table at the default threshold.
                  "tp": int((truth[:, i] & hot[:, i]).sum()), "fp": int((~truth[:, i] & hot[:, i]).sum()),
                  "fn": int((truth[:, i] & ~hot[:, i]).sum()), "tn": int((~truth[:, i] & ~hot[:, i]).sum())}
                 for i, v in enumerate(category.values)]
    aps = at_default["ap"]
    out = {"kind": Kind.MULTI.value, "values": list(category.values), "images": int(len(y)),
           "threshold": DEFAULT_THRESHOLD, "per_value": per_value,
           # Per-class accuracy, as training reports it for a multi-label head.
           "accuracy": json_number(float((hot == truth).mean()) if truth.size else float("nan")),
           # Each value's 2x2 table [[tn, fp], [fn, tp]]: the multi-label form of a confusion matrix.
           "confusion": {e["value"]: [[e["tn"], e["fp"]], [e["fn"], e["tp"]]] for e in per_value},
           "mean_ap": json_number(np.nanmean(aps) if np.isfinite(aps).any() else float("nan")),
           **{k: json_number(v) for k, v in at_default.items() if np.ndim(v) == 0}}
    out.update(tuned_scores(y, p, out, metric))
    return out


def tuned_scores(y: np.ndarray, p: np.ndarray, cat: dict[str, Any], metric: str) -> dict[str, Any]:
    """Tune per-value thresholds for ``metric`` (written into ``cat``) and score at them."""
    thresholds, tuned = metrics.tune_thresholds(y, p, beta=TUNING_METRICS[metric], default=DEFAULT_THRESHOLD)
    for entry, t, ok in zip(cat["per_value"], thresholds, tuned):
        entry["threshold"], entry["tuned"] = round(float(t), 6), bool(ok)
    at_tuned = metrics.multilabel_scores(y, p, thresholds)
    return {"tuned": {"metric": metric, **{k: json_number(v) for k, v in at_tuned.items() if np.ndim(v) == 0}}}


def misclassified(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Validation images the model gets wrong, worst first (lowest probability of the given label)."""
    out = []
    for name, cat in data["categories"].items():
        pred, values = data["predictions"][name], cat["values"]
        y, p = np.asarray(pred["y"]), np.asarray(pred["probs"])
        if cat["kind"] == Kind.SINGLE.value:
            guess = p.argmax(axis=1)
            given_prob, wrong = p[np.arange(len(y)), y], guess != y
            given = [values[k] for k in y]
            predicted, predicted_prob = [values[k] for k in guess], p.max(axis=1)
        else:
            t = np.array([v["threshold"] for v in cat["per_value"]])
            hot = p >= t
            agreement = np.where(y == 1, p, 1.0 - p)  # how much the model backs each bit of the label
            given_prob, wrong = agreement.min(axis=1), (hot != (y == 1)).any(axis=1)
            given = ["|".join(v for v, b in zip(values, row) if b) for row in y]
            predicted = ["|".join(v for v, b in zip(values, row) if b) for row in hot]
            predicted_prob = np.where(hot, p, 1.0 - p).min(axis=1)
        for i in np.flatnonzero(wrong):
            out.append({"image_id": pred["image_ids"][i], "path": pred["paths"][i], "category": name,
                        "given": given[i], "predicted": predicted[i],
                        "given_prob": round(float(given_prob[i]), 6), "predicted_prob": round(float(predicted_prob[i]), 6)})
    return sorted(out, key=lambda r: (r["given_prob"], r["category"], r["image_id"]))


def json_number(value: Any) -> float | None:
    """A JSON-safe float: NaN (undefined, e.g. no images of a value) becomes None."""
    with contextlib.suppress(TypeError, ValueError):
        value = float(value)
        return round(value, 6) if np.isfinite(value) else None
    return None
