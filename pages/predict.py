"""Predict: a photo (upload, camera or URL) through a finished run's model, every category at once."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from PIL import Image

from fashion_core.imaging import MAX_IMAGE_BYTES, MB, load_photo
from fashion_core.runs import (
    RunDir,
    RunRecord,
    default_run,
    finished_runs,
    read_int8_comparison,
    validation_score,
)
from fashion_core.serving import IMAGE_SUFFIXES, Predictor, fetch_image_bytes
from fashion_core.views import probability_figure
from ui.page import PageContext, run_page
from ui.services import get_store
from ui.text import plain

RUN = "predict_run"
SOURCE = "predict_source"
UPLOAD = "predict_upload"
CAMERA = "predict_camera"
URL_INPUT = "predict_url_input"
URL = "predict_url"  # the URL last fetched (the bytes stay in a small cache, not in the session)
PRIVATE = "predict_allow_private"
GRADCAM = "predict_gradcam"
TOP = "predict_top"
SOURCES = ("Upload", "Camera", "URL")
APPLIES_CUT = 0.5  # below: the photo probably does not show what the category describes
DISPLAY_SIDE = 640
ENGINE_NAMES = {"tflite": "TFLite", "tf": "TensorFlow"}


@st.cache_resource(max_entries=2, show_spinner=False)
def _predictor(db_path: str, run_id: str, model_sha256: str, calibration_sha256: str) -> Predictor:
    """One loaded model per (workspace, run, model and calibration hashes), shared by every session."""
    return Predictor.from_run(get_store(), run_id)


@st.cache_data(max_entries=8, ttl=600, show_spinner="Fetching the photo...")
def _fetch(url: str, allow_private: bool) -> bytes:
    return fetch_image_bytes(url, allow_private=allow_private)


@st.cache_data(max_entries=8, show_spinner="Computing Grad-CAM heat maps...")
def _heatmaps(_predictor: Predictor, run_id: str, model_sha256: str, data: bytes) -> dict:
    from fashion_core.modeling import overlay_heatmap

    photo = load_photo(data, max_side=DISPLAY_SIDE)
    return {
        c: (m.index, m.prob, overlay_heatmap(photo, m.heatmap)) for c, m in _predictor.heatmaps(data).items()
    }


def _run_label(run: RunRecord) -> str:
    score = validation_score(run)
    accuracy = f"val accuracy {score:.3f}" if score is not None else "no val accuracy"
    config = run.config or {}
    return f"{run.id} · {run.dataset} · {config.get('backbone', '?')} {config.get('image_size', '?')} px · {accuracy}"


def _pick_run(ctx: PageContext) -> RunRecord:
    store = ctx.store
    runs = finished_runs(store)
    if not runs:
        st.info(
            "No finished training run yet: train a model first, then come back to try it on photos.",
            icon=":material/info:",
        )
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    dataset = ctx.dataset
    best = default_run(store, dataset.name if dataset else None) or default_run(store)
    ids = [r.id for r in runs]
    chosen = st.selectbox(
        "Model (finished run)",
        ids,
        index=ids.index(best.id),
        key=RUN,
        format_func=lambda i: _run_label(runs[ids.index(i)]),
        help="Default: the best validation accuracy of this dataset's runs; near ties go to the newest.",
    )
    return runs[ids.index(chosen)]


def _photo_bytes() -> tuple[bytes, str] | None:
    source = st.segmented_control("Photo from", SOURCES, default=SOURCES[0], key=SOURCE) or SOURCES[0]
    limit = f"JPEG, PNG or WebP, up to {MAX_IMAGE_BYTES // MB} MB"
    if source == "Upload":
        file = st.file_uploader(
            f"Photo ({limit})",
            type=[s.lstrip(".") for s in IMAGE_SUFFIXES],
            key=UPLOAD,
            max_upload_size=MAX_IMAGE_BYTES // MB,
        )
        return (file.getvalue(), file.name) if file is not None else None
    if source == "Camera":
        shot = st.camera_input("Take a photo", key=CAMERA)
        return (shot.getvalue(), "camera photo") if shot is not None else None
    cols = st.columns([5, 1], vertical_alignment="bottom")
    url = cols[0].text_input(f"Photo URL ({limit})", key=URL_INPUT, placeholder="https://...")
    allow_private = st.checkbox(
        "Allow private addresses",
        key=PRIVATE,
        help="Like the downloader: loopback and intranet addresses are refused unless allowed.",
    )
    if allow_private:
        st.warning(
            "Private addresses allowed: the server will fetch from your own network.",
            icon=":material/warning:",
        )
    if cols[1].button("Fetch", key="predict_fetch", disabled=not url.strip()):
        st.session_state[URL] = url.strip()
    fetched = st.session_state.get(URL)
    return (_fetch(fetched, bool(allow_private)), fetched) if fetched else None


def _answers(predictor: Predictor, run: RunRecord, data: bytes, name: str, shown: Image.Image) -> None:
    prediction = predictor.predict_bytes(data, name=name, details=True)
    familiarity = prediction.familiarity
    if familiarity is not None and familiarity.unfamiliar:
        st.warning(
            "This photo is unlike anything this model was trained on (only"
            f" {familiarity.score:.1%} of its validation photos are as unusual): the answers below are guesses,"
            " not knowledge. Try a photo of a single garment like the training images.",
            icon=":material/help:",
        )
    left, right = st.columns([1, 2])
    left.image(shown, caption=name)
    left.caption(
        f"Inference {prediction.inference_ms:.0f} ms (photo to answers {prediction.total_ms:.0f} ms),"
        f" all {len(prediction.categories)} categories in one forward pass"
        f" ({ENGINE_NAMES.get(predictor.engine, predictor.engine)})."
        + (f" {predictor.engine_note}." if predictor.engine_note else "")
    )
    top = left.slider("Values shown per category", 1, 10, 5, key=TOP)
    grid = right.columns(2)
    applies = prediction.applies or {}
    for i, answer in enumerate(prediction.categories):
        with grid[i % 2]:
            if applies.get(answer.category, 1.0) < APPLIES_CUT:
                st.caption(
                    f":orange[**{plain(answer.category)}**: probably not shown in this photo"
                    f" (applies {applies[answer.category]:.0%}); the values below are not an answer.]"
                )
            st.plotly_chart(probability_figure(answer, top=top), key=f"predict_bars_{answer.category}")
            if answer.kind.value == "multi":
                source = "tuned thresholds" if answer.tuned_thresholds else "threshold 0.5"
                st.caption(f"Predicted: {plain(', '.join(answer.positives) or 'none')} ({source})")
    if st.toggle("Show where the model looked (Grad-CAM heat map per category)", key=GRADCAM):
        maps = _heatmaps(predictor, run.id, run.model_sha256, data)
        cols = st.columns(4)
        for i, (category, (index, prob, overlay)) in enumerate(maps.items()):
            value = predictor.schema.category(category).values[index]
            cols[i % 4].image(overlay, caption=f"{category}: {value} ({prob:.0%})")


def _offer_calibration(ctx: PageContext, run: RunRecord) -> None:
    """A run not calibrated yet: its probabilities are raw and it cannot tell unfamiliar photos."""
    from fashion_core.analysis import calibrate_run

    st.info(
        "This model is not calibrated yet: its probabilities may be over-confident and it cannot warn"
        " about photos unlike its training images.",
        icon=":material/tune:",
    )
    if st.button("Calibrate it now (about a minute)", key="predict_calibrate"):
        with st.spinner("Calibrating on the run's own images..."):
            calibrate_run(ctx.store, run.id)
        st.rerun()


def main(ctx: PageContext) -> None:
    run = _pick_run(ctx)
    photo = _photo_bytes()
    if photo is None:
        st.info(
            "Upload a photo, take one with the camera, or fetch one from a URL.",
            icon=":material/photo_camera:",
        )
        st.stop()
    data, name = photo
    shown = load_photo(
        data, name=name, max_side=DISPLAY_SIDE
    )  # a bad file fails here, before the model loads
    # The model is loaded once per process; thresholds are re-read (evaluation may have tuned them since).
    converted = RunDir.SERVING in (run.files_sha256 or {})  # written when the run finished
    with st.spinner(
        "Loading the model (once per process)..."
        if converted
        else "First use of this model: converting it for fast prediction (once; up to a minute on a busy CPU)..."
    ):
        calibration = (run.files_sha256 or {}).get(RunDir.CALIBRATION, "")
        predictor = _predictor(str(ctx.workspace.db_path), run.id, run.model_sha256, calibration)
    predictor = predictor.with_saved_thresholds()
    if predictor.calibration is None:
        _offer_calibration(ctx, run)
    _answers(predictor, run, data, name, shown)
    _int8_note(run)


def _int8_note(run: RunRecord) -> None:
    """What the INT8 model would cost, as measured by `quantize` (shown before anyone serves with it)."""
    comparison = read_int8_comparison(RunDir(Path(run.run_dir)))
    if comparison:
        f, q = comparison["float"], comparison["int8"]
        st.caption(f"INT8 model of this run (`serve --int8`): validation accuracy {q['accuracy']:.3f} vs float"
                   f" {f['accuracy']:.3f} on {comparison['images']} images; one photo {q['ms']:.1f} ms vs {f['ms']:.1f} ms.")


run_page(
    main,
    title="Predict",
    caption="Try a trained model on a photo: every category's most likely values, and where the model looked.",
    needs_dataset=False,
)
