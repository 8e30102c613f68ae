"""Predict every category of a run's model for photos: one forward pass, ranked values.

The model (see ``modeling.model.build_model``) takes float32 RGB pixels in 0..255 at
``(S, S, 3)`` and returns one probability vector per category (softmax for single-choice,
sigmoid for multi-label). A ``Predictor`` loads it once and answers all categories of a
photo in one pass. Photos are decoded by ``imaging.decode`` (the decoder training uses).
TensorFlow is reached only through ``fashion_core.modeling`` and only when a model is
loaded, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_core.errors import ImageError, ModelError
from fashion_core.imaging.decode import ImageLimits, photo_pixels, short_reason
from fashion_core.modeling.heads import Head, make_heads
from fashion_core.runs.files import RunDir, get_run, read_json
from fashion_core.runs.readers import check_thresholds
from fashion_core.runs.readers import read_schema as load_run_schema
from fashion_core.runs.readers import read_thresholds as load_thresholds
from fashion_core.schema import Kind, Schema
from fashion_core.serving.calibration import (
    Calibration,
    FamiliarityScore,
    apply_temperature,
    calibrated_threshold,
    read_calibration,
)
from fashion_core.serving.photos import ImageProblem, decode_batches, fetch_image_bytes

ForwardFn = Callable[[np.ndarray], dict[str, np.ndarray]]

if TYPE_CHECKING:
    import keras

    from fashion_core.modeling.gradcam import Heatmap
    from fashion_core.store import LabelStore

THRESHOLDS_FILE = RunDir.THRESHOLDS  # the evaluation's tuned thresholds: {category: {value: t}}
DEFAULT_THRESHOLD = 0.5
ENGINES = ("auto", "tflite", "tf")
LITE_CACHE_FILE = RunDir.LITE_CACHE  # in the run folder: the converted model prediction runs


@dataclass(frozen=True)
class ValueProb:
    """One value of a category and its predicted probability."""

    value: str
    prob: float


@dataclass(frozen=True)
class CategoryPrediction:
    """A category's answer: every value, most probable first.

    Attributes:
        category: Category name.
        kind: Single-choice (softmax, probabilities sum to 1) or multi-label (sigmoid).
        values: All values with their probabilities, sorted by probability (ties: schema order).
        positives: Multi-label only: the values at or above their threshold, most probable first.
        tuned_thresholds: Whether those thresholds were tuned on validation data (the run's
            ``thresholds.json``) rather than the default 0.5.
        thresholds: Multi-label only: each value's threshold, in the order of ``values``.
    """

    category: str
    kind: Kind
    values: tuple[ValueProb, ...]
    positives: tuple[str, ...] = ()
    tuned_thresholds: bool = False
    thresholds: tuple[float, ...] = ()

    @property
    def top(self) -> ValueProb:
        return self.values[0]

    def ranked(self, top: int | None = None) -> list[dict[str, Any]]:
        """``[{"value": V, "prob": P}, ...]`` most probable first (the first ``top`` only, if given)."""
        chosen = self.values if top is None else self.values[:top]
        return [{"value": v.value, "prob": round(v.prob, 6)} for v in chosen]


@dataclass(frozen=True)
class Prediction:
    """Every category's answer for one photo, and what it cost.

    Attributes:
        categories: One answer per category of the run, in schema order.
        inference_ms: The forward pass (this photo's share of its batch).
        total_ms: From the file's bytes to the ranked answers.
    """

    categories: tuple[CategoryPrediction, ...]
    inference_ms: float
    total_ms: float
    familiarity: FamiliarityScore | None = None  # set when asked for details of a calibrated run
    applies: dict[str, float] | None = None  # per category: does the photo show what it describes

    def __getitem__(self, category: str) -> CategoryPrediction:
        for answer in self.categories:
            if answer.category == category:
                return answer
        raise KeyError(category)

    def to_dict(self, top: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """``{CATEGORY: [{"value": V, "prob": P}, ...]}``, values sorted by probability."""
        return {c.category: c.ranked(top) for c in self.categories}

    def details_dict(self, top: int | None = None) -> dict[str, Any]:
        """``{"categories": to_dict(), "familiarity": {"score", "unfamiliar"} | None, "applies": {C: P} | None}``."""
        return {"categories": self.to_dict(top),
                "familiarity": self.familiarity.to_dict() if self.familiarity else None,
                "applies": self.applies}

    def with_details(self, familiarity: FamiliarityScore, applies: dict[str, float]) -> Prediction:
        return Prediction(self.categories, self.inference_ms, self.total_ms, familiarity, applies)


@dataclass(frozen=True)
class BatchPrediction:
    """Answers for many photos (by path, in input order) and the photos that failed."""

    predictions: dict[str, Prediction]
    problems: tuple[ImageProblem, ...] = ()
    seconds: float = 0.0

    def to_dict(self, top: int | None = None, *, details: bool = False) -> dict[str, Any]:
        """``{IMAGE: {CATEGORY: [{"value": V, "prob": P}, ...]}}`` (the CLI's ``--json``); with
        ``details`` each image's ``Prediction.details_dict``."""
        if details:
            return {path: p.details_dict(top) for path, p in self.predictions.items()}
        return {path: p.to_dict(top) for path, p in self.predictions.items()}


class Predictor:
    """A loaded multi-head model that answers every category of a photo in one forward pass.

    Build it once per process (``Predictor.from_run``) and reuse it: loading, converting and
    tracing take seconds, a prediction milliseconds. Safe to share between threads.

    The forward pass runs in the TFLite interpreter (XNNPACK kernels, about 2.5x faster than
    TensorFlow on this CPU), converted from the model and checked against it on a probe
    photo; if that fails (``engine="auto"``) it runs as a traced TensorFlow function.
    Grad-CAM always uses the Keras model.

    Args:
        model: A studio model (raw 0..255 pixels in, dict of per-category probabilities out).
        schema: The categories and values of its outputs (the run's ``schema.json``).
        thresholds: Multi-label thresholds ``{category: {value: t}}``; missing ones are 0.5.
        run_id: The run the model comes from, if any (for display).
        limits: Size limits for photos.
        engine: ``auto`` (TFLite, else TensorFlow), ``tflite`` or ``tf``.
        lite_cache: A file to keep the converted TFLite model in (``from_run``: in the run folder).
    """

    def __init__(
        self,
        model: keras.Model,
        schema: Schema,
        *,
        thresholds: Mapping[str, Mapping[str, float]] | None = None,
        run_id: str | None = None,
        limits: ImageLimits = ImageLimits(),
        engine: str = "auto",
        lite_cache: Path | None = None,
    ) -> None:
        from fashion_core.modeling.export import input_size

        if engine not in ENGINES:
            raise ModelError(f"`engine` must be one of {ENGINES}. Received: engine={engine!r}")
        self.model = model
        self.schema = schema
        self.run_id = run_id
        self.run_dir: RunDir | None = None  # set by from_run: where the run's thresholds live
        self.limits = limits
        self.heads: tuple[Head, ...] = make_heads(schema.categories)
        self.thresholds = check_thresholds(thresholds or {}, schema, source="thresholds")
        self.image_size = input_size(model)
        self.engine_note = ""
        self.calibration: Calibration | None = None  # set by from_run when the run was calibrated
        self._features: Callable[[np.ndarray], np.ndarray] | None = None  # built on first use
        self._forward, self.engine = self._make_forward(engine, lite_cache)
        self._check_outputs()

    def _make_forward(self, engine: str, lite_cache: Path | None) -> tuple[ForwardFn, str]:
        from fashion_core.modeling.export import lite_forward, serving_function

        if engine != "tf":
            try:
                return lite_forward(self.model, cache=lite_cache), "tflite"
            except ModelError as exc:
                if engine == "tflite":
                    raise
                self.engine_note = f"TFLite unavailable ({short_reason(exc)}); running in TensorFlow"
        traced = serving_function(self.model)
        return (lambda batch: {k: v.numpy() for k, v in traced(batch).items()}), "tf"

    @classmethod
    def from_run(
        cls, store: LabelStore, run_id: str, *, limits: ImageLimits = ImageLimits(), engine: str = "auto"
    ) -> Predictor:
        """Load a finished run's model (only if its SHA-256 matches the record), schema and thresholds.

        The TFLite conversion is kept in the run folder (``serving.tflite``), so only the
        first load of a run pays for it; the cached file is checked against the model.

        Raises:
            JobError: Unknown run.
            ModelError: No trusted model, or its files disagree with each other.
        """
        from fashion_core.modeling.training import load_run_model

        run_dir = RunDir(get_run(store, run_id).run_dir)
        schema = load_run_schema(run_dir)
        thresholds = load_thresholds(run_dir, schema)
        model = load_run_model(store, run_id)
        predictor = cls(
            model,
            schema,
            thresholds=thresholds,
            run_id=run_id,
            limits=limits,
            engine=engine,
            lite_cache=run_dir.path / LITE_CACHE_FILE,
        )
        configured = (read_json(run_dir.config, default={}) or {}).get("image_size")
        if configured is not None and configured != predictor.image_size:
            raise ModelError(
                f"Run {run_id}: config.json says image_size {configured}, the model takes"
                f" {predictor.image_size}"
            )
        predictor.run_dir = run_dir
        predictor.calibration = read_calibration(run_dir)
        return predictor

    def with_thresholds(self, thresholds: Mapping[str, Mapping[str, float]]) -> Predictor:
        """The same loaded model (shared, not copied: cheap) with other multi-label thresholds."""
        twin = copy.copy(self)
        twin.thresholds = check_thresholds(thresholds, self.schema, source="thresholds")
        return twin

    def with_saved_thresholds(self) -> Predictor:
        """The same model with its run's thresholds as saved now.

        A process keeps its model loaded for long, and the evaluation may tune (and save)
        thresholds meanwhile; reading the small file per request keeps answers current.
        """
        return (
            self if self.run_dir is None else self.with_thresholds(load_thresholds(self.run_dir, self.schema))
        )

    def _check_outputs(self) -> None:
        """Trace the forward pass now (the first photo need not wait) and check the outputs fit."""
        outputs = self.forward(np.zeros((1, self.image_size, self.image_size, 3), np.float32))
        expected = {h.key: h.size for h in self.heads}
        got = {k: int(v.shape[-1]) for k, v in outputs.items()}
        if got != expected:
            raise ModelError(f"The model's outputs {got} do not match its schema's categories {expected}")

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The bare forward pass: float32 ``(N, S, S, 3)`` pixels to per-output probabilities (no checks)."""
        return self._forward(batch)

    def features(self, batch: np.ndarray) -> np.ndarray:
        """The backbone's features of float32 ``(N, S, S, 3)`` pixels (what familiarity compares)."""
        if self._features is None:
            from fashion_core.modeling.features import feature_function

            self._features = feature_function(self.model)
        return self._features(batch)

    def details(self, pixels: np.ndarray, predictions: Sequence[Prediction]) -> list[Prediction]:
        """The predictions with familiarity and applies added (unchanged if the run is not calibrated)."""
        if self.calibration is None or not len(predictions):
            return list(predictions)
        feats = self.features(np.asarray(pixels, np.float32))
        scores = self.calibration.familiarity(feats, np.asarray(pixels))
        applies = self.calibration.applies_probs(feats)
        return [p.with_details(f, a) for p, f, a in zip(predictions, scores, applies)]

    # -- predicting --------------------------------------------------------------------------

    def predict_pixels(self, pixels: np.ndarray) -> list[Prediction]:
        """Predict a batch of ready pixels, ``(N, S, S, 3)`` in 0..255 (uint8 or float)."""
        batch = np.asarray(pixels)
        if batch.ndim != 4 or batch.shape[1:] != (self.image_size, self.image_size, 3):
            raise ImageError(
                f"Expected pixels of shape (N, {self.image_size}, {self.image_size}, 3); got {batch.shape}"
            )
        started = time.perf_counter()
        outputs = self.forward(batch.astype(np.float32, copy=False))
        ms = (time.perf_counter() - started) * 1000 / max(len(batch), 1)
        return [self._answer(outputs, i, ms, ms) for i in range(len(batch))]

    def predict_bytes(self, data: bytes, *, name: str | None = None, details: bool = False) -> Prediction:
        """Predict one photo from its file's bytes (JPEG, PNG or WebP).

        Raises:
            ImageError: The photo fails the checks (format, size, pixels) or cannot be decoded.
        """
        started = time.perf_counter()
        pixels = photo_pixels(data, self.image_size, limits=self.limits, name=name)
        forward_start = time.perf_counter()
        outputs = self.forward(pixels[np.newaxis].astype(np.float32))
        done = time.perf_counter()
        answer = self._answer(outputs, 0, (done - forward_start) * 1000, (done - started) * 1000)
        return self.details(pixels[np.newaxis], [answer])[0] if details else answer

    def predict_url(self, url: str, *, allow_private: bool = False) -> Prediction:
        """Fetch a photo under the downloader's safety rules and predict it (see ``fetch_image_bytes``)."""
        data = fetch_image_bytes(url, allow_private=allow_private, max_bytes=self.limits.max_bytes)
        return self.predict_bytes(data, name=url)

    def predict_paths(
        self, paths: Sequence[str | Path], *, batch_size: int = 32, details: bool = False
    ) -> BatchPrediction:
        """Predict image files in batches (decoding in threads); bad files are reported, not raised."""
        started = time.perf_counter()
        predictions: dict[str, Prediction] = {}
        problems: list[ImageProblem] = []
        chunk_start = time.perf_counter()
        for batch in decode_batches(paths, self.image_size, self.limits, batch_size=batch_size):
            problems += batch.problems
            if batch.ok:
                answers = self.predict_pixels(batch.pixels)
                answers = self.details(batch.pixels, answers) if details else answers
                total = (time.perf_counter() - chunk_start) * 1000 / len(batch.ok)
                for i, answer in zip(batch.ok, answers):
                    predictions[batch.names[i]] = Prediction(
                        answer.categories, answer.inference_ms, total, answer.familiarity, answer.applies
                    )
            chunk_start = time.perf_counter()
        return BatchPrediction(predictions, tuple(problems), time.perf_counter() - started)

    def probabilities(
        self, paths: Sequence[str | Path], *, batch_size: int = 32
    ) -> tuple[dict[str, np.ndarray], list[ImageProblem]]:
        """Per output key, ``(N, K)`` probabilities of image files in input order (what ``predict_paths``
        ranks); rows of files that could not be decoded are NaN and those files are reported."""
        out = {h.key: np.full((len(paths), h.size), np.nan, np.float32) for h in self.heads}
        problems: list[ImageProblem] = []
        first = 0
        for batch in decode_batches(paths, self.image_size, self.limits, batch_size=batch_size):
            problems += batch.problems
            if batch.ok:
                outputs = self.forward(batch.pixels.astype(np.float32))
                for key, value in outputs.items():
                    out[key][[first + i for i in batch.ok]] = value
            first += len(batch.names)
        return out, problems

    def heatmaps(
        self, data: bytes, categories: Iterable[str] | None = None, *, name: str | None = None
    ) -> dict[str, Heatmap]:
        """Grad-CAM heat maps (where the model looked) for the top value of each category asked."""
        from fashion_core.modeling.gradcam import gradcam_heatmaps

        wanted = list(categories) if categories is not None else [h.name for h in self.heads]
        keys = {h.name: h.key for h in self.heads}
        unknown = [c for c in wanted if c not in keys]
        if unknown:
            raise ModelError(f"Categories {unknown} are not outputs of this model; known: {list(keys)}")
        pixels = photo_pixels(data, self.image_size, limits=self.limits, name=name)
        maps = gradcam_heatmaps(self.model, pixels, [keys[c] for c in wanted])
        return {c: maps[keys[c]] for c in wanted}

    def _answer(
        self, outputs: dict[str, np.ndarray], row: int, inference_ms: float, total_ms: float
    ) -> Prediction:
        answers = tuple(self._rank(head, outputs[head.key][row]) for head in self.heads)
        return Prediction(answers, inference_ms, total_ms)

    def _rank(self, head: Head, probs: np.ndarray) -> CategoryPrediction:
        values = head.category.values
        temperature = self.calibration.temperature(head.name) if self.calibration else 1.0
        probs = apply_temperature(probs, temperature, head.multi)
        order = np.argsort(-probs, kind="stable")
        ranked = tuple(ValueProb(values[i], float(probs[i])) for i in order)
        if not head.multi:
            return CategoryPrediction(head.name, head.category.kind, ranked)
        tuned = self.thresholds.get(head.name, {})
        # Thresholds were tuned on raw probabilities: moved to the calibrated scale, decisions stay.
        cuts = tuple(calibrated_threshold(tuned.get(v.value, DEFAULT_THRESHOLD), temperature) for v in ranked)
        positives = tuple(v.value for v, cut in zip(ranked, cuts) if v.prob >= cut)
        return CategoryPrediction(head.name, head.category.kind, ranked, positives, bool(tuned), cuts)

