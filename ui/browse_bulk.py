"""Browse's selection of images and its bulk relabel (with undo of the last bulk relabel)."""

from __future__ import annotations

import streamlit as st

from fashion_core.errors import FashionCoreError
from fashion_core.labels import gallery as gal
from fashion_core.schema import Kind
from fashion_core.store import DatasetInfo
from ui.services import get_store
from ui.text import plain
from ui.widgets import annotator_name, flash, progress_callback

K_SELECTED, K_LAST_BULK, K_FLASH = "browse_selected", "browse_last_bulk", "browse_flash"
PICK = "browse_pick_"  # + image id: the checkbox of a tile


# -- selection -------------------------------------------------------------------------------


def selected() -> list[int]:
    return list(st.session_state.get(K_SELECTED, []))


def toggle(image_id: int) -> None:
    chosen = set(selected())
    chosen.symmetric_difference_update({image_id})
    st.session_state[K_SELECTED] = sorted(chosen)


def select(ids: list[int]) -> None:
    st.session_state[K_SELECTED] = sorted(set(selected()) | set(ids))
    for i in ids:
        st.session_state[f"{PICK}{i}"] = True


def clear_selection() -> None:
    for i in selected():
        st.session_state.pop(f"{PICK}{i}", None)
    st.session_state[K_SELECTED] = []


# -- bulk relabel ----------------------------------------------------------------------------


def bulk_relabel(info: DatasetInfo, filters: gal.GalleryFilters) -> None:
    chosen = selected()
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
        mode = (
            st.segmented_control(
                "Change", ["set", "add", "remove", "exclude"], default="set", key="browse_bulk_mode"
            )
            or "set"
        )
        value = (
            None
            if mode == "exclude"
            else st.multiselect("Classes", list(cat.values), key="browse_bulk_multi")
        )
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
            get_store(),
            info.name,
            chosen,
            category,
            value,
            mode=mode,
            annotator=annotator_name(),
            reason=reason or None,
            on_progress=progress_callback("Relabelling"),
        )
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    st.session_state[K_LAST_BULK] = report.edit_ids
    msg = f"Relabelled {len(report.edits):,} images; {len(report.unchanged):,} already had that label."
    if report.failed:
        msg += f" {len(report.failed):,} failed: " + "; ".join(
            f"#{i}: {plain(r)}" for i, r in list(report.failed.items())[:5]
        )
    flash(K_FLASH, msg)
    clear_selection()
    st.rerun()


def _run_undo(edit_ids: list[int]) -> None:
    report = gal.undo_edits(
        get_store(),
        edit_ids,
        annotator=annotator_name() or "unknown",
        on_progress=progress_callback("Undoing"),
    )
    st.session_state[K_LAST_BULK] = []
    msg = f"Undid {len(report.edits):,} edits."
    if report.failed:
        msg += f" {len(report.failed):,} could not be undone (changed again since): " + "; ".join(
            map(plain, list(report.failed.values())[:3])
        )
    flash(K_FLASH, msg)
    st.rerun()
