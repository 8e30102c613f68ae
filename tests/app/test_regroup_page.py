"""Regroup page (AppTest): a merge changes the after-chart, is saved, and comes back in a new session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from fashion_core.ingest import encode_code, import_labels
from fashion_core.labels import maps as label_maps
from fashion_core.schema import FASHIONAI
from fashion_core.store import LabelStore
from fashion_core.workspace import HOME_ENV, Workspace
from tests.conftest import shown as seen_text
from tests.conftest import write_image

APP = Path(__file__).resolve().parents[2] / "app.py"
SLEEVE = "sleeve_length_labels"
COAT = "coat_length_labels"
VALUES = ["Cup Sleeves"] * 2 + ["Short Sleeves"] * 3 + ["Long Sleeves"] * 4 + ["Invisible"]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    ws = Workspace(tmp_path / "ws").ensure()
    root, lines = tmp_path / "data", []
    for i, value in enumerate(VALUES):
        write_image(root / f"Images/{i}.jpg", size=(32, 32), seed=i)
        lines.append(f"Images/{i}.jpg,{SLEEVE},{encode_code(FASHIONAI.category(SLEEVE), value)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    store = LabelStore.open(ws)
    import_labels(store, dataset="tiny", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    store.close()
    monkeypatch.setenv(HOME_ENV, str(ws.root))
    st.cache_resource.clear()
    st.cache_data.clear()
    return ws


def _open_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("pages/regroup.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _after(at: AppTest) -> dict[str, int]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    trace = next(t for t in spec["data"] if t["name"] == "after")
    return dict(zip(trace["x"], trace["y"]))


def test_merge_changes_the_chart_is_saved_and_reloaded(workspace: Workspace) -> None:
    at = _open_page()
    at.selectbox(key="regroup_category").set_value(SLEEVE).run()
    assert _after(at)["Cup Sleeves"] == 2 and _after(at)["Short Sleeves"] == 3
    at.multiselect(key=f"regroup_values_{SLEEVE}").set_value(["Cup Sleeves", "Short Sleeves"]).run()
    images = at.get("image")
    assert len(images) == 2 and [len(i.proto.imgs) for i in images] == [2, 3]  # a column per value
    at.radio(key="regroup_action").set_value("Merge").run()
    at.text_input(key="regroup_new_name").set_value("Short").run()
    at.button(key="regroup_add").click().run()
    assert not at.exception, at.exception
    after = _after(at)
    assert after["Short"] == 5 and after["Cup Sleeves"] == 0 and after["Short Sleeves"] == 0
    assert at.multiselect(key=f"regroup_values_{SLEEVE}").value == []

    at.text_input(key="regroup_map_name").set_value("tiny_map").run()
    at.button(key="regroup_save").click().run()
    assert not at.exception, at.exception
    store = LabelStore.open(workspace)
    saved = label_maps.load_map(store, "tiny_map")
    assert saved.version == 1 and [s.describe() for s in saved.steps] == [
        "sleeve_length_labels: merge 'Cup Sleeves', 'Short Sleeves' -> 'Short'"
    ]
    assert store.dataset("tiny").active_map == "tiny_map"

    again = _open_page()  # a new session starts its draft from the dataset's active map
    again.selectbox(key="regroup_category").set_value(SLEEVE).run()
    assert _after(again)["Short"] == 5
    again.button(key="regroup_clear").click().run()
    assert _after(again)["Short Sleeves"] == 3 and "Short" not in _after(again)
    again.selectbox(key="regroup_load_name").set_value("tiny_map").run()
    again.button(key="regroup_load").click().run()
    assert _after(again)["Short"] == 5
    assert not again.exception, again.exception


def test_bad_step_shows_an_error_and_undo_and_active_switch_work(workspace: Workspace) -> None:
    at = _open_page()
    at.selectbox(key="regroup_category").set_value(SLEEVE).run()
    at.multiselect(key=f"regroup_values_{SLEEVE}").set_value(["Long Sleeves"]).run()
    at.radio(key="regroup_action").set_value("Rename").run()
    at.text_input(key="regroup_new_name").set_value("Short Sleeves").run()
    at.button(key="regroup_add").click().run()
    assert any("already exists; merge into it" in e.value for e in at.error)
    at.multiselect(key=f"regroup_values_{SLEEVE}").set_value(["Invisible"]).run()
    at.radio(key="regroup_action").set_value("Drop").run()
    at.button(key="regroup_add").click().run()
    assert _after(at)["Invisible"] == 0
    at.button(key="regroup_undo").click().run()
    assert _after(at)["Invisible"] == 1
    at.button(key="regroup_example").click().run()
    assert _after(at) == {
        **{v: 0 for v in FASHIONAI.category(SLEEVE).values},
        "Short Sleeves": 5,
        "Long Sleeves": 4,
    }
    at.selectbox(key="regroup_category").set_value(COAT).run()  # a category the example leaves alone
    at.button(key="regroup_example").click().run()
    assert at.selectbox(key="regroup_category").value != COAT  # the page moves to one it changes
    at.selectbox(key="regroup_active").set_value("fashionai_source").run()
    at.button(key="regroup_switch").click().run()
    assert LabelStore.open(workspace).dataset("tiny").active_map == "fashionai_source"
    at.selectbox(key="regroup_active").set_value("(no map)").run()
    at.button(key="regroup_switch").click().run()
    assert LabelStore.open(workspace).dataset("tiny").active_map is None
    assert not at.exception, at.exception


# -- merge suggestions from a finished run's confusion matrix ---------------------------------------------

CONFUSED = ["Cup Sleeves", "Short Sleeves", "Long Sleeves", "Invisible"]


def _evaluated_run(workspace: Workspace) -> str:
    """A finished run with a saved evaluation whose confusion matrix mixes Cup and Short Sleeves both ways.

    Written by hand (no model is needed to read a saved evaluation), so no TensorFlow runs here.
    """
    from fashion_core.analysis import EVALUATION_FILE
    from fashion_core.analysis.evaluation import FORMAT
    from fashion_core.runs import RunDir, register_run, update_run, write_json_atomic

    store = LabelStore.open(workspace)
    run_dir = RunDir(workspace.runs_dir / "run-confused")
    register_run(store, run_dir, "tiny", {"backbone": "efficientnet_lite0", "image_size": 128})
    update_run(store, run_dir.run_id, status="done", model_sha256="f" * 64)
    # Rows: label, columns: prediction, in CONFUSED's order; Long Sleeves -> Short only one way.
    matrix = [[1, 1, 0, 0], [1, 2, 0, 0], [0, 1, 3, 0], [0, 0, 0, 1]]
    write_json_atomic(run_dir.path / EVALUATION_FILE, {
        "format": FORMAT, "run": run_dir.run_id, "model_sha256": "f" * 64,
        "labels_version": list(store.labels_version("tiny")), "images": 10, "fashionai_map": None,
        "categories": {SLEEVE: {"kind": "single", "values": CONFUSED, "images": 10, "confusion": matrix,
                                "per_value": []}},
        "predictions": {}, "misclassified": [], "problems": [],
    })
    store.close()
    return run_dir.run_id


def _keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button}


def test_merge_suggestions_without_a_run_point_to_train(workspace: Workspace) -> None:
    at = _open_page()
    assert any("Train a model first" in c.value for c in at.caption)
    assert "regroup_merge_add_0" not in _keys(at)


def test_merge_suggestion_shows_samples_and_adds_the_merge_in_one_click(workspace: Workspace) -> None:
    _evaluated_run(workspace)
    at = _open_page()
    assert at.selectbox(key="regroup_merge_run").value == "run-confused"
    assert "regroup_merge_add_0" in _keys(at) and "regroup_merge_add_1" not in _keys(at)  # one two-way pair
    assert any("Short Sleeves" in m.value and "Cup Sleeves" in m.value for m in at.markdown)
    shown = [len(i.proto.imgs) for i in at.get("image")]
    assert shown == [3, 2]  # samples of Short Sleeves (3 images) and Cup Sleeves (2), side by side
    at.selectbox(key="regroup_category").set_value(SLEEVE).run()
    at.button(key="regroup_merge_add_0").click().run()
    assert not at.exception, at.exception
    after = _after(at)
    assert after["Short Sleeves"] == 5 and after["Cup Sleeves"] == 0
    assert any("merge 'Short Sleeves', 'Cup Sleeves' -> 'Short Sleeves'" in seen_text(m.value) for m in at.markdown)
    # The draft no longer has Cup Sleeves: the suggestion cannot be added twice.
    assert at.button(key="regroup_merge_add_0").disabled
