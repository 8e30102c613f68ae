"""AppTest of the Browse page: filters, pagination, detail view, relabel and undo, bulk, safe serving."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from fashion_core.labels.gallery import NO_VALUE
from tests.app.conftest import ANNOTATOR, TINY_ROWS, Studio, add_multilabel_dataset, image_ids, make_studio
from tests.conftest import shown as seen_text
from tests.conftest import write_image

PAGE = "pages/browse.py"
COAT, SLEEVE = "coat_length_labels", "sleeve_length_labels"


def shown(at: AppTest, studio: Studio) -> list[str]:
    """Paths of the images in the gallery, in order (tiles carry a checkbox keyed by image id)."""
    by_id = {v: k for k, v in image_ids(studio).items()}
    return [
        by_id[int(c.key.removeprefix("browse_pick_"))]
        for c in at.checkbox
        if c.key.startswith("browse_pick_")
    ]


def names(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1].removesuffix(".jpg") for p in paths]


def test_filters_change_what_is_shown(studio, open_page):
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert len(shown(at, studio)) == len(TINY_ROWS) and len(at.image) == len(TINY_ROWS)
    at.selectbox(key="browse_category").set_value(SLEEVE).run()
    assert names(shown(at, studio)) == ["s1", "s2", "s3", "s4", "s5", "s6"]
    at.multiselect(key="browse_values").set_value(["Long Sleeves", "Invisible"]).run()
    assert names(shown(at, studio)) == ["s1", "s2", "s3", "s6"]
    at.selectbox(key="browse_maybe").set_value("with").run()
    assert shown(at, studio) == [] and "No image matches" in at.info[0].value
    at.selectbox(key="browse_category").set_value("All categories").run()  # clears the values
    assert at.multiselect(key="browse_values").value == []
    assert names(shown(at, studio)) == ["s4", "c2"]
    at.selectbox(key="browse_maybe").set_value("any").run()
    at.text_input(key="browse_search").input("C3").run()
    assert names(shown(at, studio)) == ["c3"]
    assert not at.exception


def test_no_match_offers_to_clear_the_filters(studio, open_page):
    at = open_page(PAGE)
    at.selectbox(key="browse_category").set_value(SLEEVE).run()
    at.text_input(key="browse_search").input("no-such-image").run()
    assert shown(at, studio) == [] and "No image matches" in at.info[0].value
    next(b for b in at.button if b.label == "Clear filters").click().run()
    assert len(shown(at, studio)) == len(TINY_ROWS)
    assert at.selectbox(key="browse_category").value == "All categories"
    assert at.text_input(key="browse_search").value == ""


def test_pagination_and_page_size(tmp_path, monkeypatch, open_page):
    rows = [(f"Images/sleeve_length_labels/x{i:02d}.jpg", SLEEVE, "Long Sleeves", ()) for i in range(30)]
    studio = make_studio(tmp_path, monkeypatch, rows)
    at = open_page(PAGE)
    at.selectbox(key="browse_page_size").set_value(24).run()
    assert names(shown(at, studio)) == [f"x{i:02d}" for i in range(24)]
    pager = at.pagination[0]
    assert pager.proto.num_pages == 2
    pager.set_value(2).run()
    assert names(shown(at, studio)) == [f"x{i:02d}" for i in range(24, 30)]
    at.text_input(key="browse_search").input("x1").run()  # a new filter starts again at page 1
    assert names(shown(at, studio)) == [f"x1{i}" for i in range(10)]
    assert not at.exception


def test_relabel_is_stored_and_undone(studio, open_page):
    store, ds = studio.store, studio.dataset
    c1 = image_ids(studio)["Images/coat_length_labels/c1.jpg"]
    at = open_page(PAGE)
    at.button(key=f"browse_open_{c1}").click().run()
    assert at.selectbox(key=f"browse_edit_cat_{c1}").value == COAT  # the category it is labelled in
    at.selectbox(key=f"browse_edit_value_{c1}_{COAT}").set_value("Long Length")
    at.text_input(key="browse_edit_reason").input("hem below the hip")
    at.button(key="browse_edit_save").click().run()
    assert not at.exception and not at.error
    assert store.current_value(ds, c1, COAT) == "Long Length"
    original = store.original_labels(ds).set_index("image_id").loc[c1, "value"]
    assert original == "Regular Length"  # the original annotation is never overwritten
    edit = store.edit_history(ds, c1).iloc[0]
    assert (edit["annotator"], edit["reason"], edit["old_value"]) == (
        ANNOTATOR,
        "hem below the hip",
        "Regular Length",
    )
    assert "Long Length" in at.success[0].value
    labels = at.dataframe[0].value.set_index("category")  # the detail view: labels, then history
    assert labels.loc[COAT, "current"] == "Long Length" and labels.loc[COAT, "original"] == "Regular Length"

    at.button(key=f"browse_undo_{int(edit['id'])}").click().run()
    assert store.current_value(ds, c1, COAT) == "Regular Length"
    history = store.edit_history(ds, c1)
    assert len(history) == 2 and history.iloc[0]["undoes"] == edit["id"]
    assert at.dataframe[1].value["id"].tolist() == history["id"].tolist()
    assert at.dataframe[1].value["undoes"].tolist() == [f"#{int(edit['id'])}", ""]
    assert not at.exception


def test_mark_invisible_and_exclude(studio, open_page):
    store, ds = studio.store, studio.dataset
    s1 = image_ids(studio)["Images/sleeve_length_labels/s1.jpg"]
    at = open_page(PAGE)
    at.selectbox(key="browse_category").set_value(SLEEVE).run()
    at.button(key=f"browse_open_{s1}").click().run()
    at.segmented_control(key=f"browse_edit_action_{s1}_{SLEEVE}").set_value("invisible").run()
    at.button(key="browse_edit_save").click().run()
    assert store.current_value(ds, s1, SLEEVE) == "Invisible"
    at.segmented_control(key=f"browse_edit_action_{s1}_{SLEEVE}").set_value("exclude").run()
    at.button(key="browse_edit_save").click().run()
    assert store.current_value(ds, s1, SLEEVE) is None
    at.button(key="browse_close").click().run()
    assert "s1" not in names(shown(at, studio))  # no longer labelled in the category
    at.selectbox(key="browse_category").set_value("All categories").run()
    at.selectbox(key="browse_edited").set_value("edited").run()
    assert names(shown(at, studio)) == ["s1"]
    assert not at.exception


def test_bulk_relabel_and_undo(studio, open_page):
    store, ds = studio.store, studio.dataset
    ids = image_ids(studio)
    c1, c3 = ids["Images/coat_length_labels/c1.jpg"], ids["Images/coat_length_labels/c3.jpg"]
    at = open_page(PAGE)
    at.selectbox(key="browse_category").set_value(COAT).run()
    at.checkbox(key=f"browse_pick_{c1}").check().run()
    at.checkbox(key=f"browse_pick_{c3}").check().run()
    assert at.session_state["browse_selected"] == [c1, c3]
    assert at.selectbox(key="browse_bulk_category").value == COAT
    at.selectbox(key="browse_bulk_value").set_value("Invisible")
    at.button(key="browse_bulk_apply").click().run()
    assert [store.current_value(ds, i, COAT) for i in (c1, c3)] == ["Invisible", "Invisible"]
    assert at.session_state["browse_selected"] == [] and "Relabelled 2 images" in at.success[0].value
    at.button(key="browse_bulk_undo").click().run()
    assert [store.current_value(ds, i, COAT) for i in (c1, c3)] == ["Regular Length", "Long Length"]
    at.button(key="browse_select_page").click().run()
    assert len(at.session_state["browse_selected"]) == 4
    at.button(key="browse_clear_selection").click().run()
    assert at.session_state["browse_selected"] == [] and not any(c.value for c in at.checkbox)
    assert not at.exception


def test_thumbnails_are_cached_and_nothing_outside_the_roots_is_served(studio, open_page, tmp_path):
    secret = write_image(tmp_path / "outside" / "secret.jpg", seed=42)
    p1 = tmp_path / "data" / "Images" / "pant_length_labels" / "p1.jpg"
    p1.unlink()
    p1.symlink_to(secret)  # a label file's image now points out of the images root
    at = open_page(PAGE)
    assert not at.exception
    thumbs = list(studio.workspace.thumbnails_dir.rglob("*.jpg"))
    assert len(thumbs) == len(TINY_ROWS) - 1 and len(at.image) == len(TINY_ROWS) - 1
    shown_text = [c.value.replace("\\", "") for c in at.caption]  # captions escape markdown characters
    assert any("p1.jpg" in c and "outside" in c for c in shown_text)
    assert all(str(secret) not in str(t.resolve()) for t in thumbs)
    before = {t: t.stat().st_mtime_ns for t in thumbs}
    at.run()  # warm: served from the cache, nothing remade
    assert {t: t.stat().st_mtime_ns for t in thumbs} == before


def test_gallery_follows_edits_made_elsewhere(studio, open_page):
    store, ds = studio.store, studio.dataset
    p2 = image_ids(studio)["Images/pant_length_labels/p2.jpg"]
    at = open_page(PAGE)
    at.selectbox(key="browse_category").set_value("pant_length_labels").run()
    at.multiselect(key="browse_values").set_value(["Cropped Pant"]).run()
    assert shown(at, studio) == []
    store.edit_label(ds, p2, "pant_length_labels", "Cropped Pant", annotator="other session")
    at.run()
    assert names(shown(at, studio)) == ["p2"]
    assert not at.exception


def test_two_sessions_editing_at_once_the_second_save_is_refused(studio, open_page):
    store, ds = studio.store, studio.dataset
    c1 = image_ids(studio)["Images/coat_length_labels/c1.jpg"]
    first, second = open_page(PAGE, annotator="ann"), open_page(PAGE, annotator="bob")
    for at in (first, second):
        at.button(key=f"browse_open_{c1}").click().run()
    second.selectbox(key=f"browse_edit_value_{c1}_{COAT}").set_value("Long Length")
    second.button(key="browse_edit_save").click().run()
    first.selectbox(key=f"browse_edit_value_{c1}_{COAT}").set_value("Invisible")  # still shows the old value
    first.button(key="browse_edit_save").click().run()
    history = store.edit_history(ds, c1)
    assert history[["annotator", "old_value", "new_value"]].values.tolist() == [
        ["bob", "Regular Length", "Long Length"],
    ]  # no silent last write wins: ann's save, made on what she saw before, is refused
    assert any("Not saved: while you looked, bob changed it at" in seen_text(e.value) for e in first.error)
    assert store.current_value(ds, c1, COAT) == "Long Length"
    first.selectbox(key=f"browse_edit_value_{c1}_{COAT}").set_value("Invisible")  # the view reloaded
    first.button(key="browse_edit_save").click().run()
    assert store.current_value(ds, c1, COAT) == "Invisible"
    assert not first.exception and not second.exception


def test_multi_label_filter_detail_and_bulk_add(studio, open_page, tmp_path):
    store = studio.store
    ids = add_multilabel_dataset(store, tmp_path / "styles")
    at = open_page(PAGE, dataset="styles")
    at.selectbox(key="browse_category").set_value("style").run()
    at.multiselect(key="browse_values").set_value(["sporty"]).run()
    assert [c.key for c in at.checkbox] == [f"browse_pick_{ids['m3.jpg']}"]
    at.multiselect(key="browse_values").set_value([NO_VALUE]).run()
    assert [c.key for c in at.checkbox] == [f"browse_pick_{ids['m4.jpg']}"]
    at.multiselect(key="browse_values").set_value([]).run()
    at.button(key="browse_select_page").click().run()
    at.segmented_control(key="browse_bulk_mode").set_value("add").run()
    at.multiselect(key="browse_bulk_multi").set_value(["sporty"])
    at.button(key="browse_bulk_apply").click().run()
    now = {p: store.current_value("styles", i, "style") for p, i in ids.items()}
    assert now == {
        "m1.jpg": "formal|casual|sporty",
        "m2.jpg": "casual|sporty",
        "m3.jpg": "casual|sporty",
        "m4.jpg": "sporty",
    }
    m2 = ids["m2.jpg"]
    at.button(key=f"browse_open_{m2}").click().run()
    at.multiselect(key=f"browse_edit_multi_{m2}_style").set_value(["formal"])
    at.button(key="browse_edit_save").click().run()
    assert store.current_value("styles", m2, "style") == "formal"
    assert not at.exception and not at.error
