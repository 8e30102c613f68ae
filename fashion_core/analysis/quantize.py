"""INT8 post-training quantization of a run's serving model, and what it costs: validation accuracy
and speed of the float and INT8 models side by side, measured before anyone serves with it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from fashion_core.analysis.calibration import _head_targets
from fashion_core.analysis.run_labels import EvaluationError, run_labels
from fashion_core.imaging.decode import DATASET_LIMITS
from fashion_core.modeling.heads import make_heads
from fashion_core.modeling.lite import LiteForward
from fashion_core.runs.files import RunDir, read_json, verified_serving_path, write_json_atomic
from fashion_core.serving.photos import decode_batches
from fashion_core.store import LabelStore, utc_now

MAX_VAL_IMAGES = 1000  # validation images compared (a seeded sample above this)
TIMED_PHOTOS = 20


def quantize_run(store: LabelStore, run_id: str) -> dict[str, Any]:
    """Write the run's INT8 serving model and compare it with the float one on the validation images.

    Returns (and keeps in ``serving.json`` under ``int8.comparison``): per model the accuracy (mean
    over heads: top-1 for single-choice, per-value decisions at 0.5 for multi-label), per head,
    and one photo's forward pass in ms; the share of (image, head) pairs with the same top answer.

    Raises:
        ModelError: No trusted model, or the conversion fails.
        EvaluationError: No labelled validation image to compare on.
    """
    from fashion_core.modeling.serving_model import write_int8_model, write_serving_model
    from fashion_core.modeling.training import load_run_model

    model = load_run_model(store, run_id)
    if verified_serving_path(store, run_id) is None:
        write_serving_model(store, run_id, model)
    write_int8_model(store, run_id, model)
    float_path, int8_path = verified_serving_path(store, run_id), verified_serving_path(store, run_id, RunDir.SERVING_INT8)
    models = {"float": LiteForward.from_file(float_path), "int8": LiteForward.from_file(int8_path)}
    report = compare_models(store, run_id, models)
    report.update(float_bytes=float_path.stat().st_size, int8_bytes=int8_path.stat().st_size)
    run_dir = RunDir(float_path.parent)
    info = read_json(run_dir.serving_info, default={}) or {}
    info.setdefault("int8", {})["comparison"] = {**report, "created_at": utc_now()}
    write_json_atomic(run_dir.serving_info, info)
    return report


def compare_models(store: LabelStore, run_id: str, models: dict[str, LiteForward]) -> dict[str, Any]:
    """Accuracy per head and speed of each model on the run's labelled validation images."""
    rl = run_labels(store, run_id)
    split = pd.read_csv(rl.run_dir.split) if rl.run_dir.split.exists() else None
    if split is None:
        raise EvaluationError(f"Run {run_id} has no split.csv; there is no validation set to compare on.")
    val_ids = split.loc[split["subset"] == "val", "image_id"].astype("int64")
    images = rl.labels[rl.labels["image_id"].isin(set(val_ids))].drop_duplicates("image_id")
    if len(images) > MAX_VAL_IMAGES:
        images = images.sample(MAX_VAL_IMAGES, random_state=0)
    images = images[["image_id", "path"]].reset_index(drop=True)
    files = [str(rl.images_root / p) for p in images["path"]]
    size = next(iter(models.values())).image_size
    outputs: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in models}
    ok: list[int] = []
    first = 0
    for batch in decode_batches(files, size, DATASET_LIMITS, batch_size=32):
        ok += [first + i for i in batch.ok]
        first += len(batch.names)
        if batch.ok:
            for name, forward in models.items():
                for key, value in forward(batch.pixels.astype(np.float32)).items():
                    outputs[name].setdefault(key, []).append(value)
    if not ok:
        raise EvaluationError(f"Run {run_id} has no readable labelled validation image to compare on.")
    probs = {name: {k: np.concatenate(v) for k, v in out.items()} for name, out in outputs.items()}
    row_of = {int(images["image_id"][r]): i for i, r in enumerate(ok)}
    report: dict[str, Any] = {name: {"per_head": {}} for name in models}
    same, pairs, weights = 0, 0, {}
    for head in make_heads(rl.schema.categories):
        rows, targets = _head_targets(rl.labels, head.category, row_of)
        if not len(rows):
            continue
        weights[head.name] = len(rows)
        tops = {}
        for name in models:
            p = probs[name][head.key][rows]
            hit = (p >= 0.5) == (targets >= 0.5) if head.multi else p.argmax(axis=1) == targets
            report[name]["per_head"][head.name] = round(float(np.mean(hit)), 4)
            tops[name] = p.argmax(axis=1)
        first_top, *others = tops.values()
        same += sum(int((first_top == t).sum()) for t in others)
        pairs += len(rows) * len(others)
    for name, forward in models.items():
        per_head = report[name]["per_head"]
        report[name]["accuracy"] = round(sum(per_head[h] * w for h, w in weights.items()) / max(sum(weights.values()), 1), 4)
        report[name]["ms"] = round(_photo_ms(forward, size), 2)
    report.update(images=len(ok), agreement=round(same / max(pairs, 1), 4))
    return report


def _photo_ms(forward: LiteForward, size: int) -> float:
    """Median time of one photo's forward pass."""
    photo = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    forward(photo)
    times = []
    for _ in range(TIMED_PHOTOS):
        started = time.perf_counter()
        forward(photo)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))
