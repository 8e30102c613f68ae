"""The serving model: written when a run finishes, checked and hashed; prediction without TensorFlow; INT8."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fashion_core.errors import ModelError
from fashion_core.modeling import FEATURES, LiteForward
from fashion_core.runs import RunDir, get_run, update_run
from fashion_core.serving import Predictor
from tests.core.modeling._tiny_data import TinyRun, train_tiny_run

ROOT = Path(__file__).resolve().parents[3]
# The CLI with TensorFlow and Keras made unimportable: any `import tensorflow` raises ImportError.
NO_TF = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None;"
         " from fashion_core.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    made = train_tiny_run(tmp_path_factory.mktemp("serving"), n=24)
    yield made
    made.store.close()


def run_dir(trained: TinyRun) -> RunDir:
    return RunDir(trained.workspace.runs_dir / trained.run_id)


@pytest.mark.slow
def test_a_finished_run_has_its_serving_model_checked_and_recorded(trained: TinyRun) -> None:
    folder = run_dir(trained)
    recorded = get_run(trained.store, trained.run_id).files_sha256
    assert RunDir.SERVING in recorded and RunDir.MODEL in recorded
    info = json.loads(folder.serving_info.read_text())
    check = info["float"]["check"]
    assert check["images"] >= 2 and check["max_prob_diff"] <= 1e-4 and check["max_feature_diff"] <= 1e-3
    forward = LiteForward.from_file(folder.serving)
    assert set(forward.output_names) == {"colour", "size", "tags", FEATURES} and not forward.quantized
    photos = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    batched, single = forward(photos), [forward(photos[i : i + 1]) for i in range(3)]
    for key in batched:  # a batch of three is one pass with the same answers as three single passes
        np.testing.assert_allclose(batched[key], np.concatenate([s[key] for s in single]), atol=1e-6)
    assert "serving model written" in folder.log.read_text()


@pytest.mark.slow
def test_cli_predicts_with_tensorflow_unimportable(trained: TinyRun) -> None:
    photo = trained.data / "img" / "003.jpg"
    args = ["--home", str(trained.workspace.root), "predict", "--run", trained.run_id, str(photo), "--json", "--details"]
    done = subprocess.run([sys.executable, "-c", NO_TF, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no TensorFlow or LiteRT log noise
    answer = json.loads(done.stdout)[str(photo)]
    reference = Predictor.from_run(trained.store, trained.run_id, engine="tf").predict_bytes(photo.read_bytes())
    for category, ranked in answer["categories"].items():
        expected = {v.value: v.prob for v in reference[category].values}
        for item in ranked:
            assert item["prob"] == pytest.approx(expected[item["value"]], abs=1e-4)
    # The blocker really blocks: the TensorFlow engine cannot load there.
    forced = subprocess.run([sys.executable, "-c", NO_TF, *args[:-2], "--engine", "tf"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert forced.returncode != 0 and "import of keras halted" in forced.stderr


@pytest.mark.slow
def test_an_older_run_gets_its_serving_model_on_first_use(trained: TinyRun) -> None:
    folder = run_dir(trained)
    record = get_run(trained.store, trained.run_id)
    kept = folder.serving.read_bytes()
    try:
        update_run(trained.store, trained.run_id,
                   files_sha256={k: v for k, v in record.files_sha256.items() if k != RunDir.SERVING})
        folder.serving.unlink()
        predictor = Predictor.from_run(trained.store, trained.run_id)
        assert predictor.engine == "tflite" and folder.serving.is_file()
        assert RunDir.SERVING in get_run(trained.store, trained.run_id).files_sha256
    finally:
        folder.serving.write_bytes(kept)
        update_run(trained.store, trained.run_id, files_sha256=record.files_sha256)


@pytest.mark.slow
def test_int8_model_is_written_measured_and_served(trained: TinyRun, capsys: pytest.CaptureFixture) -> None:
    from fashion_core.cli import main

    with pytest.raises(ModelError, match="no INT8 serving model.*quantize --run"):
        Predictor.from_run(trained.store, trained.run_id, engine="int8")
    code = main(["--home", str(trained.workspace.root), "quantize", "--run", trained.run_id, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["images"] > 0 and 0.0 <= report["agreement"] <= 1.0
    for name in ("float", "int8"):
        assert 0.0 <= report[name]["accuracy"] <= 1.0 and report[name]["ms"] > 0
        assert set(report[name]["per_head"]) <= {"colour", "size", "tags"}
    folder = run_dir(trained)
    assert json.loads(folder.serving_info.read_text())["int8"]["comparison"]["images"] == report["images"]
    assert RunDir.SERVING_INT8 in get_run(trained.store, trained.run_id).files_sha256
    int8 = Predictor.from_run(trained.store, trained.run_id, engine="int8")
    assert int8.engine == "tflite-int8"
    answer = int8.predict_bytes((trained.data / "img" / "000.jpg").read_bytes())
    assert [c.category for c in answer.categories] == ["colour", "size", "tags"]


@pytest.fixture(scope="module")
def two_quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    """Two quick runs in one workspace (the second after the first's backbone was converted)."""
    made = train_tiny_run(tmp_path_factory.mktemp("quick-serving"), n=24, quick=True, run_id="quick-1")
    from fashion_core.modeling import Augmentation, TrainConfig, train_run
    from fashion_core.runs import register_run

    # the same seed (random-init backbones differ by seed), other heads: two epochs
    config = TrainConfig(dataset="tiny", backbone="mobilenet_v3_small", weights="none", image_size=32, epochs=2,
                         schedule="heads", finetune_epochs=0, batch_size=8, augmentation=Augmentation.off(),
                         early_stopping_patience=0, reduce_lr_patience=0, quick=True, seed=0)
    second = RunDir(made.workspace.runs_dir / "quick-2")
    register_run(made.store, second, "tiny", config.to_dict())
    train_run(made.store, made.workspace, config, second)
    yield made
    made.store.close()


@pytest.mark.slow
def test_quick_runs_share_one_converted_backbone_and_write_only_their_heads(two_quick: TinyRun) -> None:
    kept = sorted((two_quick.workspace.embeddings_dir / "serving").glob("*.tflite"))
    assert len(kept) == 1  # one backbone (same weights, same size) for both runs
    parts = {}
    for run_id in ("quick-1", "quick-2"):
        folder = RunDir(two_quick.workspace.runs_dir / run_id)
        parts[run_id] = json.loads(folder.serving_info.read_text())["float"]["check"]["parts"]
        assert folder.serving.read_bytes() == kept[0].read_bytes()
        assert LiteForward.from_file(folder.serving).output_names == (FEATURES,)  # the backbone alone
        recorded = get_run(two_quick.store, run_id).files_sha256
        assert RunDir.SERVING in recorded and RunDir.SERVING_HEADS in recorded
        lite = Predictor.from_run(two_quick.store, run_id)
        keras_engine = Predictor.from_run(two_quick.store, run_id, engine="tf")
        photos = np.random.default_rng(4).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
        assert lite.engine == "tflite"
        for got, want in zip(lite.predict_pixels(photos), keras_engine.predict_pixels(photos)):
            for g, w in zip(got.categories, want.categories):
                assert {v.value: round(v.prob, 4) for v in g.values} == pytest.approx(
                    {v.value: round(v.prob, 4) for v in w.values}, abs=2e-4)
    assert parts == {"quick-1": "shared backbone (converted) + heads", "quick-2": "shared backbone (reused) + heads"}


@pytest.mark.slow
def test_a_changed_heads_file_is_refused_and_a_damaged_kept_backbone_is_converted_again(two_quick: TinyRun) -> None:
    from fashion_core.modeling import write_serving_model
    from fashion_core.modeling.training import load_run_model

    folder = RunDir(two_quick.workspace.runs_dir / "quick-2")
    original = folder.serving_heads.read_bytes()
    try:
        folder.serving_heads.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(ModelError, match="Serving heads file .* does not match the SHA-256"):
            Predictor.from_run(two_quick.store, "quick-2")
    finally:
        folder.serving_heads.write_bytes(original)
    kept = next((two_quick.workspace.embeddings_dir / "serving").glob("*.tflite"))
    kept.write_bytes(b"not a model")
    check = write_serving_model(two_quick.store, "quick-2", load_run_model(two_quick.store, "quick-2"),
                                backbone_cache=kept.parent)
    assert check["parts"] == "shared backbone (converted) + heads" and kept.read_bytes() == folder.serving.read_bytes()
    assert Predictor.from_run(two_quick.store, "quick-2").engine == "tflite"


@pytest.mark.slow
def test_cli_predicts_a_quick_run_with_tensorflow_unimportable(two_quick: TinyRun) -> None:
    photo = two_quick.data / "img" / "005.jpg"
    args = ["--home", str(two_quick.workspace.root), "predict", "--run", "quick-2", str(photo), "--json", "--details"]
    done = subprocess.run([sys.executable, "-c", NO_TF, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)[str(photo)]
    reference = Predictor.from_run(two_quick.store, "quick-2", engine="tf").predict_bytes(photo.read_bytes())
    for category, ranked in answer["categories"].items():
        expected = {v.value: v.prob for v in reference[category].values}
        assert {item["value"]: item["prob"] for item in ranked} == pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
def test_a_quick_run_whose_heads_cannot_be_split_off_gets_the_whole_model(two_quick: TinyRun,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import fashion_core.modeling.serving_model as serving_model
    from fashion_core.modeling.training import load_run_model

    def not_dense(model: object) -> dict:
        raise ModelError("Output 'colour' is not a softmax or sigmoid Dense layer")

    monkeypatch.setattr(serving_model, "dense_heads", not_dense)
    folder = RunDir(two_quick.workspace.runs_dir / "quick-2")
    check = serving_model.write_serving_model(two_quick.store, "quick-2", load_run_model(two_quick.store, "quick-2"),
                                              backbone_cache=two_quick.workspace.embeddings_dir / "serving")
    assert check["parts"] == "whole model" and not folder.serving_heads.exists()
    assert RunDir.SERVING_HEADS not in get_run(two_quick.store, "quick-2").files_sha256
    assert set(LiteForward.from_file(folder.serving).output_names) == {"colour", "size", "tags", FEATURES}
    assert Predictor.from_run(two_quick.store, "quick-2").engine == "tflite"
