"""Judge a finished run on its validation images: per-category metrics, misclassified images, thresholds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashion_core.analysis import metrics
from fashion_core.analysis.category_scores import (
    TUNING_METRICS,
    json_number,
    label_targets,
    maybe_marks,
    misclassified,
    multi_category_scores,
    single_category_scores,
    tuned_scores,
)
from fashion_core.analysis.run_labels import EvaluationError, RunLabels, run_labels
from fashion_core.imaging.decode import DATASET_LIMITS
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
from fashion_core.runs.readers import write_thresholds
from fashion_core.schema import Kind
from fashion_core.store import LabelStore, utc_now

EVALUATION_FILE = RunDir.EVALUATION
THRESHOLDS_FILE = RunDir.THRESHOLDS
# Tuned multi-label thresholds go to THRESHOLDS_FILE, read by prediction (``read_thresholds``): a JSON
# object ``{category: {value: threshold}}`` in the run folder; ``p >= threshold`` makes a value positive.
FORMAT = 1
DEFAULT_TUNING_METRIC = "f2"  # the JD competition's metric
CHUNK = 256  # images decoded at once: bounds memory on large validation sets
LABELS_SOURCE = ("the store's current labels (originals plus edits) read through the label map the run"
                 " was trained with, restricted to the run's frozen schema")

ProgressFn = Callable[[str, float], None]  # (what is happening, fraction done 0..1)


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
            cat.update(tuned_scores(np.asarray(pred["y"]), np.asarray(pred["probs"]), cat, metric))
    data["tuning_metric"] = metric
    data["misclassified"] = misclassified(data)
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
             ) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Per head key, (N, K) probabilities from the engine that serves predictions (TFLite when it
    converts, the one decoder); rows of images that could not be read are NaN and reported."""
    from fashion_core.serving.predictor import Predictor

    progress("loading the model", 0.02)
    # A dataset's own files: the importer accepted them, so the upload limits of a photo do not apply.
    predictor = Predictor.from_run(store, rl.run.id, limits=DATASET_LIMITS)
    out = {h.key: np.full((len(files), h.size), np.nan, dtype=np.float32) for h in predictor.heads}
    problems: list[dict[str, Any]] = []
    for start in range(0, len(files), CHUNK):
        chunk = files[start:start + CHUNK]
        present = [f for f in chunk if Path(f).is_file()]
        problems += [{"image_id": None, "path": f, "category": None, "reason": "image file is missing"}
                     for f in chunk if f not in set(present)]
        probs, failed = predictor.probabilities(chunk, batch_size=batch_size)
        for key, value in probs.items():
            out[key][start:start + len(chunk)] = value
        problems += [{"image_id": None, "path": p.path, "category": None, "reason": f"cannot decode image: {p.reason}"}
                     for p in failed if p.path in set(present)]
        progress("predicting", 0.05 + 0.9 * (start + len(chunk) - 1) / max(len(files), 1))
    return out, problems


# -- the report's content -------------------------------------------------------------------------


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
        y = label_targets(head.category, mine)
        predictions[head.name] = {"image_ids": mine["image_id"].astype(int).tolist(),
                                  "paths": [path_of[int(i)] for i in mine["image_id"]],
                                  "y": y.tolist(), "probs": np.round(p.astype(np.float64), 6).tolist()}
        if head.multi:
            categories[head.name] = multi_category_scores(head.category, y, p, metric)
        else:
            categories[head.name] = single_category_scores(head.category, y, p, maybe_marks(head.category, mine))
    data = {
        "format": FORMAT, "run": rl.run.id, "dataset": rl.dataset, "evaluated_at": utc_now(),
        "model_sha256": rl.run.model_sha256, "labels_version": _jsonable(version), "labels_source": LABELS_SOURCE,
        "map": rl.run_dir.read_label_map(), "images": int(len(frame)),
        "tuning_metric": metric,
        "fashionai_map": json_number(metrics.fashionai_map(
            [c["fashionai_ap"] for c in categories.values() if c["kind"] == Kind.SINGLE.value])),
        "categories": categories, "predictions": predictions,
        "problems": problems + rl.problems,
    }
    data["misclassified"] = misclassified(data)
    return data


def _write_thresholds(store: LabelStore, run_id: str, data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """thresholds.json for the prediction side: {category: {value: threshold}} of multi-label heads."""
    thresholds = {name: {v["value"]: v["threshold"] for v in cat["per_value"]}
                  for name, cat in data["categories"].items() if cat["kind"] == Kind.MULTI.value}
    if thresholds:
        write_thresholds(store, run_id, thresholds)  # records its SHA-256: prediction checks it
    return thresholds


def _jsonable(value: Sequence[Any] | None) -> list[Any] | None:
    return None if value is None else [v for v in value]


