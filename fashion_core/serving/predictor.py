"""Predict every category of a run's model for photos: checked decoding, one forward pass, ranked values.

The model (see ``modeling.model.build_model``) takes float32 RGB pixels in 0..255 at
``(S, S, 3)`` and returns one probability vector per category (softmax for single-choice,
sigmoid for multi-label). A ``Predictor`` loads it once and answers all categories of a
photo in one pass of a traced ``tf.function``. TensorFlow is reached only through
``fashion_core.modeling`` and only when a model is loaded, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fashion_core.download.images import to_rgb
from fashion_core.errors import DownloadError, ImageError, ModelError, UnsafeURLError
from fashion_core.modeling.heads import Head, make_heads
from fashion_core.runs.files import RunDir, RunRecord, get_run, read_json, runs_with_model
from fashion_core.runs.readers import check_thresholds
from fashion_core.runs.readers import read_schema as load_run_schema
from fashion_core.runs.readers import read_thresholds as load_thresholds
from fashion_core.schema import Kind, Schema

ForwardFn = Callable[[np.ndarray], dict[str, np.ndarray]]

if TYPE_CHECKING:
    import keras
    import plotly.graph_objects as go

    from fashion_core.modeling.gradcam import Heatmap
    from fashion_core.store import LabelStore

MB = 1024 * 1024
MAX_IMAGE_BYTES = 10 * MB
MAX_IMAGE_PIXELS = 40_000_000  # header-checked before decoding (decompression bombs)
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")  # PIL names; nothing else reaches a decoder
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
THRESHOLDS_FILE = RunDir.THRESHOLDS  # the evaluation's tuned thresholds: {category: {value: t}}
DEFAULT_THRESHOLD = 0.5
TIE_MARGIN = 0.005  # validation accuracies this close count as equal when picking the default run
DECODE_WORKERS = 2  # PIL decodes outside the GIL; the machine this targets has 2 cores
URL_TIMEOUT_S = 10.0
ENGINES = ("auto", "tflite", "tf")
LITE_CACHE_FILE = RunDir.LITE_CACHE  # in the run folder: the converted model prediction runs


# -- photos ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageLimits:
    """What a photo may be: at most ``max_bytes`` in the file and ``max_pixels`` width x height."""

    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ImageError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def megabytes(n: int) -> str:
    """``12.3 MB`` (1 MB = 2**20 bytes), ``10 MB`` for whole numbers."""
    value = n / MB
    return f"{value:g} MB" if value == int(value) else f"{value:.1f} MB"


def open_photo(data: bytes, *, limits: ImageLimits = ImageLimits(), name: str | None = None) -> Image.Image:
    """Check a photo's bytes and open it (header only: no pixel is decoded yet).

    Raises:
        ImageError: Too large a file, not a JPEG/PNG/WebP, too many pixels, or a broken
            header; the message starts with ``name:`` when a name is given.
    """
    where = f"{name}: " if name else ""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{where}expected the image file's bytes, got {type(data).__name__}")
    if len(data) > limits.max_bytes:
        raise ImageError(f"{where}file too large: {megabytes(len(data))} > {megabytes(limits.max_bytes)}")
    if not data:
        raise ImageError(f"{where}empty file")
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        raise ImageError(f"{where}image has too many pixels") from None
    except UnidentifiedImageError:
        raise ImageError(f"{where}not a JPEG, PNG or WebP image") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt header can raise anything
        raise ImageError(f"{where}broken image ({_short(exc)})") from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageError(
            f"{where}image too large: {width} x {height} pixels > {limits.max_pixels / 1e6:g} megapixels"
        )
    return image


def load_photo(
    data: bytes, *, limits: ImageLimits = ImageLimits(), name: str | None = None, max_side: int | None = None
) -> Image.Image:
    """Decode a checked photo to an upright RGB image (EXIF rotation applied, alpha on white).

    Args:
        data: The file's bytes.
        limits: Size limits (see ``ImageLimits``).
        name: File name for messages.
        max_side: Shrink (JPEGs already while decoding) so neither side exceeds this.

    Raises:
        ImageError: See ``open_photo``; also ``broken image`` when decoding fails.
    """
    image = open_photo(data, limits=limits, name=name)
    try:
        if max_side and image.format == "JPEG":
            image.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale: much faster
        image.load()
        rgb = to_rgb(ImageOps.exif_transpose(image))
        if max_side and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
        return rgb
    except Exception as exc:  # noqa: BLE001 - decoders of untrusted bytes raise many types
        raise ImageError(f"{name + ': ' if name else ''}broken image ({_short(exc)})") from None


def photo_pixels(
    data: bytes, image_size: int, *, limits: ImageLimits = ImageLimits(), name: str | None = None
) -> np.ndarray:
    """A photo as the model sees it: uint8 ``(S, S, 3)``, the whole photo stretched to a square.

    Bilinear resizing with antialiasing, like training's ``tf.image.resize(antialias=True)``;
    JPEGs are first decoded at a reduced DCT scale no smaller than ``S`` (a fast, clean
    downscale), so large photos cost little more than small ones.
    """
    image = open_photo(data, limits=limits, name=name)
    try:
        if image.format == "JPEG":
            image.draft("RGB", (image_size, image_size))
        image.load()
        rgb = to_rgb(ImageOps.exif_transpose(image))
        return np.asarray(rgb.resize((image_size, image_size), Image.Resampling.BILINEAR), dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - decoders of untrusted bytes raise many types
        raise ImageError(f"{name + ': ' if name else ''}broken image ({_short(exc)})") from None


def _short(exc: BaseException, limit: int = 100) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fetch_image_bytes(
    url: str, *, allow_private: bool = False, max_bytes: int = MAX_IMAGE_BYTES, timeout: float = URL_TIMEOUT_S
) -> bytes:
    """Download one photo under the downloader's safety rules (schemes, addresses, size, time-outs).

    Raises:
        UnsafeURLError: A refused scheme, address or malformed URL.
        ImageError: The body is larger than ``max_bytes``.
        DownloadError: Any other failure (HTTP status, time-out, connection error).
    """
    from fashion_core.download.config import DownloadConfig
    from fashion_core.download.fetch import Fetcher
    from fashion_core.download.report import RowFailure, reason_kind

    config = DownloadConfig(
        workers=1,
        per_host_limit=1,
        connect_timeout=min(5.0, timeout),
        read_timeout=timeout,
        total_timeout=2 * timeout,
        retries=1,
        backoff=0.2,
        max_retry_after=2.0,
        max_bytes=max_bytes,
        allow_private=allow_private,
    )
    url = str(url).strip()
    try:
        with Fetcher(config) as fetcher:
            return fetcher.fetch(url).body
    except RowFailure as exc:
        kind = reason_kind(exc.reason)
        if kind in ("refused address", "bad scheme", "bad URL"):
            raise UnsafeURLError(f"{url}: {exc.reason}") from None
        if kind == "too large":
            size = f"{megabytes(exc.nbytes)} > " if exc.nbytes else "more than "
            raise ImageError(f"{url}: file too large: {size}{megabytes(max_bytes)}") from None
        raise DownloadError(f"could not fetch {url}: {exc.reason}") from None


# -- answers -----------------------------------------------------------------------------------


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

    def __getitem__(self, category: str) -> CategoryPrediction:
        for answer in self.categories:
            if answer.category == category:
                return answer
        raise KeyError(category)

    def to_dict(self, top: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """``{CATEGORY: [{"value": V, "prob": P}, ...]}``, values sorted by probability."""
        return {c.category: c.ranked(top) for c in self.categories}


@dataclass(frozen=True)
class ImageProblem:
    """A photo of a batch that could not be predicted, and why (reported, never dropped)."""

    path: str
    reason: str


@dataclass(frozen=True)
class BatchPrediction:
    """Answers for many photos (by path, in input order) and the photos that failed."""

    predictions: dict[str, Prediction]
    problems: tuple[ImageProblem, ...] = ()
    seconds: float = 0.0

    def to_dict(self, top: int | None = None) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """``{IMAGE: {CATEGORY: [{"value": V, "prob": P}, ...]}}`` (the CLI's ``--json``)."""
        return {path: p.to_dict(top) for path, p in self.predictions.items()}


# -- the predictor -----------------------------------------------------------------------------


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
                self.engine_note = f"TFLite unavailable ({_short(exc)}); running in TensorFlow"
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

    def predict_bytes(self, data: bytes, *, name: str | None = None) -> Prediction:
        """Predict one photo from its file's bytes (JPEG, PNG or WebP).

        Raises:
            ImageError: The photo fails the checks (format, size, pixels) or cannot be decoded.
        """
        started = time.perf_counter()
        pixels = photo_pixels(data, self.image_size, limits=self.limits, name=name)
        forward_start = time.perf_counter()
        outputs = self.forward(pixels[np.newaxis].astype(np.float32))
        done = time.perf_counter()
        return self._answer(outputs, 0, (done - forward_start) * 1000, (done - started) * 1000)

    def predict_url(self, url: str, *, allow_private: bool = False) -> Prediction:
        """Fetch a photo under the downloader's safety rules and predict it (see ``fetch_image_bytes``)."""
        data = fetch_image_bytes(url, allow_private=allow_private, max_bytes=self.limits.max_bytes)
        return self.predict_bytes(data, name=url)

    def predict_paths(self, paths: Sequence[str | Path], *, batch_size: int = 32) -> BatchPrediction:
        """Predict image files in batches (decoding in threads); bad files are reported, not raised."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ImageError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        started = time.perf_counter()
        predictions: dict[str, Prediction] = {}
        problems: list[ImageProblem] = []
        names = [str(p) for p in paths]
        with ThreadPoolExecutor(max_workers=DECODE_WORKERS) as pool:
            for first in range(0, len(names), batch_size):
                chunk_start = time.perf_counter()
                chunk = names[first : first + batch_size]
                decoded = list(pool.map(self._read_path, chunk))
                good = [(n, px) for n, px in zip(chunk, decoded) if not isinstance(px, ImageProblem)]
                problems += [px for px in decoded if isinstance(px, ImageProblem)]
                if good:
                    answers = self.predict_pixels(np.stack([px for _, px in good]))
                    total = (time.perf_counter() - chunk_start) * 1000 / len(good)
                    for (n, _), answer in zip(good, answers):
                        predictions[n] = Prediction(answer.categories, answer.inference_ms, total)
        return BatchPrediction(predictions, tuple(problems), time.perf_counter() - started)

    def _read_path(self, path: str) -> np.ndarray | ImageProblem:
        try:
            size = Path(path).stat().st_size
            if size > self.limits.max_bytes:
                return ImageProblem(
                    path, f"file too large: {megabytes(size)} > {megabytes(self.limits.max_bytes)}"
                )
            return photo_pixels(Path(path).read_bytes(), self.image_size, limits=self.limits)
        except ImageError as exc:
            return ImageProblem(path, str(exc))
        except OSError as exc:
            return ImageProblem(path, f"cannot read the file ({exc.strerror or exc})")

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
        order = np.argsort(-probs, kind="stable")
        ranked = tuple(ValueProb(values[i], float(probs[i])) for i in order)
        if not head.multi:
            return CategoryPrediction(head.name, head.category.kind, ranked)
        tuned = self.thresholds.get(head.name, {})
        cuts = tuple(tuned.get(v.value, DEFAULT_THRESHOLD) for v in ranked)
        positives = tuple(v.value for v, cut in zip(ranked, cuts) if v.prob >= cut)
        return CategoryPrediction(head.name, head.category.kind, ranked, positives, bool(tuned), cuts)


# -- runs, thresholds, inputs ------------------------------------------------------------------


def finished_runs(store: LabelStore, dataset: str | None = None) -> list[RunRecord]:
    """Runs with a model (``runs.files.has_model``: done or cancelled), newest first (optionally of one dataset)."""
    return runs_with_model(store, dataset)


def validation_score(run: RunRecord) -> float | None:
    """The validation figure the run's best checkpoint was chosen by (mean accuracy over heads)."""
    metrics = run.metrics or {}
    score = metrics.get(metrics.get("monitor") or "val_mean_accuracy")
    return float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None


def default_run(store: LabelStore, dataset: str | None = None) -> RunRecord | None:
    """The run to predict with by default: the newest of the best finished runs.

    "Best" is the highest validation mean accuracy (the figure the run's checkpoint was
    chosen by); runs within ``TIE_MARGIN`` (half a percentage point) of the best count as
    equally good, since such gaps are validation noise, and of those the newest wins (it
    has seen the latest labels). Runs without a recorded accuracy rank below all others.
    Returns None when no run finished with a model.
    """
    runs = finished_runs(store, dataset)
    if not runs:
        return None
    scores = [validation_score(r) for r in runs]
    best = max((s for s in scores if s is not None), default=None)
    if best is None:
        return runs[0]
    return next(r for r, s in zip(runs, scores) if s is not None and s >= best - TIE_MARGIN)


def collect_image_paths(inputs: Iterable[str | Path]) -> tuple[list[str], list[ImageProblem]]:
    """Files as given and image files found (recursively, sorted) in folders; missing ones reported."""
    paths: list[str] = []
    problems: list[ImageProblem] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(ImageProblem(str(item), "folder holds no JPEG, PNG or WebP image"))
            paths += [str(p) for p in found]
        elif path.is_file():
            paths.append(str(item))
        else:
            problems.append(ImageProblem(str(item), "no such file or folder"))
    return list(dict.fromkeys(paths)), problems


def probability_figure(answer: CategoryPrediction, *, top: int | None = 5) -> go.Figure:
    """Horizontal bars of a category's most probable values (best on top), probabilities 0..1.

    Predicted values are dark (the top one; for multi-label, those at or above their
    threshold, which is marked by a tick on each bar).
    """
    import plotly.graph_objects as go

    shown = answer.values if top is None else answer.values[:top]
    picked = set(answer.positives) if answer.kind is Kind.MULTI else {answer.top.value}
    fig = go.Figure(
        go.Bar(
            x=[v.prob for v in shown][::-1],
            y=[v.value for v in shown][::-1],
            orientation="h",
            marker_color=["#4c78a8" if v.value in picked else "#b3c6de" for v in shown][::-1],
            text=[f"{v.prob:.1%}" for v in shown][::-1],
            textposition="auto",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    if answer.thresholds:  # multi-label: a tick at each value's threshold (tuned ones differ per value)
        fig.add_trace(
            go.Scatter(
                x=list(answer.thresholds[: len(shown)])[::-1],
                y=[v.value for v in shown][::-1],
                mode="markers",
                marker={"symbol": "line-ns-open", "size": 22, "color": "#333333", "line": {"width": 2}},
                name="threshold",
                hovertemplate="threshold %{x:.2f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=answer.category,
        xaxis={"range": [0, 1], "tickformat": ".0%"},
        showlegend=False,
        height=70 + 28 * len(shown),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig
