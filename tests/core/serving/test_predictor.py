"""Prediction: a tiny trained run answers every category, checks photos, refuses tampered models; CLI."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_core.cli import main
from fashion_core.errors import DownloadError, ImageError, ModelError, UnsafeURLError
from fashion_core.imaging import ImageLimits, load_photo, photo_pixels
from fashion_core.imaging.decode import open_photo
from fashion_core.runs import (
    RunDir,
    default_run,
    register_run,
    update_run,
    write_json_atomic,
    write_thresholds,
)
from fashion_core.schema import Kind
from fashion_core.serving import Predictor, collect_image_paths
from fashion_core.serving.predictor import load_thresholds
from fashion_core.store import LabelStore
from fashion_core.views import probability_figure
from fashion_core.workspace import Workspace
from tests.conftest import serve_pages
from tests.core.modeling._tiny_data import SIDE, TINY_SCHEMA, TinyRun, draw, train_tiny_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    """One run trained once for the module: 24 tiny images, 3 categories (one multi-label), 1 epoch."""
    made = train_tiny_run(tmp_path_factory.mktemp("predict"), n=24)
    yield made
    made.store.close()


@pytest.fixture(scope="module")
def predictor(trained: TinyRun) -> Predictor:
    return Predictor.from_run(trained.store, trained.run_id)


def jpeg(width: int = 40, height: int = 30, seed: int = 0, fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(out, fmt)
    return out.getvalue()


# -- answers --------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_category_answered_sorted_and_normalised(predictor: Predictor, trained: TinyRun) -> None:
    prediction = predictor.predict_bytes((trained.data / "img" / "000.jpg").read_bytes())
    assert [c.category for c in prediction.categories] == TINY_SCHEMA.category_names
    for answer in prediction.categories:
        category = TINY_SCHEMA.category(answer.category)
        probs = [v.prob for v in answer.values]
        assert sorted(v.value for v in answer.values) == sorted(category.values)
        assert probs == sorted(probs, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probs)
        if category.kind is Kind.SINGLE:
            assert sum(probs) == pytest.approx(1.0, abs=1e-5)
            assert answer.positives == ()
        else:
            assert set(answer.positives) == {v.value for v in answer.values if v.prob >= 0.5}
            assert not answer.tuned_thresholds
    assert 0 < prediction.inference_ms <= prediction.total_ms
    as_json = prediction.to_dict(top=1)
    assert list(as_json) == TINY_SCHEMA.category_names and all(len(v) == 1 for v in as_json.values())


@pytest.mark.slow
def test_serving_model_matches_tensorflow_and_a_changed_one_is_refused(
    predictor: Predictor, trained: TinyRun
) -> None:
    assert predictor.engine == "tflite" and not predictor.engine_note and predictor._model is None
    serving = RunDir(trained.workspace.runs_dir / trained.run_id).serving
    assert serving.is_file()
    reference = Predictor(predictor.model, predictor.schema, engine="tf")  # Grad-CAM's model, loaded on demand
    assert reference.engine == "tf"
    photos = np.stack([photo_pixels(jpeg(seed=i), SIDE) for i in range(4)]).astype(np.float32)
    lite, tf_probs = predictor.forward(photos), reference.forward(photos)
    assert set(lite) == set(tf_probs) == {"colour", "size", "tags"}
    for key in lite:
        np.testing.assert_allclose(lite[key], tf_probs[key], atol=1e-4)
    np.testing.assert_allclose(predictor.features(photos), reference.features(photos), atol=1e-3)
    original = serving.read_bytes()
    try:
        serving.write_bytes(original[: len(original) // 2])  # a damaged serving model is refused, not used
        with pytest.raises(ModelError, match="Serving model .* does not match the SHA-256"):
            Predictor.from_run(trained.store, trained.run_id)
    finally:
        serving.write_bytes(original)
    with pytest.raises(ModelError, match="`engine` must be one of"):
        Predictor(predictor.model, predictor.schema, engine="gpu")


@pytest.mark.slow
def test_one_predictor_serves_threads_at_once(predictor: Predictor) -> None:
    photos = [jpeg(seed=i) for i in range(6)]
    serial = [predictor.predict_bytes(p).to_dict() for p in photos]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(lambda p: predictor.predict_bytes(p).to_dict(), photos * 3))
    assert parallel == serial * 3


@pytest.mark.slow
def test_batch_of_paths_matches_single_photos_and_reports_bad_files(
    predictor: Predictor, trained: TinyRun, tmp_path: Path
) -> None:
    good = [trained.data / "img" / f"{i:03d}.jpg" for i in range(5)]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(good[0].read_bytes()[:-100])  # cut inside the pixel data
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    result = predictor.predict_paths(
        [*map(str, good), str(text), str(broken), str(tmp_path / "gone.jpg")], batch_size=2
    )
    assert list(result.predictions) == [str(p) for p in good]
    reasons = {Path(p.path).name: p.reason for p in result.problems}
    assert reasons["notes.jpg"] == "not a JPEG, PNG or WebP image"
    assert reasons["broken.jpg"].startswith("broken image")
    assert reasons["gone.jpg"].startswith("cannot read the file")
    for path in good:
        single = predictor.predict_bytes(path.read_bytes())
        batch = result.predictions[str(path)]
        for a, b in zip(single.categories, batch.categories):
            np.testing.assert_allclose([v.prob for v in a.values], [v.prob for v in b.values], atol=1e-5)


@pytest.mark.slow
def test_tuned_thresholds_decide_the_positive_set(predictor: Predictor) -> None:
    tuned = Predictor(
        predictor.model, predictor.schema, thresholds={"tags": {"dots": 0.0, "stripes": 1.0}}, engine="tf"
    )
    answer = tuned.predict_bytes(jpeg())["tags"]
    assert answer.positives == ("dots",) and answer.tuned_thresholds
    with pytest.raises(ModelError, match="'spots' is not a value of 'tags'"):
        Predictor(predictor.model, predictor.schema, thresholds={"tags": {"spots": 0.3}})


@pytest.mark.slow
def test_a_runs_tuned_thresholds_are_read_and_mark_the_positives(
    trained: TinyRun, tmp_path: Path, capsys
) -> None:
    from fashion_core.analysis.evaluation import THRESHOLDS_FILE as WRITTEN_BY_EVALUATION
    from fashion_core.serving.predictor import THRESHOLDS_FILE

    assert THRESHOLDS_FILE == WRITTEN_BY_EVALUATION
    photo = trained.data / "img" / "002.jpg"
    plain = Predictor.from_run(trained.store, trained.run_id).predict_bytes(photo.read_bytes())["tags"]
    assert plain.thresholds == (0.5, 0.5) and not plain.tuned_thresholds
    low, high = plain.values[1].value, plain.values[0].value  # tuned so that only the less probable passes
    path = RunDir(trained.workspace.runs_dir / trained.run_id).path / THRESHOLDS_FILE
    write_thresholds(trained.store, trained.run_id, {"tags": {low: 0.0, high: 1.0}})  # as the evaluation saves them
    assert path.exists()  # where prediction reads them
    try:
        answer = Predictor.from_run(trained.store, trained.run_id).predict_bytes(photo.read_bytes())["tags"]
        assert answer.positives == (low,) and answer.tuned_thresholds
        assert dict(zip((v.value for v in answer.values), answer.thresholds)) == {low: 0.0, high: 1.0}
        assert answer.values == plain.values  # thresholds mark values; they never change probabilities
        out = tmp_path / "answers.csv"
        assert (
            main(
                [
                    "--home",
                    str(trained.workspace.root),
                    "predict",
                    "--run",
                    trained.run_id,
                    str(photo),
                    "--csv",
                    str(out),
                ]
            )
            == 0
        )
        with open(out, newline="", encoding="utf-8") as f:
            rows = {r["category"]: r for r in csv.DictReader(f)}
        assert rows["tags"]["positives"] == low and rows["colour"]["positives"] == ""
        main(["--home", str(trained.workspace.root), "predict", "--run", trained.run_id, str(photo)])
        text = capsys.readouterr().out
        assert f"  tags: {high} " in text and text.rstrip().endswith(
            f"  -> {low}"
        )  # ranked, then the marked set
    finally:
        write_thresholds(trained.store, trained.run_id, {})  # removes the file and its recorded hash


def test_thresholds_file_is_read_and_checked(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    assert load_thresholds(run_dir, TINY_SCHEMA) == {}
    write_json_atomic(run_dir.path / "thresholds.json", {"tags": {"dots": 0.25}})
    assert load_thresholds(run_dir, TINY_SCHEMA) == {"tags": {"dots": 0.25}}
    write_json_atomic(run_dir.path / "thresholds.json", {"tags": {"dots": 1.5}})
    with pytest.raises(ModelError, match=r"thresholds.json: threshold of 'tags'/'dots' must be in \[0, 1\]"):
        load_thresholds(run_dir, TINY_SCHEMA)
    write_json_atomic(run_dir.path / "thresholds.json", {"shape": {"round": 0.5}})
    with pytest.raises(ModelError, match="unknown category 'shape'"):
        load_thresholds(run_dir, TINY_SCHEMA)


@pytest.mark.slow
def test_heatmaps_cover_the_model_input(predictor: Predictor) -> None:
    maps = predictor.heatmaps(jpeg(), ["colour", "tags"])
    assert list(maps) == ["colour", "tags"]
    for m in maps.values():
        assert m.heatmap.shape == (SIDE, SIDE) and 0.0 <= m.heatmap.min() <= m.heatmap.max() <= 1.0
    with pytest.raises(ModelError, match="'shape'"):
        predictor.heatmaps(jpeg(), ["shape"])


@pytest.mark.slow
def test_tampered_model_file_is_refused(trained: TinyRun) -> None:
    model = RunDir(trained.workspace.runs_dir / trained.run_id).model
    original = model.read_bytes()
    try:
        model.write_bytes(original + b"\0")
        with pytest.raises(ModelError, match="does not match the SHA-256"):
            Predictor.from_run(trained.store, trained.run_id)
    finally:
        model.write_bytes(original)


# -- photo checks ---------------------------------------------------------------------------


def test_non_images_and_oversized_files_get_clear_messages() -> None:
    with pytest.raises(ImageError, match=r"^photo.jpg: not a JPEG, PNG or WebP image$"):
        photo_pixels(b"hello, I am text", 32, name="photo.jpg")
    with pytest.raises(ImageError, match="not a JPEG, PNG or WebP image"):
        open_photo(jpeg(fmt="GIF"))  # a real image, but not a format we accept
    big = b"\xff\xd8\xff" + bytes(int(12.3 * 2**20))
    with pytest.raises(ImageError, match=r"^big.jpg: file too large: 12.3 MB > 10 MB$"):
        photo_pixels(big, 32, name="big.jpg")
    with pytest.raises(ImageError, match=r"image too large: 40 x 30 pixels > 0.001 megapixels"):
        photo_pixels(jpeg(), 32, limits=ImageLimits(max_pixels=1000))
    with pytest.raises(ImageError, match="broken image"):
        photo_pixels(jpeg(200, 200)[:5000], 32)
    with pytest.raises(ImageError, match="empty file"):
        open_photo(b"")
    with pytest.raises(ImageError, match="max_bytes"):
        ImageLimits(max_bytes=0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_decode_to_the_model_size(fmt: str) -> None:
    pixels = photo_pixels(jpeg(50, 20, fmt=fmt), 24)
    assert pixels.shape == (24, 24, 3) and pixels.dtype == np.uint8


def test_pixels_match_the_training_decoder() -> None:
    import tensorflow as tf

    from fashion_core.modeling.data import decode_and_resize

    yy, xx = np.mgrid[0:90, 0:120]
    smooth = np.stack([xx * 2, yy * 2.5, (xx + yy) % 256], -1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(smooth).save(out, "JPEG", quality=95)
    ours = photo_pixels(out.getvalue(), 48).astype(int)
    training = decode_and_resize(tf.constant(out.getvalue()), 48).numpy().astype(int)
    assert np.abs(ours - training).mean() < 1.5


def test_exif_rotation_and_transparency_are_applied() -> None:
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    tagged = io.BytesIO()
    image.save(tagged, "PNG", exif=exif)
    upright = load_photo(tagged.getvalue())
    assert upright.size == (20, 40)
    np.testing.assert_array_equal(
        np.asarray(upright), np.asarray(image.transpose(Image.Transpose.ROTATE_270))
    )
    clear = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(clear, "PNG")
    assert (photo_pixels(clear.getvalue(), 8) == 255).all()  # transparent -> white, not black


def test_folders_are_searched_for_images(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.JPG", "a/b/y.webp", "a/b/z.png", "a/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    paths, problems = collect_image_paths(
        [tmp_path / "a", tmp_path / "a" / "x.JPG", tmp_path / "empty", tmp_path / "nope.jpg"]
    )
    assert paths == [str(tmp_path / p) for p in ("a/b/y.webp", "a/b/z.png", "a/x.JPG")]
    assert {Path(p.path).name: p.reason for p in problems} == {
        "empty": "folder holds no JPEG, PNG or WebP image",
        "nope.jpg": "no such file or folder",
    }


# -- choosing a run -------------------------------------------------------------------------


def test_default_run_is_the_newest_of_the_best(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    store.create_dataset("d", TINY_SCHEMA, tmp_path, "test")
    assert default_run(store) is None

    def add(run_id: str, status: str, accuracy: float | None) -> None:
        register_run(store, RunDir(workspace.runs_dir / run_id), "d", {})
        metrics = {"monitor": "val_mean_accuracy", "val_mean_accuracy": accuracy}
        update_run(store, run_id, status=status, metrics=metrics, model_sha256="0" * 64)

    add("r1", "done", 0.80)
    add("r2", "done", 0.90)
    add("r3", "failed", 0.99)
    add("r4", "done", 0.70)
    assert default_run(store).id == "r2"
    add("r5", "done", 0.897)  # within half a point of the best: newer wins
    assert default_run(store, "d").id == "r5"
    add("r6", "done", None)
    assert default_run(store).id == "r5"


# -- URLs -----------------------------------------------------------------------------------


@pytest.fixture()
def site() -> Iterator[str]:
    pages = {
        "/photo.jpg": (200, jpeg(64, 48)),
        "/notes.jpg": (200, b"plain text"),
        "/huge.jpg": (200, b"\xff" * (2 * 2**20)),
        "/gone.jpg": (404, b"no"),
    }

    with serve_pages(pages) as base:
        yield base


@pytest.mark.slow
def test_predict_from_url_follows_the_safety_rules(predictor: Predictor, site: str) -> None:
    fetched = predictor.predict_url(f"{site}/photo.jpg", allow_private=True)
    direct = predictor.predict_bytes(jpeg(64, 48))
    assert fetched.to_dict() == direct.to_dict()
    with pytest.raises(UnsafeURLError, match=r"refused address 127.0.0.1 \(loopback\)"):
        predictor.predict_url(f"{site}/photo.jpg")
    with pytest.raises(UnsafeURLError, match="bad scheme: file"):
        predictor.predict_url("file:///etc/passwd", allow_private=True)
    with pytest.raises(ImageError, match="not a JPEG, PNG or WebP image"):
        predictor.predict_url(f"{site}/notes.jpg", allow_private=True)
    with pytest.raises(DownloadError, match="http 404"):
        predictor.predict_url(f"{site}/gone.jpg", allow_private=True)
    small = Predictor(predictor.model, predictor.schema, limits=ImageLimits(max_bytes=2**20), engine="tf")
    with pytest.raises(ImageError, match="file too large: 2 MB > 1 MB"):
        small.predict_url(f"{site}/huge.jpg", allow_private=True)


# -- CLI ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_prints_json_and_writes_csv_skipping_bad_files(trained: TinyRun, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "photos"
    for i in range(3):
        draw(folder / "sub" / f"p{i}.jpg", "red", "large", seed=i, side=40)
    (folder / "bad.jpg").write_text("nope")
    single = trained.data / "img" / "001.jpg"
    out = tmp_path / "out" / "answers.csv"
    code = main(
        [
            "--home",
            str(trained.workspace.root),
            "predict",
            "--run",
            trained.run_id,
            str(single),
            str(folder),
            "--json",
            "--csv",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    answers = json.loads(captured.out)
    expected = [str(single), *(str(folder / "sub" / f"p{i}.jpg") for i in range(3))]
    assert list(answers) == expected
    for per_category in answers.values():
        assert list(per_category) == TINY_SCHEMA.category_names
        for category, ranked in per_category.items():
            assert [r["value"] for r in ranked] and set(ranked[0]) == {"value", "prob"}
            assert len(ranked) == len(TINY_SCHEMA.category(category).values)
            assert [r["prob"] for r in ranked] == sorted((r["prob"] for r in ranked), reverse=True)
    assert f"skipped {folder / 'bad.jpg'}: not a JPEG, PNG or WebP image" in captured.err
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(expected) * len(TINY_SCHEMA.categories)
    first = rows[0]
    assert (first["image"], first["category"]) == (str(single), "colour")
    assert first["value_1"] == answers[str(single)]["colour"][0]["value"]
    assert float(first["prob_1"]) == pytest.approx(answers[str(single)]["colour"][0]["prob"], abs=1e-6)


def test_cli_fails_when_no_image_can_be_read(
    store: LabelStore, workspace: Workspace, tmp_path: Path, capsys
) -> None:
    store.create_dataset("d", TINY_SCHEMA, tmp_path, "test")
    register_run(store, RunDir(workspace.runs_dir / "r"), "d", {})
    code = main(["--home", str(workspace.root), "predict", "--run", "r", str(tmp_path / "missing.jpg")])
    err = capsys.readouterr().err
    assert code == 1
    assert "skipped" in err and "no such file or folder" in err and "no image could be predicted" in err
    assert main(["--home", str(workspace.root), "predict", "--run", "unknown", str(tmp_path)]) == 1
    assert "No run with id 'unknown'" in capsys.readouterr().err


def test_multi_label_bars_mark_each_values_threshold() -> None:
    from fashion_core.serving import CategoryPrediction
    from fashion_core.serving.predictor import ValueProb

    answer = CategoryPrediction(
        "tags",
        Kind.MULTI,
        (ValueProb("dots", 0.6), ValueProb("stripes", 0.3)),
        positives=("stripes",),
        tuned_thresholds=True,
        thresholds=(0.7, 0.2),
    )
    bars, ticks = probability_figure(answer).data
    assert list(ticks.y) == list(bars.y) == ["stripes", "dots"] and list(ticks.x) == [0.2, 0.7]
    assert bars.marker.color[0] != bars.marker.color[1]  # stripes passed its threshold, dots did not
    single = CategoryPrediction("colour", Kind.SINGLE, (ValueProb("red", 1.0),))
    assert len(probability_figure(single).data) == 1


def test_probability_bars_show_the_top_values_best_first() -> None:
    from fashion_core.serving import CategoryPrediction
    from fashion_core.serving.predictor import ValueProb

    answer = CategoryPrediction(
        "colour", Kind.SINGLE, (ValueProb("red", 0.7), ValueProb("blue", 0.2), ValueProb("green", 0.1))
    )
    fig = probability_figure(answer, top=2)
    assert list(fig.data[0].y) == ["blue", "red"]  # plotly draws bottom-up: the best ends on top
    assert list(fig.data[0].x) == [0.2, 0.7]


@pytest.mark.slow
def test_a_sixteen_bit_png_and_its_eight_bit_copy_get_the_same_prediction(
    predictor: Predictor, trained: TinyRun
) -> None:
    eight = np.asarray(Image.open(trained.data / "img" / "000.jpg").convert("L"))
    sixteen = eight.astype(np.uint16) * 257  # the same picture in 16 bits: PIL's plain convert makes it white
    as_png = {}
    for name, pixels in (("eight", eight), ("sixteen", sixteen)):
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "PNG")
        as_png[name] = out.getvalue()
    assert Image.open(io.BytesIO(as_png["sixteen"])).mode.startswith("I")
    np.testing.assert_array_equal(photo_pixels(as_png["sixteen"], SIDE), photo_pixels(as_png["eight"], SIDE))
    assert predictor.predict_bytes(as_png["sixteen"]).to_dict() == predictor.predict_bytes(as_png["eight"]).to_dict()
