"""A run's model for use outside the studio: the serving functions (TF, TFLite), SavedModel and TFLite files.

The TFLite files run in LiteRT (``modeling.lite``), not TensorFlow's deprecated ``tf.lite.Interpreter``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from fashion_core.errors import ModelError
from fashion_core.modeling.heads import make_heads
from fashion_core.modeling.lite import INPUT_NAME, LITE_THREADS, SIGNATURE, LiteForward  # noqa: F401 - re-exported
from fashion_core.modeling.serving_model import input_size, input_spec, write_bytes_atomic
from fashion_core.runs.files import RunDir, get_run
from fashion_core.runs.readers import read_schema, read_thresholds
from fashion_core.store import LabelStore

SCHEMA_FILE = "schema.json"
EXPORT_FORMAT = "fashion-attribute-studio/1"
LITE_TOLERANCE = 1e-4  # largest difference from the Keras model's probabilities accepted on load
_PROBE_SEED = 7


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the model artifact and the schema file beside it."""

    run_id: str
    model_path: Path
    schema_path: Path
    image_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "model": str(self.model_path),
            "schema": str(self.schema_path),
            "image_size": self.image_size,
        }


def serving_function(model: keras.Model, *, jit_compile: bool = False) -> Any:
    """The model's inference pass as one traced ``tf.function`` with a fixed input signature.

    Input: float32 ``(batch, S, S, 3)`` RGB pixels in 0..255; output: the model's dict of
    per-category probabilities. Traced once: unlike ``model.predict`` (which builds a data
    pipeline per call), a call costs little more than the arithmetic, so one photo is fast.
    """
    return tf.function(
        _inference(model), input_signature=[input_spec(model)], jit_compile=jit_compile, autograph=False
    )


def _inference(model: keras.Model) -> Any:
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return model(images, training=False)

    return serve


def tflite_blob(model: keras.Model) -> bytes:
    """The model converted to a float32 TFLite flatbuffer (via a temporary SavedModel).

    Raises:
        ModelError: The conversion fails.
    """
    with tempfile.TemporaryDirectory(prefix="fashion-tflite-") as tmp:
        staged = Path(tmp) / "saved_model"
        _write_saved_model(model, staged)
        return _convert_to_tflite(staged)


def lite_forward(
    model: keras.Model, *, cache: Path | None = None, threads: int = LITE_THREADS
) -> LiteForward:
    """A checked TFLite forward pass of a Keras model, converted once and kept in ``cache``.

    A cached file is used only if it answers a probe photo like the Keras model (within
    ``LITE_TOLERANCE``); otherwise (stale, damaged or absent) the model is converted again
    (a few seconds) and the cache rewritten. A cache that cannot be written is not an error.

    Raises:
        ModelError: The conversion fails or its outputs differ from the Keras model's.
    """
    if cache is not None and cache.is_file():
        try:
            forward = LiteForward(cache.read_bytes(), threads=threads)
            check_forward(model, forward)
            return forward
        except (ModelError, OSError):
            pass  # convert again below
    blob = tflite_blob(model)
    forward = LiteForward(blob, threads=threads)
    check_forward(model, forward)
    if cache is not None:
        try:
            write_bytes_atomic(cache, blob)
        except OSError:
            pass  # a read-only run folder: convert again next time
    return forward


def check_forward(model: keras.Model, forward: Any, *, tolerance: float = LITE_TOLERANCE) -> float:
    """Compare a forward pass with the Keras model on a seeded random photo; return the largest difference.

    Raises:
        ModelError: Different outputs, shapes or a difference above ``tolerance``.
    """
    size = input_size(model)
    probe = np.random.default_rng(_PROBE_SEED).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    expected = {k: np.asarray(v) for k, v in model(probe, training=False).items()}
    got = forward(probe)
    if set(got) != set(expected):
        raise ModelError(
            f"The converted model's outputs {sorted(got)} differ from the model's {sorted(expected)}"
        )
    worst = 0.0
    for name, probs in expected.items():
        if np.shape(got[name]) != probs.shape:
            raise ModelError(f"Output {name!r}: shape {np.shape(got[name])}, expected {probs.shape}")
        worst = max(worst, float(np.max(np.abs(np.asarray(got[name]) - probs))))
    if not worst <= tolerance:
        raise ModelError(f"The converted model differs from the Keras model by {worst:.2g} (> {tolerance:g})")
    return worst


def export_schema(store: LabelStore, run_id: str, image_size: int) -> dict[str, Any]:
    """What a consumer of an exported model needs: input format, outputs and their value order."""
    run = get_run(store, run_id)
    run_dir = RunDir(run.run_dir)
    schema = read_schema(run_dir)
    outputs = [
        {
            "name": h.key,
            "category": h.name,
            "kind": h.category.kind.value,
            "activation": "sigmoid" if h.multi else "softmax",
            "values": list(h.category.values),
        }
        for h in make_heads(schema.categories)
    ]
    return {
        "format": EXPORT_FORMAT,
        "run": run_id,
        "dataset": run.dataset,
        "model_sha256": run.model_sha256,
        "input": {
            "name": INPUT_NAME,
            "dtype": "float32",
            "shape": [None, image_size, image_size, 3],
            "pixels": "RGB 0..255, the whole photo resized (stretched) to a square;"
            " the model does its own preprocessing",
        },
        "outputs": outputs,
        "thresholds": read_thresholds(run_dir, schema) or None,
        "schema": schema.to_dict(),
    }


def export_saved_model(store: LabelStore, run_id: str, out_dir: str | Path) -> ExportResult:
    """Write a run's model as a TensorFlow SavedModel folder, with ``schema.json`` inside it.

    The signature ``serving_default`` takes ``image`` (float32 ``(N, S, S, 3)``, 0..255)
    and returns one output per category, named by the category's output key.

    Args:
        store: The label store (the model is loaded only if its SHA-256 matches the record).
        run_id: A finished run with a model.
        out_dir: A folder that does not exist yet, or an empty one.

    Raises:
        ModelError: No trusted model, or ``out_dir`` is a file or a non-empty folder.
    """
    from fashion_core.modeling.training import load_run_model

    out = _fresh_target(Path(out_dir))
    model = load_run_model(store, run_id)
    size = input_size(model)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as tmp:
        staged = Path(tmp) / "saved_model"
        _write_saved_model(model, staged)
        _write_schema(staged / SCHEMA_FILE, export_schema(store, run_id, size))
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(staged, out)  # the folder appears complete or not at all
    return ExportResult(run_id, out, out / SCHEMA_FILE, size)


def export_tflite(
    store: LabelStore, run_id: str, out_path: str | Path, *, saved_model: ExportResult | None = None
) -> ExportResult:
    """Write a run's model as a float32 TFLite file, with ``<name>.schema.json`` beside it.

    The file's signature ``serving_default`` has the input ``image`` and one output per
    category (as the SavedModel); its batch dimension is resizable.

    Args:
        store: The label store.
        run_id: A finished run with a model.
        out_path: The ``.tflite`` file to write (must not exist).
        saved_model: This run's ``export_saved_model`` result, to convert from instead of
            loading and tracing the model again.

    Raises:
        ModelError: No trusted model, the file exists already, or the conversion fails.
    """
    from fashion_core.modeling.training import load_run_model

    out = Path(out_path)
    if out.exists():
        raise ModelError(f"{out} exists already; choose a new file name")
    if saved_model is not None and saved_model.run_id != run_id:
        raise ModelError(f"The SavedModel given is of run {saved_model.run_id}, not {run_id}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if saved_model is not None:
        size, blob = saved_model.image_size, _convert_to_tflite(saved_model.model_path)
    else:
        model = load_run_model(store, run_id)
        size, blob = input_size(model), tflite_blob(model)
    schema_path = out.with_name(out.stem + ".schema.json")
    _write_schema(schema_path, export_schema(store, run_id, size))
    write_bytes_atomic(out, blob)
    return ExportResult(run_id, out, schema_path, size)


def _fresh_target(out: Path) -> Path:
    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        raise ModelError(f"{out} exists and is not an empty folder; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _write_saved_model(model: keras.Model, path: Path) -> None:
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", _inference(model), input_signature=[input_spec(model)])
    archive.write_out(str(path), verbose=False)


def _convert_to_tflite(saved_model: Path) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE])
    try:
        return converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and plain errors alike
        raise ModelError(f"TFLite conversion failed: {exc}") from exc


def _write_schema(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
