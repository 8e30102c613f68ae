"""Write a run's serving model: the Keras model converted to TFLite once, when the run finishes.

``serving.tflite`` answers every category and gives the backbone's features (``lite.FEATURES``) in
one forward pass, so prediction, the API, familiarity and applies need no TensorFlow. It is
checked against the Keras model on validation images before it is kept, and its SHA-256 joins
the run's recorded hashes (``runs.files.record_run_files``). A quick run (heads on a frozen
pretrained backbone) writes its backbone, converted once per backbone weights and size and kept in
the workspace, as ``serving.tflite`` and its heads as ``serving-heads.npz`` (``modeling.lite_heads``).
``serving-int8.tflite`` is the whole model after post-training INT8 quantization, calibrated on
training images (written on request: ``analysis.quantize`` measures what it costs in accuracy).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fashion_core.errors import ImageError, ModelError
from fashion_core.imaging.decode import DATASET_LIMITS, file_pixels
from fashion_core.modeling.backbones import BACKBONE_LAYER, weights_fingerprint
from fashion_core.modeling.lite import FEATURES, INPUT_NAME, SIGNATURE, LiteForward
from fashion_core.modeling.lite_heads import DenseHead, HeadsForward, write_heads
from fashion_core.runs.files import RunDir, get_run, read_json, record_run_files, write_json_atomic
from fashion_core.store import LabelStore, utc_now

CHECK_IMAGES = 8  # validation images the converted model must answer like the Keras model
REPRESENTATIVE_IMAGES = 100  # training images that calibrate INT8 quantization
PROB_TOLERANCE = 1e-4  # largest difference in probability accepted (float model)
FEATURE_TOLERANCE = 1e-3  # largest difference in features, relative to their largest magnitude
INFO_FORMAT = 1
_PROBE_SEED = 7


def input_size(model: keras.Model) -> int:
    """The square input side of a studio model (``(None, S, S, 3)`` input).

    Raises:
        ModelError: The model does not take square RGB images.
    """
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or not shape[1]:
        raise ModelError(f"Expected a model taking (batch, S, S, 3) RGB images; its input is {shape}")
    return int(shape[1])


def input_spec(model: keras.Model) -> tf.TensorSpec:
    size = input_size(model)
    return tf.TensorSpec((None, size, size, 3), tf.float32, name=INPUT_NAME)


def _backbone_features(model: keras.Model) -> Any:
    try:
        return model.get_layer(BACKBONE_LAYER)._inbound_nodes[0].output_tensors[0]  # its call inside this model
    except (ValueError, AttributeError, IndexError, TypeError) as exc:
        raise ModelError(f"The model has no backbone layer {BACKBONE_LAYER!r} to take features from: {exc}") from exc


def serving_keras_model(model: keras.Model) -> keras.Model:
    """The studio model with its backbone's features as one more output (``FEATURES``), same graph."""
    outputs = {**model.output, FEATURES: _backbone_features(model)}
    return keras.Model(model.inputs[0], outputs, name=f"{model.name}_serving")


def features_keras_model(model: keras.Model) -> keras.Model:
    """The studio model up to its backbone's features (``FEATURES`` only): the shared part of quick runs."""
    return keras.Model(model.inputs[0], {FEATURES: _backbone_features(model)}, name=f"{model.name}_features")


def serving_blob(model: keras.Model, *, representative: np.ndarray | None = None,
                 features_only: bool = False) -> bytes:
    """``serving_keras_model(model)`` (or ``features_keras_model`` with ``features_only``) as a TFLite
    flatbuffer; INT8-quantized when ``representative`` pixels (float32 ``(N, S, S, 3)``, 0..255) are
    given (inputs and outputs stay float32).

    Raises:
        ModelError: The conversion fails.
    """
    serving = features_keras_model(model) if features_only else serving_keras_model(model)
    with tempfile.TemporaryDirectory(prefix="fashion-serving-") as tmp:
        staged = Path(tmp) / "saved_model"
        archive = keras.export.ExportArchive()
        archive.track(serving)
        archive.add_endpoint("serve", lambda images: serving(images, training=False),
                             input_signature=[input_spec(model)])
        archive.write_out(str(staged), verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(staged), signature_keys=[SIGNATURE])
        if representative is not None:
            rows = np.asarray(representative, np.float32)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([rows[i : i + 1]] for i in range(len(rows)))
        try:
            return converter.convert()
        except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and plain errors alike
            raise ModelError(f"TFLite conversion failed: {exc}") from exc


def dense_heads(model: keras.Model) -> dict[str, DenseHead]:
    """Each output's Dense layer (kernel, bias, sigmoid or softmax), read from a studio model.

    Raises:
        ModelError: An output is not a softmax or sigmoid Dense layer (then the whole model is converted).
    """
    heads = {}
    for key in model.output:
        layer = model.get_layer(key)
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        if not isinstance(layer, keras.layers.Dense) or activation not in ("softmax", "sigmoid"):
            raise ModelError(f"Output {key!r} is not a softmax or sigmoid Dense layer")
        kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
        heads[key] = DenseHead(kernel, bias, activation == "sigmoid")
    return heads


def _shared_backbone(model: keras.Model, cache: Path, pixels: np.ndarray) -> tuple[bytes, HeadsForward, dict]:
    """The backbone's TFLite blob from ``cache`` (converted and kept there on the first use, or when a
    kept one does not answer like this model), the two-part forward pass, and its check (with
    ``parts`` saying whether the kept backbone was reused)."""
    backbone = model.get_layer(BACKBONE_LAYER)
    path = cache / f"{backbone.name}-{input_size(model)}-{weights_fingerprint(backbone)[:24]}.tflite"
    heads = dense_heads(model)
    if path.is_file():
        try:
            blob = path.read_bytes()
            forward = HeadsForward(LiteForward(blob), heads)
            check = compare(model, forward, pixels)
            if _within_tolerance(check):
                return blob, forward, {**check, "parts": "shared backbone (reused) + heads"}
        except (ModelError, OSError):
            pass  # damaged or not this backbone after all: convert again
    blob = serving_blob(model, features_only=True)
    forward = HeadsForward(LiteForward(blob), heads)
    check = compare(model, forward, pixels)
    if _within_tolerance(check):
        try:
            cache.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, blob)
        except OSError:
            pass  # a read-only workspace: convert again next time
    return blob, forward, {**check, "parts": "shared backbone (converted) + heads"}


def _within_tolerance(check: dict[str, float]) -> bool:
    return check["max_prob_diff"] <= PROB_TOLERANCE and check["max_feature_diff"] <= FEATURE_TOLERANCE


def run_image_paths(store: LabelStore, run_id: str, subset: str, limit: int) -> list[Path]:
    """Up to ``limit`` image files of the run's ``train`` or ``val`` subset (split.csv), a seeded sample."""
    run = get_run(store, run_id)
    run_dir = RunDir(run.run_dir)
    if not run_dir.split.exists() or run.dataset is None:
        return []
    split = pd.read_csv(run_dir.split)
    paths = split.loc[split["subset"] == subset, "path"].astype(str).tolist()
    if len(paths) > limit:
        keep = np.sort(np.random.default_rng(0).choice(len(paths), limit, replace=False))
        paths = [paths[i] for i in keep]
    root = Path(store.dataset(run.dataset).images_root)
    return [root / p for p in paths]


def read_pixels(paths: list[Path], image_size: int) -> np.ndarray:
    """The files' pixels as the model sees them (the one decoder); unreadable files are left out."""
    rows = []
    for path in paths:
        try:
            rows.append(file_pixels(str(path), image_size, limits=DATASET_LIMITS))
        except ImageError:
            continue
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, image_size, image_size, 3), np.float32)


def compare(model: keras.Model, forward: Any, pixels: np.ndarray) -> dict[str, float]:
    """Largest differences between the Keras model (and its features) and a converted forward pass."""
    expected = {k: np.asarray(v) for k, v in serving_keras_model(model)(pixels, training=False).items()}
    got = forward(pixels)
    if set(got) != set(expected):
        raise ModelError(f"The converted model's outputs {sorted(got)} differ from the model's {sorted(expected)}")
    probs, feats = 0.0, 0.0
    for name, want in expected.items():
        if np.shape(got[name]) != want.shape:
            raise ModelError(f"Output {name!r}: shape {np.shape(got[name])}, expected {want.shape}")
        diff = float(np.max(np.abs(np.asarray(got[name]) - want))) if want.size else 0.0
        if name == FEATURES:
            feats = diff / max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
        else:
            probs = max(probs, diff)
    return {"images": int(len(pixels)), "max_prob_diff": probs, "max_feature_diff": round(feats, 8)}


def check_pixels(store: LabelStore, run_id: str, image_size: int) -> np.ndarray:
    """Validation images of the run plus one seeded random photo (a run without a split still gets one)."""
    probe = np.random.default_rng(_PROBE_SEED).uniform(0, 255, (1, image_size, image_size, 3)).astype(np.float32)
    val = read_pixels(run_image_paths(store, run_id, "val", CHECK_IMAGES), image_size)
    return np.concatenate([val, probe])


def write_serving_model(store: LabelStore, run_id: str, model: keras.Model, *,
                        backbone_cache: Path | None = None) -> dict[str, Any]:
    """Convert the run's model, check it on validation images, save it as ``serving.tflite`` and record it.

    Args:
        store: The label store.
        run_id: The run.
        model: Its model (the best checkpoint).
        backbone_cache: For a quick run (frozen pretrained backbone): the folder that keeps converted
            backbones; the run then writes the shared backbone and its own heads (``lite_heads``).

    Returns:
        The check: images compared and the largest differences (also kept in ``serving.json``).

    Raises:
        ModelError: The conversion fails, or its answers differ from the model's.
    """
    run_dir = RunDir(get_run(store, run_id).run_dir)
    size = input_size(model)
    pixels = check_pixels(store, run_id, size)
    heads = None
    if backbone_cache is not None:
        try:
            blob, forward, check = _shared_backbone(model, backbone_cache, pixels)
            heads = forward.heads
        except ModelError:
            backbone_cache = None  # not plain Dense heads, or the backbone will not convert alone
    if backbone_cache is None:
        blob = serving_blob(model)
        check = {**compare(model, LiteForward(blob), pixels), "parts": "whole model"}
    if not _within_tolerance(check):
        raise ModelError(f"The converted model of run {run_id} differs from the Keras model ({check});"
                         " predictions will use TensorFlow.")
    write_bytes_atomic(run_dir.serving, blob)
    if heads is not None:
        write_heads(run_dir.serving_heads, heads)
    else:
        run_dir.serving_heads.unlink(missing_ok=True)  # a whole model now: no heads of an earlier write
    _update_info(run_dir, float={"created_at": utc_now(), "image_size": size, "check": check})
    record_run_files(store, run_id, serving=True)
    return check


def write_int8_model(store: LabelStore, run_id: str, model: keras.Model) -> dict[str, Any]:
    """Quantize the run's model to INT8 (calibrated on up to ``REPRESENTATIVE_IMAGES`` training images),
    save it as ``serving-int8.tflite`` and record it; return how far it moved from the Keras model.

    Raises:
        ModelError: No readable training image, or the conversion fails.
    """
    run_dir = RunDir(get_run(store, run_id).run_dir)
    size = input_size(model)
    representative = read_pixels(run_image_paths(store, run_id, "train", REPRESENTATIVE_IMAGES), size)
    if not len(representative):
        raise ModelError(f"Run {run_id} has no readable training image to calibrate INT8 quantization on.")
    blob = serving_blob(model, representative=representative)
    check = compare(model, LiteForward(blob), check_pixels(store, run_id, size))
    write_bytes_atomic(run_dir.serving_int8, blob)
    _update_info(run_dir, int8={"created_at": utc_now(), "representative_images": int(len(representative)),
                                "check": check})
    record_run_files(store, run_id, serving=True)
    return check


def _update_info(run_dir: RunDir, **parts: Any) -> None:
    info = read_json(run_dir.serving_info, default={}) or {}
    info.update(parts, format=INFO_FORMAT)
    write_json_atomic(run_dir.serving_info, info)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
