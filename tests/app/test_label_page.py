"""AppTest of the Label page: queues, picking, accepting the suggestion, skip, undo, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fashion_core.analysis import assist
from tests.app.conftest import ANNOTATOR, Studio, image_ids

PAGE = "pages/label.py"
SLEEVE, COAT = "sleeve_length_labels", "coat_length_labels"


def _fake_features(files: list[str], cache_root: Path) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(len(files), 4)).astype(np.float32)


def _edits(studio: Studio):
    return studio.store.edit_history(studio.dataset)


def test_complete_queue_label_accept_skip_undo(studio, open_page):
    at = open_page(PAGE)
    assert not at.exception
    assert "Nothing left" in at.success[0].value  # every tiny image has a label in some category
    at.selectbox(key="label_category").set_value(SLEEVE).run()
    at.selectbox(key="label_mode").set_value("complete").run()
    assert any("No model suggestion yet" in c.value for c in at.caption)
    assert at.metric[1].value == "6"  # the 4 coat and 2 pant images have no sleeve label
    at.button(key="label_pick_7").click().run()  # Long Sleeves
    edits = _edits(studio)
    assert len(edits) == 1 and edits["new_value"].iloc[0] == "Long Sleeves"
    assert edits["annotator"].iloc[0] == ANNOTATOR and not edits["accepted_suggestion"].iloc[0]
    assert at.metric[0].value == "1" and at.metric[1].value == "5"
    at.button(key="label_skip").click().run()
    assert at.metric[1].value == "4" and len(_edits(studio)) == 1
    at.button(key="label_undo").click().run()
    edits = _edits(studio)
    assert len(edits) == 2 and pd.isna(edits["new_value"].iloc[0])  # the undo restored "no label"
    assert at.metric[1].value == "5"
    assert not at.exception


def test_suggestion_is_preselected_and_enter_accepts_it(studio, open_page):
    assist.refresh(studio.store, studio.workspace, studio.dataset, assist.AssistSettings(val_fraction=0.0),
                   features_fn=_fake_features)
    at = open_page(PAGE)
    at.selectbox(key="label_category").set_value(SLEEVE).run()
    at.selectbox(key="label_mode").set_value("complete").run()
    assert any("Model suggests" in m.value for m in at.markdown)
    primary = [b for b in at.button if b.key.startswith("label_pick_") and b.proto.type == "primary"]
    assert len(primary) == 1
    at.button(key="label_accept").click().run()
    edits = _edits(studio)
    assert len(edits) == 1 and edits["accepted_suggestion"].iloc[0]
    assert edits["new_value"].iloc[0] == primary[0].label.split(" · ", 1)[1]
    assert not at.exception


def test_review_queue_shows_other_peoples_labels(studio, open_page):
    ids = image_ids(studio)
    studio.store.edit_label(studio.dataset, ids["Images/coat_length_labels/c1.jpg"], COAT, "Long Length",
                            annotator="someone else")
    at = open_page(PAGE)
    at.selectbox(key="label_mode").set_value("review").run()
    assert at.metric[1].value == "1"
    assert any("set by someone else" in m.value for m in at.markdown)
    at.button(key="label_pick_2").click().run()  # Regular Length
    assert studio.store.current_value(studio.dataset, ids["Images/coat_length_labels/c1.jpg"], COAT) == "Regular Length"
    assert not at.exception


def test_no_name_no_labelling_and_export_download(studio, open_page):
    at = open_page(PAGE, annotator="")
    assert "Type your name" in at.warning[0].value
    at = open_page(PAGE)
    at.selectbox(key="label_export_format").set_value("json").run()
    assert not at.exception and not at.error
