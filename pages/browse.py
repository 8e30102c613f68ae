"""Browse: the dataset's images filtered by label, a detail view to relabel, bulk relabel."""

from __future__ import annotations

import hashlib
from dataclasses import astuple

import numpy as np
import streamlit as st

from fashion_core.imaging import GALLERY_SIZE
from fashion_core.labels import gallery as gal
from fashion_core.store import DatasetInfo
from ui.browse_bulk import K_FLASH, PICK, bulk_relabel, clear_selection, select, selected, toggle
from ui.image_detail import render_image_detail
from ui.page import PageContext, run_page
from ui.services import get_store
from ui.text import plain
from ui.widgets import flash, served_thumbnails

ALL = "All categories"
PAGE_SIZES = [24, 60, 120]
MAYBE_LABELS = {"any": "Any", "with": "With maybe", "without": "Without"}
EDITED_LABELS = {"any": "Any", "edited": "Edited", "unedited": "Not edited"}

K_DATASET, K_CATEGORY, K_VALUES = "browse_dataset", "browse_category", "browse_values"
K_MAYBE, K_EDITED, K_SEARCH, K_PAGE_SIZE = (
    "browse_maybe",
    "browse_edited",
    "browse_search",
    "browse_page_size",
)
K_OPEN = "browse_open"


# -- state -----------------------------------------------------------------------------------


def _reset_for(dataset: str) -> None:
    """Filters, selection and detail view belong to one dataset; start afresh on another."""
    if st.session_state.get(K_DATASET) == dataset:
        return
    for key in [k for k in st.session_state if str(k).startswith("browse_")]:
        del st.session_state[key]
    st.session_state[K_DATASET] = dataset


def _open(image_id: int) -> None:
    st.session_state[K_OPEN] = int(image_id)


def _close() -> None:
    st.session_state.pop(K_OPEN, None)
    st.session_state.pop("browse_seen", None)  # reopened later, the image shows the label then in force


def _clear_filters() -> None:
    for key in (K_CATEGORY, K_VALUES, K_MAYBE, K_EDITED, K_SEARCH):
        st.session_state.pop(key, None)


def _clear_values() -> None:
    st.session_state.pop(K_VALUES, None)


# -- data ------------------------------------------------------------------------------------


@st.cache_data(max_entries=16, show_spinner=False)
def _matching(db: str, dataset: str, version: tuple, filters: tuple) -> np.ndarray:
    """Ids of every matching image: one SQL query per labels version and filter set."""
    return gal.matching_ids(get_store(), dataset, gal.GalleryFilters(*filters))


@st.cache_data(max_entries=64, show_spinner=False)
def _page(
    db: str, dataset: str, version: tuple, filters: tuple, page: int, page_size: int
) -> gal.GalleryPage:
    """One page of the gallery; keyed on the labels version, so an edit means a fresh answer."""
    ids = _matching(db, dataset, version, filters)
    return gal.slice_page(get_store(), dataset, ids, filters[0], page=page, page_size=page_size)


# -- filters and gallery ---------------------------------------------------------------------


def _filters(info: DatasetInfo) -> tuple[gal.GalleryFilters, int]:
    schema = info.schema
    # Two rows: category names and value chips are long, and need the width to stay readable.
    cols = st.columns([1, 2], vertical_alignment="bottom")
    cols += st.columns([1.5, 1.5, 2.5, 1], vertical_alignment="bottom")
    names = [ALL] + schema.category_names
    if st.session_state.get(K_CATEGORY) not in names:
        st.session_state.pop(K_CATEGORY, None)
    category = cols[0].selectbox("Category", names, key=K_CATEGORY, on_change=_clear_values)
    cat = None if category == ALL else schema.category(category)
    values = cols[1].multiselect(
        "Values",
        gal.value_choices(cat) if cat else [],
        key=K_VALUES,
        disabled=cat is None,
        placeholder="any value" if cat else "choose a category first",
    )
    maybe = cols[2].selectbox("Maybe marks", list(MAYBE_LABELS), format_func=MAYBE_LABELS.get, key=K_MAYBE)
    edited = cols[3].selectbox("Edits", list(EDITED_LABELS), format_func=EDITED_LABELS.get, key=K_EDITED)
    search = cols[4].text_input("Search", key=K_SEARCH, placeholder="image id or path text")
    page_size = cols[5].selectbox("Per page", PAGE_SIZES, index=PAGE_SIZES.index(60), key=K_PAGE_SIZE)
    filters = gal.GalleryFilters(cat.name if cat else None, tuple(values), maybe, edited, search)
    return filters, int(page_size)


def _page_key(filters: gal.GalleryFilters, page_size: int) -> str:
    # A new key per filter set: changing a filter starts the pagination again at page 1.
    digest = hashlib.sha1(repr((filters, page_size)).encode()).hexdigest()[:10]
    return f"browse_page_{digest}"


def _gallery(info: DatasetInfo, result: gal.GalleryPage) -> None:
    rows = result.rows
    report = served_thumbnails(info, rows["path"].tolist(), GALLERY_SIZE)
    grid = st.grid("auto", min_column_width=150, gap="small")
    for row in rows.itertuples(index=False):
        with grid.cell():
            _tile(row, report)
    for path, problem in list(report.problems.items())[:5]:
        st.caption(f":orange[{plain(path)}: {plain(problem)}]")


def _tile(row, report) -> None:
    image_id = int(row.image_id)
    thumb = report.thumbnails.get(row.path)
    if thumb is not None:
        st.image(str(thumb), width="stretch", alt=row.caption, output_format="JPEG")  # no format sniffing
    else:
        st.warning(f"#{image_id}: no preview", icon=":material/broken_image:")
    key = f"{PICK}{image_id}"
    if key not in st.session_state:
        st.session_state[key] = image_id in set(selected())
    # Controls straight under the image, caption last: rows line up whatever the caption's length.
    with st.container(horizontal=True, vertical_alignment="center"):
        st.checkbox("Select", key=key, on_change=toggle, args=(image_id,))
        st.button(
            "Open",
            key=f"browse_open_{image_id}",
            icon=":material/zoom_in:",
            type="tertiary",
            on_click=_open,
            args=(image_id,),
        )
    st.caption(plain(row.caption))


# -- detail view -----------------------------------------------------------------------------


@st.dialog("Image details", width="large", on_dismiss=_close)
def _detail(info: DatasetInfo, image_id: int, matching: np.ndarray) -> None:
    # Previous / Next step through every matching image by id, also once a relabel took
    # this one out of the filter (e.g. "no label yet": label it, Next is the next unlabelled).
    render_image_detail(
        info,
        image_id,
        prefix="browse",
        neighbours=[],
        open_image=_open,
        close=_close,
        flash_key=K_FLASH,
        category=st.session_state.get(K_CATEGORY),
        step=lambda i: gal.step_ids(matching, i),
    )


# -- page ------------------------------------------------------------------------------------


def main(ctx: PageContext) -> None:
    store, info = ctx.store, ctx.require_dataset()
    _reset_for(info.name)
    flash(K_FLASH)
    version = tuple(store.labels_version(info.name))
    filters, page_size = _filters(info)
    page_key = _page_key(filters, page_size)
    page = int(st.session_state.get(page_key, 1))
    with st.spinner("Finding images..."):
        result = _page(str(store.db_path), info.name, (info.id, *version), astuple(filters), page, page_size)
    if info.active_map:
        st.caption(
            f"Labels as stored (label map **{plain(info.active_map)}** is not applied here: "
            "these are the labels you edit)."
        )
    _toolbar(result)
    bulk_relabel(info, filters)
    if result.total == 0:
        st.info("No image matches these filters.", icon=":material/filter_alt_off:")
        st.button("Clear filters", icon=":material/filter_alt_off:", on_click=_clear_filters)
    else:
        _gallery(info, result)
        st.pagination(result.pages, key=page_key, max_visible_pages=9)
    open_id = st.session_state.get(K_OPEN)
    if open_id is not None:
        matching = _matching(str(store.db_path), info.name, (info.id, *version), astuple(filters))
        _detail(info, int(open_id), matching)


def _toolbar(result: gal.GalleryPage) -> None:
    first = (result.page - 1) * result.page_size + 1
    last = min(result.page * result.page_size, result.total)
    with st.container(horizontal=True, vertical_alignment="center"):
        shown = f"Images {first:,}–{last:,} of {result.total:,}" if result.total else "0 images"
        st.markdown(f"{shown} · page {result.page:,} of {result.pages:,} · **{len(selected()):,} selected**")
        st.space("stretch")
        st.button(
            "Select page",
            key="browse_select_page",
            icon=":material/select_all:",
            on_click=select,
            args=(result.rows["image_id"].astype(int).tolist(),),
            disabled=result.total == 0,
        )
        st.button(
            "Clear selection",
            key="browse_clear_selection",
            icon=":material/deselect:",
            on_click=clear_selection,
            disabled=not selected(),
        )


run_page(main, title="Browse")
