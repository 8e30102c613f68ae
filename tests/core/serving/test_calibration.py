"""Calibration: temperature and label-noise scaling lower the calibration error, familiarity flags photos unlike the training
images, applies tells the categories a photo shows; all saved with the run and used by prediction."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from fashion_core.analysis import calibrate_run
from fashion_core.cli import main
from fashion_core.errors import ModelError
from fashion_core.runs import RunDir, get_run, verified_model_path
from fashion_core.serving import (
    LowTail,
    Predictor,
    apply_scaling,
    apply_temperature,
    colourfulness,
    ece_judgeable,
    ece_noise_floor,
    fit_scaling,
    fit_temperature,
    held_out_ece,
    read_calibration,
    reliability,
)
from fashion_core.serving.calibration import calibrated_threshold, neighbour_distance, unit_rows
from tests.core.modeling._tiny_data import TinyRun, train_tiny_run


def test_temperature_fixes_overconfident_softmax() -> None:
    rng = np.random.default_rng(0)
    n, k = 2000, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.0  # true class somewhat likelier
    honest = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sure = apply_temperature(honest, 0.3, multi=False)  # the same model, far too sure
    t = fit_temperature(sure, y, multi=False)
    assert 3.0 < t < 3.7  # undoes the 1/0.3 sharpening
    before, after = reliability(sure, y, False)["ece"], reliability(apply_temperature(sure, t, False), y, False)["ece"]
    assert after < 0.03 < before
    assert (apply_temperature(sure, t, False).argmax(1) == sure.argmax(1)).all()  # the answer is unchanged


def test_multi_label_threshold_keeps_decisions() -> None:
    probs = np.array([0.2, 0.4, 0.55, 0.9])
    for t in (0.5, 2.0):
        for noise in (0.0, 0.1):
            cut = calibrated_threshold(0.45, t, noise)
            assert ((apply_scaling(probs, t, noise, True) >= cut) == (probs >= 0.45)).all()


def _mislabelled(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A calibrated 4-value softmax, its true classes, and labels with ``share`` of them changed."""
    rng = np.random.default_rng(seed)
    k = 4
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in probs])  # outcomes drawn from the probabilities: calibrated
    wrong = rng.random(n) < share
    given = np.where(wrong, (y + rng.integers(1, k, n)) % k, y)
    return probs, y, given


def test_label_noise_is_fitted_where_temperature_alone_flattens_every_answer() -> None:
    probs, _, given = _mislabelled(3000, 0.10, seed=5)
    temperature = fit_temperature(probs, given, multi=False)
    t, noise = fit_scaling(probs, given, multi=False)
    assert 0.05 <= noise <= 0.16  # about the share changed
    alone = reliability(apply_temperature(probs, temperature, False), given, False)["ece"]
    both = reliability(apply_scaling(probs, t, noise, False), given, False)["ece"]
    assert both < 0.02 < alone
    assert (apply_scaling(probs, t, noise, False).argmax(1) == probs.argmax(1)).all()  # answers unchanged
    assert np.allclose(apply_scaling(probs, t, noise, False).sum(1), 1, atol=1e-5)


def test_clean_labels_get_no_label_noise() -> None:
    probs, y, _ = _mislabelled(3000, 0.0, seed=6)
    t, noise = fit_scaling(probs, y, multi=False)
    assert noise <= 0.01 and 0.85 < t < 1.15


def test_held_out_ece_is_fitted_on_other_images() -> None:
    probs, _, given = _mislabelled(600, 0.10, seed=7)
    held_out = held_out_ece(probs, given, multi=False)
    assert held_out is not None and held_out < reliability(probs, given, False)["ece"]
    assert held_out_ece(probs[:3], given[:3], multi=False) is None  # too few images to split


def test_neighbour_distance_far_for_other_kinds() -> None:
    rng = np.random.default_rng(1)
    centre = rng.normal(0, 1, 64)
    train = centre + rng.normal(0, 0.3, (200, 64))
    near = centre + rng.normal(0, 0.3, (20, 64))
    far = rng.normal(0, 1, (20, 64))
    ref = unit_rows(train)
    assert neighbour_distance(near, ref).max() < neighbour_distance(far, ref).min()


def test_colour_view_flags_grayscale_photos_only() -> None:
    rng = np.random.default_rng(2)
    colourful = rng.integers(0, 256, (40, 16, 16, 3)).astype(np.float32)
    gray = np.repeat(rng.integers(0, 256, (3, 16, 16, 1)), 3, axis=-1).astype(np.float32)
    assert (colourfulness(gray) == 0).all() and (colourfulness(colourful) > 0.5).all()
    view = LowTail.fit(colourfulness(colourful))
    assert (view.p_values(colourfulness(gray)) == 1 / 41).all()  # less colour than every validation image
    assert view.p_values(colourfulness(colourful)).min() >= 2 / 41  # validation images are not the least


def test_ece_noise_floor_shrinks_with_more_images() -> None:
    rng = np.random.default_rng(3)
    small, large = rng.uniform(0.5, 1.0, 100), rng.uniform(0.5, 1.0, 10_000)
    assert ece_noise_floor(small) > 0.04 > 0.01 > ece_noise_floor(large)


def test_a_head_is_judged_against_the_target_only_when_noise_leaves_room() -> None:
    from fashion_core.serving.calibration import summary

    rng = np.random.default_rng(4)
    small, large = rng.uniform(0.5, 1.0, 100), rng.uniform(0.5, 1.0, 2_000)
    assert not ece_judgeable(ece_noise_floor(small)) and ece_judgeable(ece_noise_floor(large))
    assert not ece_judgeable(None)  # older calibrations carry no floor
    head = {"before": {"ece": 0.09}, "after": {"ece": 0.06}, "images": 2000, "temperature": 1.3, "noise_floor": 0.02}
    row = summary({"heads": {"sleeve": head, "coat": {**head, "noise_floor": 0.08}}})
    assert row["sleeve"]["judgeable"] and not row["sleeve"]["under_target"]
    assert not row["coat"]["judgeable"]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    made = train_tiny_run(tmp_path_factory.mktemp("calibrate"), n=48)
    calibrate_run(made.store, made.run_id)
    yield made
    made.store.close()


@pytest.mark.slow
def test_calibration_saved_recorded_and_used(calibrated: TinyRun) -> None:
    run_dir = RunDir(get_run(calibrated.store, calibrated.run_id).run_dir)
    assert run_dir.calibration.exists() and run_dir.familiarity.exists()
    verified_model_path(calibrated.store, calibrated.run_id)  # the new files are part of the record
    predictor = Predictor.from_run(calibrated.store, calibrated.run_id)
    assert predictor.calibration is not None
    assert set(predictor.calibration.temperatures) == set(predictor.calibration.label_noise) == {"colour", "size", "tags"}
    own = predictor.predict_bytes((calibrated.data / "img" / "001.jpg").read_bytes(), details=True)
    assert own.familiarity is not None and not own.familiarity.unfamiliar
    assert set(own.applies) == {"colour", "size", "tags"}
    assert all(0.0 <= p <= 1.0 for p in own.applies.values())
    for answer in own.categories:
        assert abs(sum(v.prob for v in answer.values) - 1) < 1e-4 or answer.kind.value == "multi"


@pytest.mark.slow
def test_changed_calibration_file_refused(calibrated: TinyRun) -> None:
    run_dir = RunDir(get_run(calibrated.store, calibrated.run_id).run_dir)
    saved = run_dir.calibration.read_bytes()
    try:
        data = json.loads(saved)
        data["temperatures"] = {k: 9.0 for k in data["temperatures"]}
        run_dir.calibration.write_text(json.dumps(data))
        with pytest.raises(ModelError, match="Calibration file"):
            verified_model_path(calibrated.store, calibrated.run_id)
    finally:
        run_dir.calibration.write_bytes(saved)


@pytest.mark.slow
def test_predict_json_details_shape(calibrated: TinyRun, capsys: pytest.CaptureFixture[str]) -> None:
    image = str(calibrated.data / "img" / "002.jpg")
    code = main(["--home", str(calibrated.workspace.root), "predict", "--run", calibrated.run_id,
                 image, "--json", "--details"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    entry = out[image]
    assert set(entry) == {"categories", "familiarity", "applies"}
    assert set(entry["familiarity"]) == {"score", "unfamiliar"}
    assert isinstance(entry["familiarity"]["unfamiliar"], bool)
    assert set(entry["applies"]) == set(entry["categories"]) == {"colour", "size", "tags"}
    first = entry["categories"]["colour"][0]
    assert set(first) == {"value", "prob"}
    code = main(["--home", str(calibrated.workspace.root), "predict", "--run", calibrated.run_id, image, "--json"])
    assert set(json.loads(capsys.readouterr().out)[image]) == {"colour", "size", "tags"}  # shape kept without it


@pytest.mark.slow
def test_a_format_3_calibration_still_reads_without_label_noise(calibrated: TinyRun) -> None:
    run_dir = RunDir(get_run(calibrated.store, calibrated.run_id).run_dir)
    saved = run_dir.calibration.read_bytes()
    try:
        data = json.loads(saved)
        data["format"] = 3
        del data["label_noise"]
        run_dir.calibration.write_text(json.dumps(data))
        old = read_calibration(run_dir)
        assert old is not None and old.label_noise == {} and old.noise("colour") == 0.0
        probs = np.array([[0.7, 0.2, 0.1]])
        assert np.allclose(old.calibrated(probs, "colour", False),
                           apply_temperature(probs, old.temperature("colour"), False))
    finally:
        run_dir.calibration.write_bytes(saved)
