"""Predict page (AppTest): upload a photo -> bars for every category; bad files and URLs -> clear errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from fashion_core.runs import RunDir, register_run
from fashion_core.store import LabelStore
from fashion_core.workspace import HOME_ENV, Workspace
from tests.conftest import serve_pages, shown
from tests.core.modeling._tiny_data import TINY_SCHEMA, make_dataset, train_tiny_run

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/predict.py"
RUN_ID = "run-1"
CATEGORIES = TINY_SCHEMA.category_names


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the tiny dataset and one run trained on it (once for the module)."""
    made = train_tiny_run(tmp_path_factory.mktemp("predict-page"), n=24, run_id=RUN_ID)
    made.store.close()
    return made.workspace.root


@pytest.fixture
def home(trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(HOME_ENV, str(trained_home))
    st.cache_resource.clear()  # the store, and any model, of an earlier test's workspace
    st.cache_data.clear()
    yield trained_home
    st.cache_resource.clear()
    st.cache_data.clear()


def open_predict() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.switch_page(PAGE)
    return at.run()


def photo(fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(out, fmt)
    return out.getvalue()


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(el.proto.spec)["layout"]["title"]["text"] for el in at.get("plotly_chart")]


@pytest.mark.slow
def test_uploaded_photo_gets_bars_for_every_category(home: Path) -> None:
    at = open_predict()
    assert not at.exception
    assert at.selectbox(key="predict_run").value == RUN_ID  # the default run
    assert not at.get("plotly_chart")
    at.file_uploader(key="predict_upload").upload("shirt.jpg", photo(), "image/jpeg")
    at.run()
    assert not at.exception and not at.error
    titles = chart_titles(at)
    assert sorted(titles) == sorted(CATEGORIES) and len(titles) == len(CATEGORIES)  # laid out in two columns
    colour = json.loads(at.get("plotly_chart")[titles.index("colour")].proto.spec)["data"][0]
    assert sorted(colour["y"]) == sorted(TINY_SCHEMA.category("colour").values)
    assert colour["x"] == sorted(colour["x"])  # drawn bottom-up: the most probable value on top
    assert any("Inference" in c.value and "ms" in c.value and "(TFLite)" in c.value for c in at.caption)
    assert any(c.value.startswith("Predicted:") for c in at.caption)  # the multi-label category's set


@pytest.mark.slow
def test_gradcam_toggle_adds_a_heat_map_per_category(home: Path) -> None:
    at = open_predict()
    at.file_uploader(key="predict_upload").upload("shirt.png", photo("PNG"), "image/png")
    at.run()
    shown = len(at.get("image"))
    assert shown == 1  # the photo itself
    at.toggle(key="predict_gradcam").set_value(True).run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == shown + len(CATEGORIES)


BAD_UPLOADS = {  # name -> (content maker, message)
    "notes.jpg": (lambda: b"this is a text file, renamed", "notes.jpg: not a JPEG, PNG or WebP image"),
    "huge.jpg": (lambda: b"\xff\xd8\xff" + bytes(11 * 2**20), "huge.jpg: file too large: 11.0 MB > 10 MB"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_bad_uploads_get_a_clear_message(home: Path, name: str) -> None:
    make, message = BAD_UPLOADS[name]
    content = make()
    at = open_predict()
    at.file_uploader(key="predict_upload").upload(name, content, "image/jpeg")
    at.run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [message]
    assert not at.get("plotly_chart")


@pytest.fixture
def local_site() -> Iterator[str]:
    with serve_pages({"/photo.jpg": (200, photo())}) as base:
        yield f"{base}/photo.jpg"


@pytest.mark.slow
def test_url_source_follows_the_downloaders_safety_rules(home: Path, local_site: str) -> None:
    at = open_predict()
    at.segmented_control(key="predict_source").set_value("URL").run()
    at.text_input(key="predict_url_input").input(local_site).run()
    at.button(key="predict_fetch").click().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [f"{local_site}: refused address 127.0.0.1 (loopback)"]
    assert not at.get("plotly_chart")
    at.checkbox(key="predict_allow_private").check().run()  # the downloader's switch for intranets and tests
    assert not at.exception and not at.error
    assert any("Private addresses allowed" in w.value for w in at.warning)
    assert sorted(chart_titles(at)) == sorted(CATEGORIES)


@pytest.mark.slow
def test_camera_is_offered_as_a_source(home: Path) -> None:
    at = open_predict()
    assert not at.get("camera_input")
    at.segmented_control(key="predict_source").set_value("Camera").run()
    assert not at.exception
    cameras = at.get("camera_input")
    assert len(cameras) == 1 and cameras[0].proto.label == "Take a photo"


@pytest.mark.slow
def test_model_loads_once_per_process_and_thresholds_saved_later_apply(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fashion_core.serving import Predictor
    from fashion_core.serving.predictor import THRESHOLDS_FILE

    loads: list[str] = []
    original = Predictor.from_run

    def counting(cls: type, store: LabelStore, run_id: str, **kwargs: object) -> Predictor:
        loads.append(run_id)
        return original(store, run_id, **kwargs)

    monkeypatch.setattr(Predictor, "from_run", classmethod(counting))
    first = open_predict()
    first.file_uploader(key="predict_upload").upload("a.jpg", photo(), "image/jpeg")
    first.run()
    assert "(threshold 0.5)" in " ".join(c.value for c in first.caption)
    thresholds = Workspace(home).runs_dir / RUN_ID / THRESHOLDS_FILE
    assert thresholds.parent.is_dir()
    thresholds.write_text(json.dumps({"tags": {"dots": 0.0, "stripes": 1.0}}))  # as the evaluation saves them
    try:
        first.file_uploader(key="predict_upload").upload("b.png", photo("PNG"), "image/png")
        first.run()
        second = open_predict()  # another browser session of the same server process
        second.file_uploader(key="predict_upload").upload("c.jpg", photo(), "image/jpeg")
        second.run()
    finally:
        thresholds.unlink()
    assert loads == [RUN_ID]
    for at in (first, second):
        assert not at.exception and not at.error
        assert "Predicted: dots (tuned thresholds)" in [c.value for c in at.caption]


def test_without_a_finished_run_the_page_points_to_training(tmp_path: Path, monkeypatch) -> None:
    ws = Workspace(tmp_path / "ws").ensure()
    store = LabelStore.open(ws)
    make_dataset(store, tmp_path / "data", n=4)
    register_run(store, RunDir(ws.runs_dir / "queued-run"), "tiny", {})  # not finished: does not count
    store.close()
    monkeypatch.setenv(HOME_ENV, str(ws.root))
    st.cache_resource.clear()
    at = open_predict()
    assert not at.exception
    assert any("No finished training run yet" in i.value for i in at.info)
    links = at.get("page_link")
    assert links and "Train" in links[0].proto.label
    assert not at.file_uploader
    st.cache_resource.clear()
