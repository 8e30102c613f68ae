"""AppTest of Browse's labelling niceties: the "no label yet" filter, Previous/Next that survive a
relabel, and the model's suggestion with one-key value buttons in the detail view."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fashion_core.analysis import assist
from fashion_core.labels.gallery import NO_LABEL
from tests.app.conftest import image_ids
from tests.app.test_browse_page import names, shown

PAGE = "pages/browse.py"
COAT, SLEEVE = "coat_length_labels", "sleeve_length_labels"


def _fake_features(files: list[str], cache_root: Path) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(len(files), 4)).astype(np.float32)


def test_no_label_yet_then_label_by_key_and_next_keeps_working(studio, open_page):
    store, ds = studio.store, studio.dataset
    ids = image_ids(studio)
    at = open_page(PAGE)
    at.selectbox(key="browse_category").set_value(SLEEVE).run()
    at.multiselect(key="browse_values").set_value([NO_LABEL]).run()
    assert names(shown(at, studio)) == ["c1", "c2", "c3", "c4", "p1", "p2"]
    c2 = ids["Images/coat_length_labels/c2.jpg"]
    at.button(key=f"browse_open_{c2}").click().run()
    assert at.selectbox(key=f"browse_edit_cat_{c2}").value == SLEEVE  # the filter's category
    # A new label does not default to Invisible.
    assert at.selectbox(key=f"browse_edit_value_{c2}_{SLEEVE}").value != "Invisible"
    # Value buttons on number keys: "3" is the third sleeve value; one press saves it.
    third = at.button(key="browse_quick_2")
    assert third.label.startswith("3 · ")
    third.click().run()
    assert not at.exception and not at.error
    value = third.label.split(" · ", 1)[1]
    assert store.current_value(ds, c2, SLEEVE) == value
    assert names(shown(at, studio)) == ["c1", "c3", "c4", "p1", "p2"]  # it left the filter...
    assert not at.button(key="browse_next").disabled  # ...and Previous / Next still step
    assert not at.button(key="browse_prev").disabled
    at.button(key="browse_next").click().run()
    c3 = ids["Images/coat_length_labels/c3.jpg"]
    assert at.selectbox(key=f"browse_edit_cat_{c3}").value == SLEEVE  # the next unlabelled image
    at.button(key="browse_prev").click().run()
    assert at.session_state["browse_open"] == ids["Images/coat_length_labels/c1.jpg"]
    assert not at.exception


def test_detail_view_shows_the_suggestion_and_enter_accepts_it(studio, open_page):
    assist.refresh(studio.store, studio.workspace, studio.dataset, assist.AssistSettings(val_fraction=0.0),
                   features_fn=_fake_features)
    p1 = image_ids(studio)["Images/pant_length_labels/p1.jpg"]
    at = open_page(PAGE)
    at.selectbox(key="browse_category").set_value(SLEEVE).run()
    at.multiselect(key="browse_values").set_value([NO_LABEL]).run()
    at.button(key=f"browse_open_{p1}").click().run()
    assert any("Model suggests" in m.value for m in at.markdown)
    primary = [b for b in at.button if b.key.startswith("browse_quick_") and b.proto.type == "primary"]
    assert len(primary) == 1
    suggested = primary[0].label.split(" · ", 1)[1]
    assert at.selectbox(key=f"browse_edit_value_{p1}_{SLEEVE}").value == suggested  # preselected too
    at.button(key="browse_quick_accept").click().run()
    edits = studio.store.edit_history(studio.dataset, p1)
    assert len(edits) == 1 and edits["accepted_suggestion"].iloc[0] and edits["new_value"].iloc[0] == suggested
    assert not at.exception


def test_without_a_model_accept_is_disabled(studio, open_page):
    c1 = image_ids(studio)["Images/coat_length_labels/c1.jpg"]
    at = open_page(PAGE)
    at.button(key=f"browse_open_{c1}").click().run()
    assert at.button(key="browse_quick_accept").disabled
    assert not any("Model suggests" in m.value for m in at.markdown)
    assert not at.exception
