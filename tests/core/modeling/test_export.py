"""Export: SavedModel and TFLite files of a run give the Keras model's probabilities; schema beside."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from fashion_core.cli import main
from fashion_core.errors import ModelError
from fashion_core.imaging import photo_pixels
from fashion_core.runs import RunDir, register_run, sha256_file, update_run, write_json_atomic
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace
from tests.core.modeling._tiny_data import TINY_SCHEMA, draw

SIDE = 48
TOLERANCE = 1e-4  # absolute, on probabilities


class Run(NamedTuple):
    workspace: Workspace
    store: LabelStore
    run_id: str
    model: object
    images: np.ndarray


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A finished run recorded the way training records one (schema, model file, its SHA-256).

    The model is built, not trained: export depends only on the saved file, and random heads
    on a real backbone give varied probabilities to compare.
    """
    import keras

    from fashion_core.modeling import build_backbone, build_model, make_heads

    root = tmp_path_factory.mktemp("export")
    ws = Workspace(root / "ws").ensure()
    store = LabelStore.open(ws)
    store.create_dataset("tiny", TINY_SCHEMA, root, "test")
    run_dir = RunDir(ws.runs_dir / "run-1")
    register_run(store, run_dir, "tiny", {"image_size": SIDE})
    write_json_atomic(run_dir.schema, TINY_SCHEMA.to_dict())
    keras.utils.set_random_seed(5)
    model = build_model(
        build_backbone("efficientnet_lite0", weights="bundled", image_size=SIDE),
        make_heads(TINY_SCHEMA.categories),
    )
    model.save(run_dir.model)
    update_run(store, "run-1", status="done", model_sha256=sha256_file(run_dir.model))
    photos = []
    for i, (colour, size) in enumerate(
        [("red", "large"), ("green", "small"), ("blue", "large"), ("red", "small")]
    ):
        draw(root / f"p{i}.jpg", colour, size, seed=i, side=64)
        photos.append(photo_pixels((root / f"p{i}.jpg").read_bytes(), SIDE))
    yield Run(ws, store, "run-1", model, np.stack(photos).astype(np.float32))
    store.close()


def keras_probs(run: Run) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in run.model(run.images, training=False).items()}


@pytest.mark.slow
def test_cli_exports_saved_model_and_tflite_matching_keras(run: Run, tmp_path: Path, capsys) -> None:
    import tensorflow as tf

    out = tmp_path / "export"
    code = main(
        [
            "--home",
            str(run.workspace.root),
            "export-model",
            "--run",
            run.run_id,
            "--out",
            str(out),
            "--tflite",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["saved_model"]["model"] == str(out / "saved_model")
    assert report["tflite"]["model"] == str(out / "model.tflite")
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert json.loads((out / "saved_model" / "schema.json").read_text())["run"] == run.run_id
    loaded = tf.saved_model.load(str(out / "saved_model"))
    served = loaded.signatures["serving_default"](image=tf.constant(run.images))
    for key, probs in keras_probs(run).items():
        np.testing.assert_allclose(served[key].numpy(), probs, atol=1e-5)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(out / "model.tflite"))
    lite = interpreter.get_signature_runner("serving_default")(image=run.images)
    expected = keras_probs(run)
    assert set(lite) == set(expected) == {"colour", "size", "tags"}
    for key, probs in expected.items():
        assert lite[key].shape == probs.shape == (len(run.images), len(TINY_SCHEMA.category(key).values))
        np.testing.assert_allclose(lite[key], probs, atol=TOLERANCE)
    assert np.ptp(expected["colour"], axis=0).max() > 1e-3  # the photos get different answers
    schema = json.loads((out / "model.schema.json").read_text())
    assert [(o["name"], o["values"], o["activation"]) for o in schema["outputs"]] == [
        ("colour", ["red", "green", "blue"], "softmax"),
        ("size", ["small", "large"], "softmax"),
        ("tags", ["dots", "stripes"], "sigmoid"),
    ]
    assert schema["input"]["shape"] == [None, SIDE, SIDE, 3] and schema["model_sha256"]
    # A second export into the same place refuses rather than mixing two exports.
    assert (
        main(["--home", str(run.workspace.root), "export-model", "--run", run.run_id, "--out", str(out)]) == 1
    )
    assert "is not an empty folder" in capsys.readouterr().err


def test_export_refuses_existing_targets_and_tampered_models(run: Run, tmp_path: Path) -> None:
    from fashion_core.modeling import export_saved_model, export_tflite

    taken = tmp_path / "taken.tflite"
    taken.write_bytes(b"x")
    with pytest.raises(ModelError, match="exists already"):
        export_tflite(run.store, run.run_id, taken)
    model = RunDir(run.workspace.runs_dir / run.run_id).model
    original = model.read_bytes()
    try:
        model.write_bytes(original + b"\0")
        with pytest.raises(ModelError, match="does not match the SHA-256"):
            export_saved_model(run.store, run.run_id, tmp_path / "sm")
    finally:
        model.write_bytes(original)
    assert not (tmp_path / "sm").exists()


def test_a_forward_pass_that_disagrees_with_keras_is_refused(run: Run) -> None:
    from fashion_core.modeling import LiteForward
    from fashion_core.modeling.export import check_forward

    exact = keras_probs(run)
    assert set(exact) == {"colour", "size", "tags"}

    def keras_forward(batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in run.model(batch, training=False).items()}

    assert check_forward(run.model, keras_forward) <= 1e-6

    def nudged(batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v + (1e-3 if k == "tags" else 0.0) for k, v in keras_forward(batch).items()}

    with pytest.raises(ModelError, match=r"differs from the Keras model by 0.001"):
        check_forward(run.model, nudged)
    with pytest.raises(ModelError, match="outputs"):
        check_forward(run.model, lambda batch: {"colour": keras_forward(batch)["colour"]})
    with pytest.raises(ModelError, match="Not a usable TFLite model"):
        LiteForward(b"definitely not a flatbuffer")
    with pytest.raises(ModelError, match="`threads` must be a positive integer"):
        LiteForward(b"", threads=0)
