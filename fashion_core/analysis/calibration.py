"""Fit a run's calibration on its own images: scaling (temperature, label noise) on validation, familiarity and applies
on the training images' features (see ``serving.calibration``), saved with the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fashion_core.analysis.run_labels import EvaluationError, run_labels
from fashion_core.imaging.decode import DATASET_LIMITS
from fashion_core.runs.files import record_run_files
from fashion_core.schema import Kind, split_value
from fashion_core.serving.calibration import (
    UNFAMILIAR_SHARE,
    Calibration,
    LowTail,
    Reference,
    colourfulness,
    familiarity_scores,
    pixel_stats,
    write_calibration,
)
from fashion_core.serving.photos import decode_batches
from fashion_core.serving.scaling import (
    apply_scaling,
    binned_reliability,
    confidences,
    ece_judgeable,
    ece_noise_floor,
    fit_scaling,
    held_out_ece,
    reliability,
)
from fashion_core.store import LabelStore, utc_now

MAX_REFERENCE = 4000  # training images kept as the familiarity reference (seeded sample above this)
ProgressFn = Callable[[str, float], None]


def calibrate_run(store: LabelStore, run_id: str, *, batch_size: int = 32,
                  on_progress: ProgressFn | None = None) -> Calibration:
    """Fit and save the run's calibration; prediction uses it from then on.

    Raises:
        EvaluationError: No split, or too few labelled training or validation images.
    """
    from fashion_core.serving.predictor import Predictor

    progress = on_progress or (lambda stage, frac: None)
    rl = run_labels(store, run_id)
    if not rl.run_dir.split.exists():
        raise EvaluationError(f"Run {run_id} has no split.csv in {rl.run_dir.path}; it cannot be calibrated.")
    split = pd.read_csv(rl.run_dir.split)
    images = rl.labels.drop_duplicates("image_id")[["image_id", "path"]].reset_index(drop=True)
    subset = dict(zip(split["image_id"].astype("int64"), split["subset"]))
    images["subset"] = [subset.get(int(i)) for i in images["image_id"]]
    images = images[images["subset"].isin(["train", "val"])].reset_index(drop=True)
    progress("loading the model", 0.02)
    predictor = Predictor.from_run(store, run_id, limits=DATASET_LIMITS)
    files = [str(rl.images_root / p) for p in images["path"]]
    probs, features, pixels, colour, ok = _outputs_and_features(
        predictor, files, batch_size=batch_size, on_batch=lambda d, t: progress(f"features: batch {d}/{t}", 0.05 + 0.85 * d / t))
    images, features, pixels, colour = images[ok].reset_index(drop=True), features[ok], pixels[ok], colour[ok]
    probs = {k: v[ok] for k, v in probs.items()}
    is_val = (images["subset"] == "val").to_numpy()
    if is_val.sum() < 2 or (~is_val).sum() < 2:
        raise EvaluationError(f"Run {run_id}: too few readable labelled images to calibrate on"
                              f" ({int((~is_val).sum())} train, {int(is_val.sum())} validation).")
    progress("fitting", 0.92)
    row_of = {int(i): r for r, i in enumerate(images["image_id"])}
    temperatures, label_noise, heads = {}, {}, {}
    pooled: dict[str, list[np.ndarray]] = {"before": [], "after": [], "hit": []}
    for head in predictor.heads:
        rows, targets = _head_targets(rl.labels, head.category, row_of)
        val = is_val[rows]
        p, t = probs[head.key][rows][val], targets[val]
        temperatures[head.name], label_noise[head.name] = fit_scaling(p, t, head.multi)
        scaled = apply_scaling(p, temperatures[head.name], label_noise[head.name], head.multi)
        floor = ece_noise_floor(confidences(scaled, head.multi))
        heads[head.name] = {"temperature": temperatures[head.name], "label_noise": label_noise[head.name],
                            "images": int(len(t)), "before": reliability(p, t, head.multi),
                            "after": reliability(scaled, t, head.multi), "held_out": held_out_ece(p, t, head.multi),
                            "noise_floor": floor, "enough_images": ece_judgeable(floor)}
        if not head.multi and len(t):  # single-choice heads pooled: small heads' ECEs are mostly noise
            pooled["before"].append(p.max(axis=1))
            pooled["after"].append(scaled.max(axis=1))
            pooled["hit"].append((p.argmax(axis=1) == t).astype(np.float64))
    train_rows = _sample(np.flatnonzero(~is_val))
    references = (Reference.fit(features[train_rows], features[is_val], standardise=False),
                  Reference.fit(pixels[train_rows], pixels[is_val], standardise=True))
    colour_view = LowTail.fit(colour[is_val])
    val_scores = familiarity_scores((*references, colour_view), (features[is_val], pixels[is_val], colour[is_val]))
    threshold = float(np.quantile(val_scores, UNFAMILIAR_SHARE))
    mean, std = features[~is_val].mean(axis=0), features[~is_val].std(axis=0) + 1e-6
    applies = {h.name: _applies_model(rl.labels, h.name, images["image_id"].to_numpy(), ~is_val, features,
                                      (mean, std)) for h in predictor.heads}
    report = {"created_at": utc_now(), "heads": heads, "pooled": _pooled(pooled), "train_images": int((~is_val).sum()),
              "val_images": int(is_val.sum()), "val_unfamiliar": round(float((val_scores < threshold).mean()), 4)}
    calibration = Calibration(temperatures, threshold, references, applies, (mean, std), report, colour_view,
                              label_noise)
    write_calibration(rl.run_dir, calibration)
    record_run_files(store, run_id)  # the new files join the hashes the model is loaded against
    progress("done", 1.0)
    return calibration


def _outputs_and_features(
    predictor: Any, paths: list[str], *, batch_size: int = 32, on_batch: Callable[[int, int], None] | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw probabilities per output key, features, pixel statistics, colourfulness, and which files
    could be read (mask)."""
    probs = {h.key: np.zeros((len(paths), h.size), np.float32) for h in predictor.heads}
    feats: np.ndarray | None = None
    stats = np.zeros((len(paths), 34), np.float32)
    colour = np.zeros(len(paths), np.float32)
    ok = np.zeros(len(paths), bool)
    first, total = 0, -(-len(paths) // batch_size)
    for done, batch in enumerate(decode_batches(paths, predictor.image_size, predictor.limits, batch_size=batch_size), 1):
        if batch.ok:
            rows = [first + i for i in batch.ok]
            pixels = batch.pixels.astype(np.float32)
            outputs, f = predictor.forward_with_features(pixels)  # one pass when the serving model gives both
            for key, value in outputs.items():
                probs[key][rows] = value
            feats = np.zeros((len(paths), f.shape[1]), np.float32) if feats is None else feats
            feats[rows] = f
            stats[rows] = pixel_stats(pixels)
            colour[rows] = colourfulness(pixels)
            ok[rows] = True
        first += len(batch.names)
        if on_batch is not None:
            on_batch(done, total)
    return probs, (feats if feats is not None else np.zeros((len(paths), 0), np.float32)), stats, colour, ok


def _pooled(parts: dict[str, list[np.ndarray]]) -> dict[str, Any] | None:
    """ECE before and after over every single-choice head's validation images together."""
    if not parts["hit"]:
        return None
    hit = np.concatenate(parts["hit"])
    out = {key: binned_reliability(np.concatenate(parts[key]), hit)["ece"] for key in ("before", "after")}
    return {**out, "noise_floor": ece_noise_floor(np.concatenate(parts["after"])), "images": int(len(hit))}


def _head_targets(labels: pd.DataFrame, category: Any, row_of: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows (into the image table) labelled in ``category`` and their targets."""
    part = labels[(labels["category"] == category.name) & labels["image_id"].isin(row_of)]
    rows = np.array([row_of[int(i)] for i in part["image_id"]], dtype=np.int64)
    if category.kind is Kind.SINGLE:
        return rows, np.array([category.values.index(v) for v in part["value"]], dtype=np.int64)
    targets = np.array([[float(v in split_value(s)) for v in category.values] for s in part["value"]])
    return rows, targets.reshape(len(part), len(category.values))


def _sample(rows: np.ndarray) -> np.ndarray:
    """Training rows kept as the familiarity reference (a seeded sample above ``MAX_REFERENCE``)."""
    if len(rows) > MAX_REFERENCE:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAX_REFERENCE, replace=False))
    return rows


def _applies_model(labels: pd.DataFrame, category: str, image_ids: np.ndarray, train: np.ndarray,
                   features: np.ndarray, scale: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, float] | None:
    """Whether an image is of the kind labelled in ``category`` (FashionAI labels each image in one
    category: a photo of another kind does not show it); None when every image is labelled in it."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    labelled = set(labels.loc[labels["category"] == category, "image_id"].astype(int))
    y = np.array([int(i) in labelled for i in image_ids], dtype=np.int64)[train]
    if y.all() or not y.any():
        return None
    x = (features[train] - scale[0]) / scale[1]
    with threadpool_limits(1):
        model = LogisticRegression(C=0.05, max_iter=500).fit(x, y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])
