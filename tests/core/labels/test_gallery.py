"""Tests of the gallery queries (SQL over the current labels) and bulk relabel/undo."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from fashion_core.errors import SchemaError, StoreError
from fashion_core.labels import gallery as gal
from fashion_core.schema import FASHIONAI, Category, Kind, Schema
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore

SLEEVE, COAT = "sleeve_length_labels", "coat_length_labels"
# path -> (category, value, maybe); ids follow this order (1..8).
ROWS = {
    "img/a1.jpg": (SLEEVE, "Long Sleeves", ""),
    "img/a2.jpg": (SLEEVE, "Long Sleeves", "Wrist Length"),
    "img/a3.jpg": (SLEEVE, "Short Sleeves", ""),
    "img/a4.jpg": (SLEEVE, "Invisible", ""),
    "img/B5.jpg": (COAT, "Regular Length", ""),
    "img/b6.jpg": (COAT, "Long Length", "Knee Length"),
    "img/b7.jpg": (COAT, "Regular Length", ""),
    "img/b8.jpg": (COAT, "Invisible", ""),
}
STYLE = Category("style", ("s1", "s10", "s2"), Kind.MULTI)


def _dataset(store: LabelStore, name: str, schema: Schema, rows: dict) -> dict[str, int]:
    store.create_dataset(name, schema, Path("/nonexistent/images"), "test")
    store.add_images(name, [ImageRecord(p) for p in rows])
    store.add_annotations(name, [AnnotationRecord(p, c, v, m) for p, (c, v, m) in rows.items()])
    return store.image_ids(name)


@pytest.fixture
def ids(store: LabelStore) -> dict[str, int]:
    return _dataset(store, "fa", FASHIONAI, ROWS)


@pytest.fixture
def multi(store: LabelStore) -> dict[str, int]:
    rows = {
        "m1.jpg": ("style", "s1", ""),
        "m2.jpg": ("style", "s10|s2", ""),
        "m3.jpg": ("style", "", ""),
        "m4.jpg": ("style", "s1|s10", ""),
    }
    return _dataset(store, "jd", Schema("mini", (STYLE,)), rows)


def _query(store, dataset="fa", **kw) -> gal.GalleryPage:
    page, size = kw.pop("page", 1), kw.pop("page_size", 60)
    return gal.query_gallery(store, dataset, gal.GalleryFilters(**kw), page=page, page_size=size)


def _paths(result: gal.GalleryPage) -> list[str]:
    return result.rows["path"].tolist()


def test_all_images_in_id_order_with_captions(store, ids):
    result = _query(store)
    assert result.total == 8 and result.pages == 1 and _paths(result) == list(ROWS)
    first = result.rows.iloc[0]
    assert first["value"] == "sleeve length: Long Sleeves" and first["caption"].startswith(
        f"#{ids['img/a1.jpg']}"
    )
    assert list(result.rows.columns) == gal.ROW_COLUMNS


def test_category_and_values_filters(store, ids):
    assert _paths(_query(store, category=SLEEVE)) == ["img/a1.jpg", "img/a2.jpg", "img/a3.jpg", "img/a4.jpg"]
    assert _paths(_query(store, category=SLEEVE, values=("Long Sleeves",))) == ["img/a1.jpg", "img/a2.jpg"]
    both = _query(store, category=COAT, values=("Invisible", "Long Length"))
    assert _paths(both) == ["img/b6.jpg", "img/b8.jpg"] and both.rows["value"].tolist() == [
        "Long Length",
        "Invisible",
    ]


def test_maybe_edited_and_search_filters(store, ids):
    assert _paths(_query(store, maybe="with")) == ["img/a2.jpg", "img/b6.jpg"]
    assert _paths(_query(store, category=COAT, maybe="without")) == ["img/B5.jpg", "img/b7.jpg", "img/b8.jpg"]
    assert _query(store, edited="edited").total == 0
    store.edit_label("fa", ids["img/b7.jpg"], COAT, "Long Length", annotator="t")
    assert _paths(_query(store, edited="edited")) == ["img/b7.jpg"]
    assert _paths(_query(store, category=COAT, values=("Long Length",))) == ["img/b6.jpg", "img/b7.jpg"]
    assert _query(store, category=SLEEVE, edited="unedited").total == 4
    assert _paths(_query(store, search="b5")) == ["img/B5.jpg"]  # case-insensitive
    assert _paths(_query(store, search=f"#{ids['img/a3.jpg']}")) == ["img/a3.jpg"]
    assert _query(store, search="nothing-like-this").total == 0


def test_an_edit_settles_a_maybe_mark(store, ids):
    store.edit_label("fa", ids["img/a2.jpg"], SLEEVE, "Long Sleeves", annotator="t")  # confirmed as is
    assert _paths(_query(store, maybe="with")) == ["img/b6.jpg"]
    assert "img/a2.jpg" in _paths(_query(store, category=SLEEVE, maybe="without"))


def test_pagination_clamps_and_validates(store, ids):
    result = _query(store, page=2, page_size=3)
    assert (result.total, result.pages, result.page) == (8, 3, 2)
    assert _paths(result) == list(ROWS)[3:6]
    assert _query(store, page=99, page_size=3).page == 3
    assert _query(store, page=0, page_size=3).page == 1
    with pytest.raises(ValueError, match="page_size"):
        _query(store, page_size=0)


def test_bad_filters_are_clear_errors(store, ids):
    with pytest.raises(SchemaError, match="known"):
        _query(store, category="nope")
    with pytest.raises(SchemaError, match="Long Sleeves"):
        _query(store, category=COAT, values=("Long Sleeves",))
    with pytest.raises(ValueError, match="maybe="):
        gal.GalleryFilters(maybe="sometimes")
    with pytest.raises(ValueError, match="category"):
        gal.GalleryFilters(values=("Invisible",))


def test_multi_label_values_match_whole_class_names(store, multi):
    assert _paths(_query(store, "jd", category="style", values=("s1",))) == ["m1.jpg", "m4.jpg"]
    assert _paths(_query(store, "jd", category="style", values=("s10",))) == ["m2.jpg", "m4.jpg"]
    assert _paths(_query(store, "jd", category="style", values=(gal.NO_VALUE,))) == ["m3.jpg"]
    rows = _query(store, "jd", category="style").rows
    assert rows["value"].tolist() == ["s1", "s10, s2", gal.NO_VALUE, "s1, s10"]


def test_excluded_image_stays_in_the_gallery(store, ids):
    store.edit_label("fa", ids["img/a4.jpg"], SLEEVE, None, annotator="t")
    assert "img/a4.jpg" not in _paths(_query(store, category=SLEEVE))
    every = _query(store)
    assert every.total == 8
    assert every.rows.set_index("path").loc["img/a4.jpg", "value"] == "(no label)"
    assert _paths(_query(store, edited="edited")) == ["img/a4.jpg"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["image_id", "category", "value", "maybe", "edited"]
    return frame[cols].sort_values(["image_id", "category"], ignore_index=True).astype({"edited": bool})


def test_current_labels_of_agrees_with_the_store(store, ids):
    steps = [
        lambda: store.edit_label("fa", ids["img/a1.jpg"], SLEEVE, "Cup Sleeves", annotator="t"),
        lambda: store.edit_label("fa", ids["img/b6.jpg"], COAT, None, annotator="t"),  # exclude
        lambda: store.edit_label("fa", ids["img/a1.jpg"], COAT, "Invisible", annotator="t"),  # a new cell
        lambda: store.edit_label("fa", ids["img/a1.jpg"], SLEEVE, "Long Sleeves", annotator="t"),
        lambda: store.undo_edit(
            int(store.edit_history("fa", ids["img/b6.jpg"])["id"].iloc[0]), annotator="t"
        ),
    ]
    every = list(ids.values())
    for step in [lambda: None, *steps]:
        step()
        mine = _sorted(gal.current_labels_of(store, "fa", every))
        pd.testing.assert_frame_equal(mine, _sorted(store.current_labels("fa")), check_dtype=False)
    some = gal.current_labels_of(store, "fa", [ids["img/a1.jpg"]])
    assert some[["category", "value", "edited"]].values.tolist() == [
        [COAT, "Invisible", True],
        [SLEEVE, "Long Sleeves", True],
    ]
    b6 = gal.current_labels_of(store, "fa", [ids["img/b6.jpg"]]).iloc[0]
    assert (b6["value"], b6["maybe"], b6["edited"]) == ("Long Length", "", True)  # an edit settles the doubt


def test_a_new_cell_is_found_under_its_category(store, ids):
    store.edit_label("fa", ids["img/a1.jpg"], COAT, "Invisible", annotator="t")  # a1 had no coat label
    assert _paths(_query(store, category=COAT, values=("Invisible",))) == ["img/a1.jpg", "img/b8.jpg"]
    assert _query(store).rows.set_index("path").loc["img/a1.jpg", "value"] == (
        "coat length: Invisible; sleeve length: Long Sleeves"
    )


def test_other_datasets_do_not_leak_in(store, ids):
    _dataset(store, "other", FASHIONAI, {"img/a1.jpg": (SLEEVE, "Invisible", "")})  # same path
    assert _query(store).total == 8 and _query(store, "other").total == 1
    assert _paths(_query(store, category=SLEEVE, values=("Invisible",))) == ["img/a4.jpg"]


def test_image_labels_show_original_current_and_latest_edit(store, ids):
    a2 = ids["img/a2.jpg"]
    store.edit_label("fa", a2, SLEEVE, "Short Sleeves", annotator="t")
    second = store.edit_label("fa", a2, SLEEVE, None, annotator="t", reason="not a sleeve")
    table = gal.image_labels(
        FASHIONAI, gal.current_labels_of(store, "fa", [a2]), store.edit_history("fa", a2)
    )
    row = table.set_index("category").loc[SLEEVE]
    assert (row["original"], row["current"], row["edited"]) == ("Long Sleeves", None, True)
    assert row["latest_edit_id"] == second.id
    coat = table.set_index("category").loc[COAT]
    assert coat["original"] is None and coat["current"] is None and not coat["edited"]
    assert table["category"].tolist() == FASHIONAI.category_names


def test_relabel_images_edits_reports_and_keeps_originals(store, ids):
    before = store.original_labels("fa")
    calls = []
    targets = [ids["img/B5.jpg"], ids["img/b6.jpg"], ids["img/b8.jpg"], 999_999]
    report = gal.relabel_images(
        store,
        "fa",
        targets,
        COAT,
        "Invisible",
        annotator="bulk",
        reason="r",
        on_progress=lambda d, t: calls.append((d, t)),
    )
    assert [e.image_id for e in report.edits] == targets[:2]
    assert report.unchanged == [ids["img/b8.jpg"]] and list(report.failed) == [999_999]
    assert calls[-1] == (4, 4)
    assert store.current_value("fa", ids["img/B5.jpg"], COAT) == "Invisible"
    assert all(e.annotator == "bulk" and e.reason == "r" for e in report.edits)
    pd.testing.assert_frame_equal(store.original_labels("fa"), before)
    undone = gal.undo_edits(store, report.edit_ids, annotator="bulk")
    assert len(undone.edits) == 2 and not undone.failed
    assert store.current_value("fa", ids["img/B5.jpg"], COAT) == "Regular Length"


def test_relabel_validates_before_editing(store, ids):
    n = store.counts("fa")["label_edits"]
    with pytest.raises(SchemaError):
        gal.relabel_images(store, "fa", [ids["img/B5.jpg"]], COAT, "Long Sleeves", annotator="t")
    with pytest.raises(StoreError, match="annotator"):
        gal.relabel_images(store, "fa", [ids["img/B5.jpg"]], COAT, "Invisible", annotator="  ")
    with pytest.raises(ValueError, match="multi-label"):
        gal.relabel_images(store, "fa", [ids["img/B5.jpg"]], COAT, ["Invisible"], mode="add", annotator="t")
    assert store.counts("fa")["label_edits"] == n


def test_multi_label_add_remove_and_exclude(store, multi):
    m1, m2, m3 = multi["m1.jpg"], multi["m2.jpg"], multi["m3.jpg"]
    added = gal.relabel_images(store, "jd", [m1, m2, m3], "style", ["s2"], mode="add", annotator="t")
    assert [store.current_value("jd", i, "style") for i in (m1, m2, m3)] == ["s1|s2", "s10|s2", "s2"]
    assert added.unchanged == [m2]
    gal.relabel_images(store, "jd", [m1, m2], "style", ["s2", "s10"], mode="remove", annotator="t")
    assert [store.current_value("jd", i, "style") for i in (m1, m2)] == ["s1", ""]
    gal.relabel_images(store, "jd", [m3], "style", None, annotator="t")
    assert store.current_value("jd", m3, "style") is None
    removed = gal.relabel_images(store, "jd", [m3], "style", ["s2"], mode="remove", annotator="t")
    assert removed.unchanged == [m3]  # an excluded cell stays excluded


def test_undo_edits_collects_the_ones_no_longer_latest(store, ids):
    b5 = ids["img/B5.jpg"]
    first = store.edit_label("fa", b5, COAT, "Long Length", annotator="t")
    store.edit_label("fa", b5, COAT, "Invisible", annotator="someone else")
    report = gal.undo_edits(store, [first.id], annotator="t")
    assert report.edits == [] and "not the latest" in report.failed[first.id]
    assert store.current_value("fa", b5, COAT) == "Invisible"


def test_queries_are_fast_on_a_big_dataset(store):
    n = 30_000
    cats = FASHIONAI.categories
    rows = {
        f"Images/x/{i:06d}.jpg": (
            cats[i % 8].name,
            cats[i % 8].values[i % 3],
            "Invisible" if i % 50 == 0 else "",
        )
        for i in range(n)
    }
    ids = _dataset(store, "big", FASHIONAI, rows)
    store.edit_label("big", ids["Images/x/000008.jpg"], cats[0].name, None, annotator="t")
    for filters in [
        gal.GalleryFilters(),
        gal.GalleryFilters(SLEEVE, ("Sleeveless", "Invisible"), "without"),
        gal.GalleryFilters(maybe="with", search="0001"),
        gal.GalleryFilters(cats[0].name, edited="edited"),
        gal.GalleryFilters(edited="unedited"),
    ]:
        t0 = time.perf_counter()
        result = gal.query_gallery(store, "big", filters, page=2, page_size=60)
        assert time.perf_counter() - t0 < 1.0, filters  # typically ~0.05 s; generous for a shared machine
        assert result.total > 0 or filters.edited == "edited"
    assert gal.query_gallery(store, "big", gal.GalleryFilters(edited="unedited")).total == n - 1
