"""Judge a finished run on its validation images: per-category metrics, misclassified images, thresholds."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashion_core.analysis import metrics
from fashion_core.errors import FashionCoreError
from fashion_core.modeling.heads import make_heads
from fashion_core.runs.files import (
    RunDir,
    RunRecord,
    get_run,
    has_model,
    read_json,
    runs_with_model,
    write_json_atomic,
)
from fashion_core.runs.readers import read_schema, write_thresholds
from fashion_core.schema import Category, Kind, Schema, split_value
from fashion_core.store import LabelStore, utc_now

EVALUATION_FILE = RunDir.EVALUATION
# Tuned multi-label thresholds, read by prediction (``predict.load_thresholds``): a JSON object
# ``{category: {value: threshold}}`` in the run folder; ``p >= threshold`` makes a value positive.
THRESHOLDS_FILE = RunDir.THRESHOLDS
FORMAT = 1
TUNING_METRICS = {"f1": 1.0, "f2": 2.0}
DEFAULT_TUNING_METRIC = "f2"  # the JD competition's metric
DEFAULT_THRESHOLD = 0.5
CHUNK = 256  # images decoded at once: bounds memory on large validation sets
LABELS_SOURCE = ("the store's current labels (originals plus edits) read through the label map the run"
                 " was trained with, restricted to the run's frozen schema")

ProgressFn = Callable[[str, float], None]  # (what is happening, fraction done 0..1)


class EvaluationError(FashionCoreError, RuntimeError):
    """A run cannot be evaluated (not finished, no model, files missing)."""


# -- the labels a run is judged against ------------------------------------------------------------------


@dataclass(frozen=True)
class RunLabels:
    """A run's frozen schema and the labels to judge it against.

    Current labels, not the ones frozen at training: a label fixed since (for instance from
    the suspicious-label queue) should count as the truth. Through the run's own frozen
    label map, not today's active one: the model's heads speak that map's values.

    Attributes:
        run: The run's record.
        run_dir: Its folder.
        schema: The run's schema (``schema.json``): one head per category.
        labels: Columns image_id, path (relative to ``images_root``), category, value, maybe,
            edited; only the run's categories and values they know.
        images_root: The dataset's images root.
        problems: Labels left out, each ``{image_id, path, category, reason}``.
    """

    run: RunRecord
    run_dir: RunDir
    schema: Schema
    labels: pd.DataFrame
    images_root: Path
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return str(self.run.dataset)


def run_labels(store: LabelStore, run_id: str) -> RunLabels:
    """The run's schema and the current labels through its label map (see ``RunLabels``).

    Raises:
        EvaluationError: The run's schema or label-map record is missing, or its map cannot
            be read.
    """
    run = get_run(store, run_id)
    run_dir = RunDir(run.run_dir)
    if run.dataset is None:
        raise EvaluationError(f"Run {run_id} has no dataset any more (it was deleted); it cannot be evaluated.")
    schema = read_schema(run_dir)  # ModelError naming schema.json if it is missing or malformed
    info = store.dataset(run.dataset)
    labels = map_run_labels(store, run_dir, info.schema, store.current_labels(run.dataset))
    labels, problems = _known_labels(schema, labels)
    return RunLabels(run, run_dir, schema, labels, info.images_root, problems)


def map_run_labels(store: LabelStore, run_dir: RunDir, base: Schema, labels: pd.DataFrame) -> pd.DataFrame:
    """Labels (in the dataset's schema ``base``) through the label map a run was trained with.

    Raises:
        EvaluationError: The run's map cannot be read.
    """
    from fashion_core.labels.apply_map import apply_label_map
    from fashion_core.labels.label_map import LabelMap
    from fashion_core.labels.maps import load_map

    record = run_dir.read_label_map()
    if not record.get("name"):
        return labels
    try:
        label_map = (LabelMap.from_dict(record["map"], str(run_dir.label_map)) if record.get("map")
                     else load_map(store, record["name"], record.get("version")))
    except FashionCoreError as exc:
        raise EvaluationError(f"Cannot read the label map run {run_dir.run_id} used ({record['name']}): {exc}") from exc
    return apply_label_map(label_map, base, labels)[1]


def _known_labels(schema: Schema, labels: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    labels = labels[labels["category"].isin(schema.category_names)]
    keep, problems = [], []
    for row in labels.itertuples(index=False):
        cat = schema.category(row.category)
        names = split_value(row.value)
        ok = all(n in cat.values for n in names) and (cat.kind is Kind.MULTI or len(names) == 1)
        keep.append(ok)
        if not ok:
            problems.append({"image_id": int(row.image_id), "path": row.path, "category": row.category,
                             "reason": f"value {row.value!r} is not a value of {row.category!r} in this run"})
    return labels[np.array(keep, dtype=bool)].reset_index(drop=True), problems


# -- the report -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationReport:
    """The content of a run's ``evaluation.json`` plus where it came from.

    Attributes:
        data: The JSON content (see ``evaluate_run``).
        path: The file.
        cached: Read from the file rather than computed now.
        stale: The labels changed since it was computed.
    """

    data: dict[str, Any]
    path: Path
    cached: bool = False
    stale: bool = False

    @property
    def run_id(self) -> str:
        return self.data["run"]

    @property
    def categories(self) -> list[str]:
        return list(self.data["categories"])

    @property
    def fashionai_map(self) -> float | None:
        return self.data.get("fashionai_map")

    def summary(self) -> dict[str, Any]:
        """The report without per-image predictions: what ``evaluate --json`` prints."""
        keep = ("run", "dataset", "evaluated_at", "images", "fashionai_map", "tuning_metric", "map", "labels_source")
        return {**{k: self.data.get(k) for k in keep}, "stale": self.stale, "categories": self.data["categories"],
                "misclassified": len(self.data.get("misclassified", [])), "problems": self.data.get("problems", [])}

    def category(self, name: str) -> dict[str, Any]:
        """One category's figures (``kind``, ``values``, ``accuracy``, ``confusion``, ``per_value``, ...)."""
        try:
            return self.data["categories"][name]
        except KeyError:
            raise EvaluationError(f"Run {self.run_id} has no evaluated category {name!r}; it has {self.categories}") from None

    def confusion_frame(self, name: str, *, normalize: bool = False) -> pd.DataFrame:
        """The confusion matrix (rows: label, columns: prediction), counts or row shares."""
        cat = self.category(name)
        matrix = np.asarray(cat["confusion"], dtype=np.int64)
        return pd.DataFrame(metrics.normalize_rows(matrix) if normalize else matrix,
                            index=pd.Index(cat["values"], name="label"), columns=pd.Index(cat["values"], name="predicted"))

    def per_value_frame(self, name: str) -> pd.DataFrame:
        """Per-value precision, recall, F1, support and AP (multi-label: also F2, counts, threshold)."""
        return pd.DataFrame(self.category(name)["per_value"])

    def misclassified_frame(self, category: str | None = None) -> pd.DataFrame:
        """Misclassified validation images, worst first (lowest probability of their label)."""
        cols = ["image_id", "path", "category", "given", "predicted", "given_prob", "predicted_prob"]
        frame = pd.DataFrame(self.data.get("misclassified", []), columns=cols)
        return frame if category is None else frame[frame["category"] == category].reset_index(drop=True)

    def multilabel_frame(self, name: str, threshold: float) -> pd.DataFrame:
        """Per-value AP, precision, recall, F1 and F2 of a multi-label category at one threshold."""
        cat, pred = self.category(name), self.data["predictions"][name]
        scores = metrics.multilabel_scores(np.asarray(pred["y"]), np.asarray(pred["probs"]), threshold)
        keys = ("ap", "precision", "recall", "f1", "f2", "support")
        return pd.DataFrame({"value": cat["values"], **{k: np.asarray(scores[k]) for k in keys},
                             "tuned threshold": [v["threshold"] for v in cat["per_value"]]})

    def multilabel_summary(self, name: str, threshold: float) -> dict[str, float]:
        """F1/F2 (samples, macro, micro) and exact match of a multi-label category at one threshold."""
        pred = self.data["predictions"][name]
        scores = metrics.multilabel_scores(np.asarray(pred["y"]), np.asarray(pred["probs"]), threshold)
        return {k: float(v) for k, v in scores.items() if np.ndim(v) == 0}


def load_evaluation(store: LabelStore, run_id: str) -> EvaluationReport | None:
    """The run's saved evaluation without computing anything (None if there is none)."""
    run = get_run(store, run_id)
    path = RunDir(run.run_dir).path / EVALUATION_FILE
    data = read_json(path)
    if not data or data.get("format") != FORMAT or data.get("model_sha256") != run.model_sha256:
        return None
    saw = data.get("labels_version") or []
    stale = bool(run.dataset) and _label_state(store, run.dataset) != list(saw[:2])
    return EvaluationReport(data, path, cached=True, stale=stale)


def _label_state(store: LabelStore, dataset: str) -> list[int]:
    """(annotation count, last edit id): what can change a run's labels (its label map is frozen)."""
    return [int(v) for v in store.labels_version(dataset)[:2]]


def evaluable_runs(store: LabelStore, dataset: str | None = None) -> list[RunRecord]:
    """Runs that ended with a model (done, or cancelled after a checkpoint), newest first."""
    return runs_with_model(store, dataset)


# -- evaluating -------------------------------------------------------------------------------------


def evaluate_run(store: LabelStore, run_id: str, *, batch_size: int = 64, refresh: bool = False,
                 reuse_stale: bool = False, tuning_metric: str | None = None,
                 on_progress: ProgressFn | None = None) -> EvaluationReport:
    """Evaluate a finished run on its validation images and save ``evaluation.json``.

    The model is loaded only if its SHA-256 matches the one recorded at save time. The
    validation images are those of the run's ``split.csv``; their labels are the store's
    current labels through the run's label map (see ``RunLabels``). A saved evaluation is
    reused while the model and the labels are unchanged. For multi-label categories the
    per-value thresholds tuned for ``tuning_metric`` on the validation images go to
    ``thresholds.json`` in the run folder: ``{category: {value: threshold}}`` (JSON
    numbers in [0, 1]; a value counts as present when its probability is ``>=`` its
    threshold; a value without validation positives keeps 0.5). Prediction reads that file.

    Args:
        store: The label store.
        run_id: A run that ended with a model (done or cancelled).
        batch_size: Images per forward pass.
        refresh: Evaluate again even if a current evaluation is saved.
        reuse_stale: Return a saved evaluation even if the labels changed since (``stale``).
        tuning_metric: ``f1`` or ``f2``; None keeps the saved choice (default ``f2``).
        on_progress: Called with (stage, fraction done).

    Returns:
        The report; ``data`` holds per category its metrics, ``predictions`` (validation
        image ids, label and probabilities), ``misclassified`` (worst first) and ``problems``.

    Raises:
        EvaluationError: Bad arguments, a run without a model or without validation images.
        ModelError: The model file is missing, changed or unreadable.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise EvaluationError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    _check_metric(tuning_metric)
    run = get_run(store, run_id)
    if not has_model(run):
        raise EvaluationError(f"Run {run_id} has no finished model to evaluate (state: {run.status}).")
    saved = load_evaluation(store, run_id)
    if saved is not None and not refresh and (not saved.stale or reuse_stale):
        return saved
    metric = tuning_metric or (saved.data.get("tuning_metric") if saved else None) or DEFAULT_TUNING_METRIC
    progress = on_progress or (lambda stage, frac: None)
    progress("reading labels", 0.0)
    version = list(store.labels_version(run.dataset))
    rl = run_labels(store, run_id)
    frame, problems = _validation_frame(rl)
    probs, failed = _predict(store, rl, frame["file"].tolist(), batch_size, progress)
    problems += failed
    data = _report(rl, frame, probs, metric, version, problems)
    path = rl.run_dir.path / EVALUATION_FILE
    write_json_atomic(path, data)
    _write_thresholds(store, run_id, data)
    progress("done", 1.0)
    return EvaluationReport(data, path)


def tune_thresholds(store: LabelStore, run_id: str, metric: str = DEFAULT_TUNING_METRIC) -> dict[str, dict[str, float]]:
    """Tune the multi-label thresholds of an evaluated run for ``metric`` and save them.

    Returns:
        ``{category: {value: threshold}}`` as written to ``thresholds.json`` in the run folder
        (the file prediction reads; see ``evaluate_run``).
    """
    _check_metric(metric)
    report = load_evaluation(store, run_id) or evaluate_run(store, run_id)
    data = report.data
    for name, cat in data["categories"].items():
        if cat["kind"] == Kind.MULTI.value:
            pred = data["predictions"][name]
            cat.update(_multi_tuned(np.asarray(pred["y"]), np.asarray(pred["probs"]), cat, metric))
    data["tuning_metric"] = metric
    data["misclassified"] = _misclassified(data)
    write_json_atomic(report.path, data)
    return _write_thresholds(store, run_id, data)


def _check_metric(metric: str | None) -> None:
    if metric is not None and metric not in TUNING_METRICS:
        raise EvaluationError(f"`tuning_metric` must be one of {sorted(TUNING_METRICS)}. Received: {metric!r}")


def _validation_frame(rl: RunLabels) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Validation images with at least one label now; one row each with a ``file`` column."""
    if not rl.run_dir.split.exists():
        raise EvaluationError(f"Run {rl.run.id} has no split.csv in {rl.run_dir.path}")
    split = pd.read_csv(rl.run_dir.split)
    val_ids = split.loc[split["subset"] == "val", "image_id"].astype("int64")
    labelled = rl.labels[rl.labels["image_id"].isin(val_ids)]
    problems = [{"image_id": int(i), "path": None, "category": None,
                 "reason": "validation image has no label in the run's categories any more"}
                for i in sorted(set(val_ids) - set(labelled["image_id"]))]
    frame = labelled.drop_duplicates("image_id")[["image_id", "path"]].reset_index(drop=True)
    if frame.empty:
        raise EvaluationError(f"Run {rl.run.id} has no labelled validation image to evaluate on.")
    frame["file"] = [str(rl.images_root / p) for p in frame["path"]]
    return frame, problems


def _predict(store: LabelStore, rl: RunLabels, files: list[str], batch_size: int, progress: ProgressFn
             ) -> tuple[dict[str, np.ndarray | None], list[dict[str, Any]]]:
    """Per head key, (N, K) probabilities; rows of images that could not be read are NaN."""
    from fashion_core.modeling.training import load_run_model  # TensorFlow only when evaluating

    progress("loading the model", 0.02)
    model = load_run_model(store, rl.run.id)
    size = int(model.input_shape[1])
    heads = make_heads(rl.schema.categories)
    out = {h.key: np.full((len(files), h.size), np.nan, dtype=np.float32) for h in heads}
    problems: list[dict[str, Any]] = []
    for start in range(0, len(files), CHUNK):
        rows = list(range(start, min(start + CHUNK, len(files))))
        images, ok = _load_chunk([files[i] for i in rows], size, batch_size, problems)
        for first in range(0, len(images), batch_size):
            batch = model.predict_on_batch(images[first:first + batch_size])
            for key, value in batch.items():
                out[key][[rows[i] for i in ok[first:first + batch_size]]] = np.asarray(value)
        progress("predicting", 0.05 + 0.9 * rows[-1] / max(len(files), 1))
    return out, problems


def _load_chunk(files: list[str], size: int, batch_size: int, problems: list[dict[str, Any]]
                ) -> tuple[np.ndarray, list[int]]:
    """Decode files to (n, S, S, 3); a broken file is reported and left out, never fatal."""
    from fashion_core.modeling.data import load_images

    present = [i for i, f in enumerate(files) if Path(f).is_file()]
    problems += [{"image_id": None, "path": files[i], "category": None, "reason": "image file is missing"}
                 for i in sorted(set(range(len(files))) - set(present))]
    try:
        return load_images([files[i] for i in present], size, batch_size=batch_size), present
    except Exception:  # noqa: BLE001 - a TensorFlow decode error: find the bad file one by one
        good, arrays = [], []
        for i in present:
            try:
                arrays.append(load_images([files[i]], size)[0])
                good.append(i)
            except Exception as exc:  # noqa: BLE001 - reported per file below
                problems.append({"image_id": None, "path": files[i], "category": None,
                                 "reason": f"cannot decode image: {type(exc).__name__}"})
        empty = np.zeros((0, size, size, 3), np.float32)
        return (np.stack(arrays) if arrays else empty), good


# -- metrics per category ------------------------------------------------------------------------


def _report(rl: RunLabels, frame: pd.DataFrame, probs: dict[str, np.ndarray], metric: str,
            version: list, problems: list[dict[str, Any]]) -> dict[str, Any]:
    row_of = {int(i): r for r, i in enumerate(frame["image_id"])}
    path_of = dict(zip(frame["image_id"].astype(int), frame["path"]))
    categories, predictions = {}, {}
    for head in make_heads(rl.schema.categories):
        mine = rl.labels[(rl.labels["category"] == head.name) & rl.labels["image_id"].isin(row_of)]
        rows = np.array([row_of[int(i)] for i in mine["image_id"]], dtype=np.int64)
        p = probs[head.key][rows] if len(rows) else np.zeros((0, head.size), np.float32)
        readable = ~np.isnan(p).any(axis=1)
        mine, p = mine[readable], p[readable]
        if mine.empty:
            continue
        y = _targets(head.category, mine)
        predictions[head.name] = {"image_ids": mine["image_id"].astype(int).tolist(),
                                  "paths": [path_of[int(i)] for i in mine["image_id"]],
                                  "y": y.tolist(), "probs": np.round(p.astype(np.float64), 6).tolist()}
        if head.multi:
            categories[head.name] = _multi_category(head.category, y, p, metric)
        else:
            categories[head.name] = _single_category(head.category, y, p, _maybe(head.category, mine))
    data = {
        "format": FORMAT, "run": rl.run.id, "dataset": rl.dataset, "evaluated_at": utc_now(),
        "model_sha256": rl.run.model_sha256, "labels_version": _jsonable(version), "labels_source": LABELS_SOURCE,
        "map": read_json(rl.run_dir.label_map, default={}) or {}, "images": int(len(frame)),
        "tuning_metric": metric,
        "fashionai_map": _num(metrics.fashionai_map(
            [c["fashionai_ap"] for c in categories.values() if c["kind"] == Kind.SINGLE.value])),
        "categories": categories, "predictions": predictions,
        "problems": problems + rl.problems,
    }
    data["misclassified"] = _misclassified(data)
    return data


def _targets(category: Category, rows: pd.DataFrame) -> np.ndarray:
    if category.kind is Kind.SINGLE:
        return np.array([category.values.index(v) for v in rows["value"]], dtype=np.int64)
    out = np.zeros((len(rows), len(category.values)), dtype=np.int64)
    for r, value in enumerate(rows["value"]):
        for name in split_value(value):
            out[r, category.values.index(name)] = 1
    return out


def _maybe(category: Category, rows: pd.DataFrame) -> np.ndarray:
    """The 'm' marks of each row (only on unedited labels: marks belong to the original)."""
    out = np.zeros((len(rows), len(category.values)), dtype=bool)
    edited = rows["edited"].fillna(False).astype(bool) if "edited" in rows else pd.Series(False, index=rows.index)
    for r, (marks, was_edited) in enumerate(zip(rows["maybe"].fillna(""), edited)):
        for name in split_value(str(marks)):
            if name in category.values and not was_edited:
                out[r, category.values.index(name)] = True
    return out


def _single_category(category: Category, y: np.ndarray, p: np.ndarray, maybe: np.ndarray) -> dict[str, Any]:
    cm = metrics.confusion_matrix(y, p.argmax(axis=1), len(category.values))
    scores = metrics.per_value_scores(cm)
    aps = [metrics.average_precision(y == k, p[:, k]) for k in range(len(category.values))]
    per_value = [{"value": v, "precision": _num(scores["precision"][k]), "recall": _num(scores["recall"][k]),
                  "f1": _num(scores["f1"][k]), "support": int(scores["support"][k]), "ap": _num(aps[k])}
                 for k, v in enumerate(category.values)]
    present = scores["support"] > 0
    return {
        "kind": Kind.SINGLE.value, "values": list(category.values), "images": int(len(y)),
        "accuracy": _num(metrics.accuracy(cm)), "fashionai_ap": _num(metrics.fashionai_ap(p, y, maybe)),
        "basic_precision": _num(metrics.basic_precision(p, y, maybe)),
        "macro_f1": _num(float(np.mean(scores["f1"][present])) if present.any() else float("nan")),
        "mean_value_ap": _num(np.nanmean(aps) if np.isfinite(aps).any() else float("nan")),
        "confusion": cm.tolist(), "per_value": per_value,
    }


def _multi_category(category: Category, y: np.ndarray, p: np.ndarray, metric: str) -> dict[str, Any]:
    at_default = metrics.multilabel_scores(y, p, DEFAULT_THRESHOLD)
    hot, truth = p >= DEFAULT_THRESHOLD, y == 1
    per_value = [{"value": v, **{k: _num(at_default[k][i]) for k in ("precision", "recall", "f1", "f2", "ap")},
                  "support": int(at_default["support"][i]),
                  # The value's own 2x2 table at the default threshold.
                  "tp": int((truth[:, i] & hot[:, i]).sum()), "fp": int((~truth[:, i] & hot[:, i]).sum()),
                  "fn": int((truth[:, i] & ~hot[:, i]).sum()), "tn": int((~truth[:, i] & ~hot[:, i]).sum())}
                 for i, v in enumerate(category.values)]
    aps = at_default["ap"]
    out = {"kind": Kind.MULTI.value, "values": list(category.values), "images": int(len(y)),
           "threshold": DEFAULT_THRESHOLD, "per_value": per_value,
           # Per-class accuracy, as training reports it for a multi-label head.
           "accuracy": _num(float((hot == truth).mean()) if truth.size else float("nan")),
           # Each value's 2x2 table [[tn, fp], [fn, tp]]: the multi-label form of a confusion matrix.
           "confusion": {e["value"]: [[e["tn"], e["fp"]], [e["fn"], e["tp"]]] for e in per_value},
           "mean_ap": _num(np.nanmean(aps) if np.isfinite(aps).any() else float("nan")),
           **{k: _num(v) for k, v in at_default.items() if np.ndim(v) == 0}}
    out.update(_multi_tuned(y, p, out, metric))
    return out


def _multi_tuned(y: np.ndarray, p: np.ndarray, cat: dict[str, Any], metric: str) -> dict[str, Any]:
    thresholds, tuned = metrics.tune_thresholds(y, p, beta=TUNING_METRICS[metric], default=DEFAULT_THRESHOLD)
    for entry, t, ok in zip(cat["per_value"], thresholds, tuned):
        entry["threshold"], entry["tuned"] = round(float(t), 6), bool(ok)
    at_tuned = metrics.multilabel_scores(y, p, thresholds)
    return {"tuned": {"metric": metric, **{k: _num(v) for k, v in at_tuned.items() if np.ndim(v) == 0}}}


def _misclassified(data: dict[str, Any]) -> list[dict[str, Any]]:
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


def _write_thresholds(store: LabelStore, run_id: str, data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """thresholds.json for the prediction side: {category: {value: threshold}} of multi-label heads."""
    thresholds = {name: {v["value"]: v["threshold"] for v in cat["per_value"]}
                  for name, cat in data["categories"].items() if cat["kind"] == Kind.MULTI.value}
    if thresholds:
        write_thresholds(store, run_id, thresholds)  # records its SHA-256: prediction checks it
    return thresholds


def _num(value: Any) -> float | None:
    """A JSON-safe float: NaN (undefined, e.g. no images of a value) becomes None."""
    with contextlib.suppress(TypeError, ValueError):
        value = float(value)
        return round(value, 6) if np.isfinite(value) else None
    return None


def _jsonable(value: Sequence[Any] | None) -> list[Any] | None:
    return None if value is None else [v for v in value]


# -- figures ------------------------------------------------------------------------------------------


def confusion_figure(report: EvaluationReport, category: str, *, normalize: bool = False):  # -> go.Figure
    """A plotly heat map of a single-choice category's confusion matrix (labels down, predictions across)."""
    import plotly.graph_objects as go

    frame = report.confusion_frame(category, normalize=normalize)
    text = frame.map(lambda v: f"{v:.2f}" if normalize else f"{int(v)}")
    fig = go.Figure(go.Heatmap(
        z=frame.to_numpy(), x=list(frame.columns), y=list(frame.index), text=text.to_numpy(),
        texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1 if normalize else None,
        hovertemplate="label %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
    ))
    fig.update_layout(xaxis_title="predicted", yaxis_title="label", yaxis_autorange="reversed",
                      height=max(320, 60 + 38 * len(frame)), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title=f"{category}: {'share of each label row' if normalize else 'images'}")
    return fig
