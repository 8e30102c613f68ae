"""Evaluate page (AppTest): empty state, confusion matrix, misclassified gallery with detail view, suspicious relabel."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fashion_core.analysis import load_evaluation
from fashion_core.analysis.evaluation import THRESHOLDS_FILE
from fashion_core.analysis.suspicious import RELABEL_REASON
from fashion_core.runs import RunDir
from fashion_core.workspace import HOME_ENV
from tests.app.conftest import clear_streamlit_caches, open_app
from tests.core.modeling._tiny_data import TinyRun, train_tiny_run

PAGE = "pages/evaluate.py"
TIMEOUT = 180  # the first evaluation loads Keras inside the page


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    """A quick tiny run (colour, size, tags) with two wrong colour labels planted after training."""
    made = train_tiny_run(tmp_path_factory.mktemp("evaluate_page"), n=96, quick=True)
    ids = made.store.image_ids("tiny")
    for index, wrong in ((0, "blue"), (12, "green")):  # red squares labelled in colour
        made.store.edit_label("tiny", ids[f"img/{index:03d}.jpg"], "colour", wrong, annotator="planter")
    yield made
    made.store.close()


@pytest.fixture
def app_home(tiny: TinyRun, monkeypatch: pytest.MonkeyPatch) -> Iterator[TinyRun]:
    monkeypatch.setenv(HOME_ENV, str(tiny.workspace.root))
    clear_streamlit_caches()
    yield tiny
    clear_streamlit_caches()


def _open() -> AppTest:
    at = open_app(PAGE, dataset="tiny", timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def _heat_map(at: AppTest) -> np.ndarray:
    """The z values of the page's first plotly chart (plotly may ship them as a typed base64 array)."""
    z = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["z"]
    if isinstance(z, dict):
        shape = tuple(int(n) for n in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z)


def _table(at: AppTest, column: str):
    """The first data frame with that column (AppTest does not expose data frame keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _keys(at: AppTest) -> list[str]:
    return [b.key for b in at.button]


def test_no_finished_run_says_so_and_links_to_train(studio, open_page) -> None:
    at = open_page(PAGE)
    assert any("No finished training run" in i.value for i in at.info)
    links = at.get("page_link")
    assert links and "train" in links[0].proto.page
    assert not at.exception, at.exception


@pytest.mark.slow
def test_evaluate_draws_the_confusion_matrix_and_the_misclassified_gallery(app_home: TinyRun) -> None:
    at = _open()
    at.button(key="evaluate_start").click().run()
    assert not at.exception, at.exception
    report = load_evaluation(app_home.store, app_home.run_id)
    assert report is not None
    at.selectbox(key="evaluate_category").set_value("colour").run()
    assert _heat_map(at).tolist() == report.category("colour")["confusion"]
    per_value = _table(at, "precision")
    assert per_value["value"].tolist() == ["red", "green", "blue"]
    at.radio(key="evaluate_normalize").set_value("normalized").run()
    shares = _heat_map(at)
    assert np.allclose(shares.sum(axis=1)[shares.sum(axis=1) > 0], 1.0)

    wrong = report.misclassified_frame()
    assert len(wrong) > 0
    first = wrong.iloc[0]
    assert f"evaluate_mis_open_{first['image_id']}_{first['category']}" == next(
        k for k in _keys(at) if k.startswith("evaluate_mis_open_"))  # worst first
    at.button(key=f"evaluate_mis_open_{first['image_id']}_{first['category']}").click().run()
    assert not at.exception, at.exception
    assert any(m.value == f"**Image #{first['image_id']}**" for m in at.markdown)  # the detail view

    at.selectbox(key="evaluate_category").set_value("tags").run()
    assert _table(at, "f2")["value"].tolist() == ["dots", "stripes"]
    at.selectbox(key="evaluate_tuning_metric").set_value("f1").run()
    at.button(key="evaluate_tune").click().run()
    assert not at.exception, at.exception
    assert load_evaluation(app_home.store, app_home.run_id).data["tuning_metric"] == "f1"
    saved = json.loads((RunDir(app_home.workspace.runs_dir / app_home.run_id).path / THRESHOLDS_FILE).read_text())
    assert set(saved["tags"]) == {"dots", "stripes"}


@pytest.mark.slow
def test_suspicious_queue_relabel_writes_an_edit(app_home: TinyRun) -> None:
    at = _open()
    at.button(key="evaluate_suspicious_start").click().run()
    assert not at.exception, at.exception
    relabel = [k for k in _keys(at) if k.startswith("evaluate_relabel_")]
    assert relabel, "the queue should show at least one flagged label"
    before = len(app_home.store.edit_history("tiny"))
    image_id, category = relabel[0].split("_")[2:4]
    at.button(key=relabel[0]).click().run()
    assert not at.exception, at.exception
    assert len(app_home.store.edit_history("tiny")) == before  # the first click only asks to confirm
    at.button(key=relabel[0].replace("evaluate_relabel_", "evaluate_confirm_")).click().run()
    assert not at.exception, at.exception
    history = app_home.store.edit_history("tiny")
    assert len(history) == before + 1
    edit = history.sort_values("id").iloc[-1]
    assert (int(edit["image_id"]), edit["category"], edit["reason"]) == (int(image_id), category, RELABEL_REASON)
    assert any(f"Image #{image_id}, {category}: relabelled to" in s.value for s in at.success)
    assert relabel[0] not in _keys(at)  # reviewed: it left the queue


@pytest.mark.slow
def test_calibration_tab_says_which_categories_can_be_judged(app_home: TinyRun) -> None:
    at = _open()
    if any(b.key == "evaluate_calibrate" for b in at.button):  # not calibrated yet: the tab offers it
        at.button(key="evaluate_calibrate").click().run()
    assert not at.exception, at.exception
    table = _table(at, "ECE after")
    assert set(table["category"]) == {"colour", "size", "tags"}
    # a tiny run's few validation images leave no room under 0.05 beside the noise floor
    assert (table["noise floor"] > 0.025).all()
    assert table["ECE < 0.05"].tolist() == ["too few images"] * 3
