"""Predict every category of a run's model for photos: one forward pass, ranked values.

The model (see ``modeling.model.build_model``) takes float32 RGB pixels in 0..255 at
``(S, S, 3)`` and returns one probability vector per category (softmax for single-choice,
sigmoid for multi-label). A ``Predictor`` loads it once and answers all categories of a
photo in one pass. Photos are decoded by ``imaging.decode`` (the decoder training uses).

A run's serving model (``serving.tflite``, written when the run finished) runs in LiteRT
(``modeling.lite``): answering photos imports no TensorFlow. A run without one (older runs) gets
it converted on first use (TensorFlow), or is answered by TensorFlow if that fails. Grad-CAM
loads the Keras model (and TensorFlow) when first asked.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fashion_core.errors import ImageError, ModelError
from fashion_core.imaging.decode import ImageLimits, photo_pixels, short_reason
from fashion_core.modeling.heads import Head, make_heads
from fashion_core.modeling.lite import FEATURES, LiteForward
from fashion_core.modeling.lite_heads import HeadsForward
from fashion_core.runs.files import RunDir, get_run, read_json, verified_serving_path
from fashion_core.runs.readers import check_thresholds
from fashion_core.runs.readers import read_schema as load_run_schema
from fashion_core.runs.readers import read_thresholds as load_thresholds
from fashion_core.schema import Schema
from fashion_core.serving.answers import BatchPrediction, CategoryPrediction, Prediction, ValueProb
from fashion_core.serving.calibration import (
    Calibration,
    calibrated_threshold,
    read_calibration,
)
from fashion_core.serving.photos import ImageProblem, decode_batches, fetch_image_bytes

ForwardFn = Callable[[np.ndarray], dict[str, np.ndarray]]

if TYPE_CHECKING:
    import keras

    from fashion_core.modeling.gradcam import Heatmap
    from fashion_core.store import LabelStore

__all__ = ["BatchPrediction", "CategoryPrediction", "Prediction", "Predictor", "ValueProb", "load_thresholds"]

THRESHOLDS_FILE = RunDir.THRESHOLDS  # the evaluation's tuned thresholds: {category: {value: t}}
DEFAULT_THRESHOLD = 0.5


class ForwardPass(NamedTuple):
    """One forward pass's raw outputs: per-output probabilities, the backbone's features (or None),
    milliseconds per photo and the number of rows."""

    outputs: dict[str, np.ndarray]
    features: np.ndarray | None
    ms: float
    rows: int


# auto: the run's serving model (converted now if an older run lacks it), else TensorFlow;
# int8: the run's INT8 serving model (see ``quantize``); tflite: converted in memory; tf: TensorFlow.
ENGINES = ("auto", "int8", "tflite", "tf")
LITE_CACHE_FILE = RunDir.SERVING  # in the run folder: the serving model prediction runs


class Predictor:
    """A loaded multi-head model that answers every category of a photo in one forward pass.

    Build it once per process (``Predictor.from_run``) and reuse it: loading takes a fraction of
    a second from a run's serving model (seconds with TensorFlow), a prediction milliseconds.
    Safe to share between threads.

    Args:
        model: A studio Keras model (raw 0..255 pixels in, dict of per-category probabilities out),
            or None when ``lite`` answers (then ``load_model`` gives it to Grad-CAM on demand).
        schema: The categories and values of its outputs (the run's ``schema.json``).
        thresholds: Multi-label thresholds ``{category: {value: t}}``; missing ones are 0.5.
        run_id: The run the model comes from, if any (for display).
        limits: Size limits for photos.
        engine: With a Keras model: ``auto``/``tflite`` (converted in memory, checked; ``auto`` falls
            back to TensorFlow) or ``tf``.
        lite_cache: A file to keep the in-memory conversion in (a Keras model only).
        lite: A serving model's forward pass (``modeling.lite``): no TensorFlow is needed.
        load_model: Loads the Keras model when Grad-CAM (or a model without features) needs it.
    """

    def __init__(
        self,
        model: keras.Model | None,
        schema: Schema,
        *,
        thresholds: Mapping[str, Mapping[str, float]] | None = None,
        run_id: str | None = None,
        limits: ImageLimits = ImageLimits(),
        engine: str = "auto",
        lite_cache: Path | None = None,
        lite: LiteForward | HeadsForward | None = None,
        load_model: Callable[[], keras.Model] | None = None,
    ) -> None:
        if engine not in ENGINES:
            raise ModelError(f"`engine` must be one of {ENGINES}. Received: engine={engine!r}")
        if model is None and lite is None:
            raise ModelError("A Predictor needs a Keras model or a serving model")
        self._model, self._load_model = model, load_model
        self.schema = schema
        self.run_id = run_id
        self.run_dir: RunDir | None = None  # set by from_run: where the run's thresholds live
        self.limits = limits
        self.heads: tuple[Head, ...] = make_heads(schema.categories)
        self.thresholds = check_thresholds(thresholds or {}, schema, source="thresholds")
        self.engine_note = ""
        self.calibration: Calibration | None = None  # set by from_run when the run was calibrated
        self._features: Callable[[np.ndarray], np.ndarray] | None = None  # Keras features, built on first use
        if lite is not None:
            self.image_size = lite.image_size
            self._forward, self.engine = lite, ("tflite-int8" if lite.quantized else "tflite")
        else:
            from fashion_core.modeling.export import input_size

            self.image_size = input_size(model)
            self._forward, self.engine = self._make_forward(engine, lite_cache)
        self._check_outputs()

    @property
    def model(self) -> keras.Model:
        """The Keras model (loaded with TensorFlow on first use when a serving model answers)."""
        if self._model is None:
            if self._load_model is None:
                raise ModelError("This predictor has no Keras model to load (Grad-CAM needs it)")
            self._model = self._load_model()
        return self._model

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
        """Load a finished run's model (only if the recorded SHA-256 of every file it answers with match),
        schema, thresholds and calibration.

        ``auto``: the run's serving model in LiteRT, without TensorFlow; an older run without one
        gets it written now (once), else TensorFlow answers. ``int8``: the run's INT8 serving
        model (``python -m fashion_core quantize``). ``tf``: the Keras model in TensorFlow.

        Raises:
            JobError: Unknown run.
            ModelError: No trusted model, no INT8 model when asked, or files that disagree.
        """
        if engine not in ENGINES:
            raise ModelError(f"`engine` must be one of {ENGINES}. Received: engine={engine!r}")
        run_dir = RunDir(get_run(store, run_id).run_dir)
        schema = load_run_schema(run_dir)
        thresholds = load_thresholds(run_dir, schema)
        lite, note = None, ""
        if engine in ("auto", "int8"):
            lite, note = _serving_forward(store, run_id, int8=engine == "int8")

        def load_model() -> keras.Model:
            from fashion_core.modeling.training import load_run_model

            return load_run_model(store, run_id)

        predictor = cls(None if lite else load_model(), schema, thresholds=thresholds, run_id=run_id,
                        limits=limits, engine=engine if engine in ("tflite", "tf") else "tf", lite=lite,
                        load_model=load_model)
        predictor.engine_note = predictor.engine_note or note
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
        """Run the forward pass now (the first photo need not wait) and check the outputs fit."""
        outputs = self.forward(np.zeros((1, self.image_size, self.image_size, 3), np.float32))
        expected = {h.key: h.size for h in self.heads}
        got = {k: int(v.shape[-1]) for k, v in outputs.items()}
        if got != expected:
            raise ModelError(f"The model's outputs {got} do not match its schema's categories {expected}")

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The bare forward pass: float32 ``(N, S, S, 3)`` pixels to per-output probabilities (no checks)."""
        return {k: v for k, v in self._forward(batch).items() if k != FEATURES}

    def forward_with_features(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Probabilities and the backbone's features, in one forward pass when the serving model gives both."""
        outputs = dict(self._forward(batch))
        features = outputs.pop(FEATURES, None)
        return outputs, (np.asarray(features, np.float32) if features is not None else self.features(batch))

    def features(self, batch: np.ndarray) -> np.ndarray:
        """The backbone's features of float32 ``(N, S, S, 3)`` pixels (what familiarity compares)."""
        if self._features is None:
            if FEATURES in getattr(self._forward, "output_names", ()):
                self._features = lambda x: np.asarray(self._forward(x)[FEATURES], np.float32)
            else:
                from fashion_core.modeling.features import feature_function

                self._features = feature_function(self.model)
        return self._features(batch)

    def details(self, pixels: np.ndarray, predictions: Sequence[Prediction],
                features: np.ndarray | None = None) -> list[Prediction]:
        """The predictions with familiarity and applies added (unchanged if the run is not calibrated)."""
        if self.calibration is None or not len(predictions):
            return list(predictions)
        feats = features if features is not None else self.features(np.asarray(pixels, np.float32))
        scores = self.calibration.familiarity(feats, np.asarray(pixels))
        applies = self.calibration.applies_probs(feats)
        return [p.with_details(f, a) for p, f, a in zip(predictions, scores, applies)]

    # -- predicting --------------------------------------------------------------------------

    def predict_pixels(self, pixels: np.ndarray, *, details: bool = False) -> list[Prediction]:
        """Predict a batch of ready pixels, ``(N, S, S, 3)`` in 0..255 (uint8 or float), in one forward pass."""
        rows = self.answer_rows(pixels)
        answers = [answer for answer, _ in rows]
        if not details or not rows:
            return answers
        features = None if rows[0][1] is None else np.stack([f for _, f in rows])
        return self.details(np.asarray(pixels), answers, features)

    def answer_rows(self, pixels: np.ndarray) -> list[tuple[Prediction, np.ndarray | None]]:
        """One forward pass over ``(N, S, S, 3)`` pixels: each row's ranked answer and its backbone
        features (None if the model does not give them), for ``details`` later."""
        return self.rows_of(self.forward_pass(pixels))

    def forward_pass(self, pixels: np.ndarray) -> ForwardPass:
        """The forward pass alone (the API's serial stage: ranking and details follow in another thread)."""
        batch = np.asarray(pixels)
        if batch.ndim != 4 or batch.shape[1:] != (self.image_size, self.image_size, 3):
            raise ImageError(
                f"Expected pixels of shape (N, {self.image_size}, {self.image_size}, 3); got {batch.shape}"
            )
        started = time.perf_counter()
        outputs = dict(self._forward(batch.astype(np.float32, copy=False)))
        features = outputs.pop(FEATURES, None)
        return ForwardPass(outputs, features, (time.perf_counter() - started) * 1000 / max(len(batch), 1), len(batch))

    def rows_of(self, done: ForwardPass) -> list[tuple[Prediction, np.ndarray | None]]:
        """Each row's ranked answer (with this predictor's thresholds) and features, from a forward pass."""
        features = done.features
        return [(self._answer(done.outputs, i, done.ms, done.ms),
                 None if features is None else np.asarray(features[i], np.float32)) for i in range(done.rows)]

    def predict_bytes(self, data: bytes, *, name: str | None = None, details: bool = False) -> Prediction:
        """Predict one photo from its file's bytes (JPEG, PNG or WebP).

        Raises:
            ImageError: The photo fails the checks (format, size, pixels) or cannot be decoded.
        """
        started = time.perf_counter()
        pixels = photo_pixels(data, self.image_size, limits=self.limits, name=name)
        answer = self.predict_pixels(pixels[np.newaxis], details=details)[0]
        total = (time.perf_counter() - started) * 1000
        return Prediction(answer.categories, answer.inference_ms, total, answer.familiarity, answer.applies)

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
                answers = self.predict_pixels(batch.pixels, details=details)
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
        if self.calibration is not None:
            probs = self.calibration.calibrated(probs, head.name, head.multi)
        order = np.argsort(-probs, kind="stable")
        ranked = tuple(ValueProb(values[i], float(probs[i])) for i in order)
        if not head.multi:
            return CategoryPrediction(head.name, head.category.kind, ranked)
        tuned = self.thresholds.get(head.name, {})
        # Thresholds were tuned on raw probabilities: moved to the calibrated scale, decisions stay.
        scaling = (self.calibration.temperature(head.name), self.calibration.noise(head.name)) if self.calibration else (1.0, 0.0)
        cuts = tuple(calibrated_threshold(tuned.get(v.value, DEFAULT_THRESHOLD), *scaling) for v in ranked)
        positives = tuple(v.value for v, cut in zip(ranked, cuts) if v.prob >= cut)
        return CategoryPrediction(head.name, head.category.kind, ranked, positives, bool(tuned), cuts)



def _serving_forward(store: LabelStore, run_id: str, *, int8: bool) -> tuple[LiteForward | HeadsForward | None, str]:
    """The run's (INT8) serving model, and a note when TensorFlow must answer instead.

    Raises:
        ModelError: ``int8`` and the run has no INT8 serving model; or a recorded file changed.
    """
    name = RunDir.SERVING_INT8 if int8 else RunDir.SERVING
    path = verified_serving_path(store, run_id, name)
    if path is None and int8:
        raise ModelError(f"Run {run_id} has no INT8 serving model; write it (and see its accuracy) with"
                         f" `python -m fashion_core quantize --run {run_id}`.")
    if path is None:  # a run from before serving models: write it now, once (TensorFlow converts)
        from fashion_core.modeling.serving_model import write_serving_model
        from fashion_core.modeling.training import load_run_model

        try:
            write_serving_model(store, run_id, load_run_model(store, run_id))
        except (ModelError, OSError) as exc:
            return None, f"TFLite unavailable ({short_reason(exc)}); running in TensorFlow"
        path = verified_serving_path(store, run_id, name)
    if path is None:
        return None, ""
    heads = None if int8 else verified_serving_path(store, run_id, RunDir.SERVING_HEADS)
    return (HeadsForward.from_files(path, heads) if heads is not None else LiteForward.from_file(path)), ""
