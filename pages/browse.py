"""Browse: the dataset's images filtered by label, a detail view to relabel, bulk relabel."""

from __future__ import annotations

import hashlib
from dataclasses import astuple

import numpy as np
import pandas as pd
import streamlit as st

from fashion_core import gallery as gal
from fashion_core.errors import FashionCoreError
from fashion_core.schema import Kind, split_value
from fashion_core.store import DatasetInfo
from fashion_core.thumbnails import (
    GALLERY_SIZE,
    PREVIEW_SIZE,
    ThumbnailCache,
    ThumbnailReport,
    ensure_thumbnails,
    served_file,
)
from ui.services import get_store, get_workspace
from ui.widgets import annotator_name, flash, progress_callback, require_dataset

ALL = "All categories"
PAGE_SIZES = [24, 60, 120]
MAYBE_LABELS = {"any": "Any", "with": "With maybe", "without": "Without"}
EDITED_LABELS = {"any": "Any", "edited": "Edited", "unedited": "Not edited"}
ACTIONS = {"set": "Set value", "invisible": "Mark Invisible", "exclude": "Exclude from category"}
INVISIBLE = "Invisible"

K_DATASET, K_CATEGORY, K_VALUES = "browse_dataset", "browse_category", "browse_values"
K_MAYBE, K_EDITED, K_SEARCH, K_PAGE_SIZE = "browse_maybe", "browse_edited", "browse_search", "browse_page_size"
K_SELECTED, K_OPEN, K_LAST_BULK, K_FLASH = "browse_selected", "browse_open", "browse_last_bulk", "browse_flash"
K_SEEN = "browse_seen"  # (image id, category, value) the detail view showed last
PICK = "browse_pick_"  # + image id: the checkbox of a tile


# -- state -----------------------------------------------------------------------------------


def _reset_for(dataset: str) -> None:
    """Filters, selection and detail view belong to one dataset; start afresh on another."""
    if st.session_state.get(K_DATASET) == dataset:
        return
    for key in [k for k in st.session_state if str(k).startswith("browse_")]:
        del st.session_state[key]
    st.session_state[K_DATASET] = dataset


def _selected() -> list[int]:
    return list(st.session_state.get(K_SELECTED, []))


def _toggle(image_id: int) -> None:
    chosen = set(_selected())
    chosen.symmetric_difference_update({image_id})
    st.session_state[K_SELECTED] = sorted(chosen)


def _select(ids: list[int]) -> None:
    st.session_state[K_SELECTED] = sorted(set(_selected()) | set(ids))
    for i in ids:
        st.session_state[f"{PICK}{i}"] = True


def _clear_selection() -> None:
    for i in _selected():
        st.session_state.pop(f"{PICK}{i}", None)
    st.session_state[K_SELECTED] = []


def _open(image_id: int) -> None:
    st.session_state[K_OPEN] = int(image_id)


def _close() -> None:
    st.session_state.pop(K_OPEN, None)


def _clear_values() -> None:
    st.session_state.pop(K_VALUES, None)


# -- data ------------------------------------------------------------------------------------


@st.cache_data(max_entries=16, show_spinner=False)
def _matching(db: str, dataset: str, version: tuple, filters: tuple) -> np.ndarray:
    """Ids of every matching image: one SQL query per labels version and filter set."""
    return gal.matching_ids(get_store(), dataset, gal.GalleryFilters(*filters))


@st.cache_data(max_entries=64, show_spinner=False)
def _page(db: str, dataset: str, version: tuple, filters: tuple, page: int, page_size: int) -> gal.GalleryPage:
    """One page of the gallery; keyed on the labels version, so an edit means a fresh answer."""
    ids = _matching(db, dataset, version, filters)
    return gal.slice_page(get_store(), dataset, ids, filters[0], page=page, page_size=page_size)


def _thumbnails(info: DatasetInfo, paths: list[str], size: int) -> ThumbnailReport:
    cache = ThumbnailCache(get_workspace().thumbnails_dir, size=size)
    report = ensure_thumbnails(
        cache, info.id, info.images_root, paths, on_progress=progress_callback("Making thumbnails")
    )
    # Only files inside the thumbnail cache reach the browser.
    report.thumbnails = {p: served_file(f, [cache.root]) for p, f in report.thumbnails.items()}
    return report


# -- filters and gallery ---------------------------------------------------------------------


def _filters(info: DatasetInfo) -> tuple[gal.GalleryFilters, int]:
    schema = info.schema
    cols = st.columns([2.2, 3, 1.6, 1.6, 2, 1], vertical_alignment="bottom")
    names = [ALL] + schema.category_names
    if st.session_state.get(K_CATEGORY) not in names:
        st.session_state.pop(K_CATEGORY, None)
    category = cols[0].selectbox("Category", names, key=K_CATEGORY, on_change=_clear_values)
    cat = None if category == ALL else schema.category(category)
    values = cols[1].multiselect(
        "Values", gal.value_choices(cat) if cat else [], key=K_VALUES, disabled=cat is None,
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
    report = _thumbnails(info, rows["path"].tolist(), GALLERY_SIZE)
    grid = st.grid("auto", min_column_width=150, gap="small")
    for row in rows.itertuples(index=False):
        with grid.cell():
            _tile(row, report)
    for path, problem in list(report.problems.items())[:5]:
        st.caption(f":orange[{path}: {problem}]")


def _tile(row, report) -> None:
    image_id = int(row.image_id)
    thumb = report.thumbnails.get(row.path)
    if thumb is not None:
        st.image(str(thumb), width="stretch", alt=row.caption)
    else:
        st.warning(f"#{image_id}: no preview", icon=":material/broken_image:")
    key = f"{PICK}{image_id}"
    if key not in st.session_state:
        st.session_state[key] = image_id in set(_selected())
    # Controls straight under the image, caption last: rows line up whatever the caption's length.
    with st.container(horizontal=True, vertical_alignment="center"):
        st.checkbox("Select", key=key, on_change=_toggle, args=(image_id,))
        st.button("Open", key=f"browse_open_{image_id}", icon=":material/zoom_in:", type="tertiary",
                  on_click=_open, args=(image_id,))
    st.caption(row.caption)


# -- bulk relabel ----------------------------------------------------------------------------


def _bulk(info: DatasetInfo, filters: gal.GalleryFilters) -> None:
    chosen = _selected()
    with st.expander(f"Bulk relabel ({len(chosen):,} selected)", icon=":material/edit_note:"):
        if not chosen:
            st.caption("Tick **Select** under images (or use **Select page**) to relabel many at once.")
        else:
            _bulk_form(info, filters, chosen)
        last = st.session_state.get(K_LAST_BULK) or []
        if last and st.button(f"Undo the last bulk relabel ({len(last):,} edits)", key="browse_bulk_undo"):
            _run_undo(last)


def _bulk_form(info: DatasetInfo, filters: gal.GalleryFilters, chosen: list[int]) -> None:
    names = info.schema.category_names
    default = names.index(filters.category) if filters.category else 0
    category = st.selectbox("Category", names, index=default, key="browse_bulk_category")
    cat = info.schema.category(category)
    if cat.kind is Kind.MULTI:
        mode = st.segmented_control("Change", ["set", "add", "remove", "exclude"], default="set",
                                    key="browse_bulk_mode") or "set"
        value = None if mode == "exclude" else st.multiselect("Classes", list(cat.values), key="browse_bulk_multi")
        mode = "set" if mode == "exclude" else mode
    else:
        mode = "set"
        options = list(cat.values) + ["(exclude from category)"]
        picked = st.selectbox("New value", options, key="browse_bulk_value")
        value = None if picked == options[-1] else picked
    reason = st.text_input("Reason (optional)", key="browse_bulk_reason")
    if st.button(f"Apply to {len(chosen):,} images", key="browse_bulk_apply", type="primary"):
        _run_bulk(info, chosen, category, value, mode, reason)


def _run_bulk(info: DatasetInfo, chosen: list[int], category: str, value, mode: str, reason: str) -> None:
    if not annotator_name():
        st.error("Enter your name in the sidebar first: it is recorded with every edit.")
        return
    try:
        report = gal.relabel_images(
            get_store(), info.name, chosen, category, value, mode=mode, annotator=annotator_name(),
            reason=reason or None, on_progress=progress_callback("Relabelling"),
        )
    except (FashionCoreError, ValueError) as exc:
        st.error(str(exc))
        return
    st.session_state[K_LAST_BULK] = report.edit_ids
    msg = f"Relabelled {len(report.edits):,} images; {len(report.unchanged):,} already had that label."
    if report.failed:
        msg += f" {len(report.failed):,} failed: " + "; ".join(f"#{i}: {r}" for i, r in list(report.failed.items())[:5])
    flash(K_FLASH, msg)
    _clear_selection()
    st.rerun()


def _run_undo(edit_ids: list[int]) -> None:
    report = gal.undo_edits(get_store(), edit_ids, annotator=annotator_name() or "unknown",
                            on_progress=progress_callback("Undoing"))
    st.session_state[K_LAST_BULK] = []
    msg = f"Undid {len(report.edits):,} edits."
    if report.failed:
        msg += f" {len(report.failed):,} could not be undone (changed again since): " + "; ".join(
            list(report.failed.values())[:3])
    flash(K_FLASH, msg)
    st.rerun()


# -- detail view -----------------------------------------------------------------------------


@st.dialog("Image details", width="large", on_dismiss=_close)
def _detail(info: DatasetInfo, image_id: int, page_ids: list[int]) -> None:
    store = get_store()
    try:
        record = store.image(info.name, image_id)
        history = store.edit_history(info.name, image_id)
        current = gal.current_labels_of(store, info.name, [image_id])
    except FashionCoreError as exc:
        st.error(str(exc))
        return
    table = gal.image_labels(info.schema, current, history)
    _detail_nav(image_id, page_ids)
    left, right = st.columns([2, 3])
    with left:
        _preview(info, record)
    with right:
        _labels_table(info, table, history)
        _relabel(info, image_id, table)
    _history(history)


def _detail_nav(image_id: int, page_ids: list[int]) -> None:
    pos = page_ids.index(image_id) if image_id in page_ids else -1
    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown(f"**Image #{image_id}**")
        st.space("stretch")
        # A full rerun: a dialog's own reruns would replay it with the old image id.
        if st.button("Previous", key="browse_prev", icon=":material/chevron_left:", disabled=pos <= 0):
            _open(page_ids[pos - 1])
            st.rerun()
        if st.button("Next", key="browse_next", icon=":material/chevron_right:",
                     disabled=pos < 0 or pos >= len(page_ids) - 1):
            _open(page_ids[pos + 1])
            st.rerun()
        if st.button("Close", key="browse_close", icon=":material/close:"):
            _close()
            st.rerun()


def _preview(info: DatasetInfo, record) -> None:
    try:
        report = _thumbnails(info, [record["path"]], PREVIEW_SIZE)
    except FashionCoreError as exc:
        st.error(str(exc))
        return
    thumb = report.thumbnails.get(record["path"])
    if thumb is None:
        st.warning(report.problems.get(record["path"], "No preview."), icon=":material/broken_image:")
    else:
        st.image(str(thumb), width="stretch")
    size = f"{record['width']}×{record['height']} {record['format'] or ''}" if record["width"] else ""
    st.caption(f"`{record['path']}` {size}")


def _labels_table(info: DatasetInfo, table: pd.DataFrame, history: pd.DataFrame) -> None:
    shown = table[table["original"].notna() | table["current"].notna() | table["edited"]].copy()
    for col in ("original", "current"):
        shown[col] = [gal.display_value(info.schema.category(c), v) for c, v in zip(shown["category"], shown[col])]
    st.dataframe(
        shown[["category", "original", "current", "maybe", "edited"]], hide_index=True, width="stretch",
        key="browse_detail_labels",
    )
    for row in table[table["latest_edit_id"].notna()].itertuples(index=False):
        edit_id = int(row.latest_edit_id)
        cat = info.schema.category(row.category)
        old = history.loc[history["id"] == edit_id, "old_value"].iloc[0]
        back_to = gal.display_value(cat, None if pd.isna(old) else old)
        if st.button(f"Undo edit #{edit_id} of {gal.short_category(row.category)} (back to {back_to})",
                     key=f"browse_undo_{edit_id}", icon=":material/undo:"):
            try:
                get_store().undo_edit(edit_id, annotator=annotator_name() or "unknown")
            except FashionCoreError as exc:
                st.error(str(exc))
                return
            flash(K_FLASH, f"Undid edit #{edit_id}.")
            st.rerun()


def _relabel(info: DatasetInfo, image_id: int, table: pd.DataFrame) -> None:
    st.markdown("**Relabel**")
    labelled = table.loc[table["current"].notna(), "category"].tolist()
    names = info.schema.category_names
    wanted = st.session_state.get(K_CATEGORY)  # the gallery's category filter, if any
    default = names.index(wanted) if wanted in names else (names.index(labelled[0]) if labelled else 0)
    category = st.selectbox("Category", names, index=default, key=f"browse_edit_cat_{image_id}")
    cat = info.schema.category(category)
    current = table.loc[table["category"] == category, "current"].iloc[0]
    actions = [a for a in ACTIONS if a != "invisible" or INVISIBLE in cat.values]
    action = st.segmented_control("Action", actions, format_func=ACTIONS.get, default="set",
                                  key=f"browse_edit_action_{image_id}_{category}") or "set"
    value: str | list[str] | None = None
    if action == "set" and cat.kind is Kind.MULTI:
        value = st.multiselect("Classes", list(cat.values), default=split_value(current),
                               key=f"browse_edit_multi_{image_id}_{category}")
    elif action == "set":
        index = cat.values.index(current) if current in cat.values else 0
        value = st.selectbox("Value", list(cat.values), index=index, key=f"browse_edit_value_{image_id}_{category}")
    elif action == "invisible":
        value = INVISIBLE
    reason = st.text_input("Reason (optional)", key="browse_edit_reason")
    # What this person last saw: a rerun (the Save click included) re-reads the store first.
    seen = st.session_state.get(K_SEEN)
    shown = seen[2] if seen and seen[:2] == (image_id, category) else current
    st.session_state[K_SEEN] = (image_id, category, current)
    if st.button("Save", key="browse_edit_save", type="primary", icon=":material/save:"):
        _save(info, image_id, category, value, reason, shown=shown)


def _save(info: DatasetInfo, image_id: int, category: str, value, reason: str, *, shown: str | None) -> None:
    if not annotator_name():
        st.error("Enter your name in the sidebar first: it is recorded with every edit.")
        return
    try:
        edit = get_store().edit_label(info.name, image_id, category, value, annotator=annotator_name(),
                                      reason=reason or None)
    except FashionCoreError as exc:
        st.error(str(exc))
        return
    st.session_state.pop("browse_edit_reason", None)
    cat = info.schema.category(category)
    old, new = gal.display_value(cat, edit.old_value), gal.display_value(cat, edit.new_value)
    msg = f"Image #{image_id}, {category}: {old} → {new} (edit #{edit.id})."
    if edit.old_value != shown:  # another session changed it while this one was looking
        msg += f" Note: it had been changed to {old} by someone else meanwhile; both edits are in the log."
    flash(K_FLASH, msg)
    st.rerun()


def _history(history: pd.DataFrame) -> None:
    st.markdown("**Edit history**")
    if history.empty:
        st.caption("No edits yet: the labels are as imported.")
        return
    cols = ["id", "created_at", "annotator", "category", "old_value", "new_value", "reason", "undoes"]
    shown = history[cols].astype({"old_value": object, "new_value": object})
    # No old value: the image had no label there; no new value: the edit excluded it.
    shown["old_value"] = shown["old_value"].where(shown["old_value"].notna(), "(no label)")
    shown["new_value"] = shown["new_value"].where(shown["new_value"].notna(), "(excluded)")
    st.dataframe(shown, hide_index=True, width="stretch", key="browse_detail_history")


# -- page ------------------------------------------------------------------------------------


def main() -> None:
    st.title("Browse")
    info = require_dataset()
    _reset_for(info.name)
    flash(K_FLASH)
    store = get_store()
    try:
        version = tuple(store.labels_version(info.name))
        filters, page_size = _filters(info)
        page_key = _page_key(filters, page_size)
        page = int(st.session_state.get(page_key, 1))
        with st.spinner("Finding images..."):
            result = _page(str(store.db_path), info.name, (info.id, *version), astuple(filters), page, page_size)
    except FashionCoreError as exc:
        st.error(str(exc))
        st.stop()
    if info.active_map:
        st.caption(f"Labels as stored (label map **{info.active_map}** is not applied here: "
                   "these are the labels you edit).")
    _toolbar(result)
    if result.total == 0:
        st.info("No image matches these filters.", icon=":material/filter_alt_off:")
    else:
        _gallery(info, result)
        with st.container(horizontal_alignment="center"):
            st.pagination(result.pages, key=page_key, max_visible_pages=9)
    _bulk(info, filters)
    open_id = st.session_state.get(K_OPEN)
    if open_id is not None:
        _detail(info, int(open_id), result.rows["image_id"].astype(int).tolist())


def _toolbar(result: gal.GalleryPage) -> None:
    first = (result.page - 1) * result.page_size + 1
    last = min(result.page * result.page_size, result.total)
    with st.container(horizontal=True, vertical_alignment="center"):
        shown = f"Images {first:,}–{last:,} of {result.total:,}" if result.total else "0 images"
        st.markdown(f"{shown} · page {result.page:,} of {result.pages:,} · **{len(_selected()):,} selected**")
        st.space("stretch")
        st.button("Select page", key="browse_select_page", icon=":material/select_all:",
                  on_click=_select, args=(result.rows["image_id"].astype(int).tolist(),),
                  disabled=result.total == 0)
        st.button("Clear selection", key="browse_clear_selection", icon=":material/deselect:",
                  on_click=_clear_selection, disabled=not _selected())


main()
