"""Regroup: look at values side by side, merge/rename/drop them into a named label map, switch maps."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fashion_core.errors import FashionCoreError
from fashion_core.labels import LabelMap, preview_map
from fashion_core.labels import maps as label_maps
from fashion_core.paths import join_inside, safe_part
from fashion_core.store import DatasetInfo, LabelStore
from fashion_core.views import before_after_figure
from ui import regroup_draft as draft_state
from ui.page import PageContext, run_page
from ui.regroup_draft import ACTIONS, NEW_NAME, NO_MAP, values_key
from ui.regroup_samples import merge_suggestions, samples
from ui.services import get_store
from ui.text import plain

ACTIVE_PICK = "regroup_active"  # the active-map box's widget state
ACTIVE_SEEN = "regroup_active_seen"  # (dataset, active map) when the box was last set from the store
POLICY_HELP = {
    "keep": "keep: use the y value (multi-label: marked values count as positives)",
    "drop": "drop: images with any m mark leave the category",
    "negative": "negative: marked values are negatives (multi-label)",
}


@st.cache_data(max_entries=4, show_spinner=False)
def _labels(db_path: str, dataset: str, version: tuple) -> pd.DataFrame:
    """Current labels (no map), cached per labels version: pages rerun on every click."""
    return get_store().current_labels(dataset)


def _map_bar(store: LabelStore, info: DatasetInfo) -> None:
    names = label_maps.map_names(store)
    c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    options = [NO_MAP, *names]
    active = info.active_map if info.active_map in options else NO_MAP
    if st.session_state.get(ACTIVE_SEEN) != (info.name, active):
        # The active map changed (saved with "make it active", switched, another tab): the box's
        # own state would keep showing, and "Switch" would then restore, the old one.
        st.session_state[ACTIVE_SEEN] = (info.name, active)
        st.session_state[ACTIVE_PICK] = active
    c1.selectbox(
        "Active map of this dataset (pages, training and evaluation read through it)",
        options,
        key=ACTIVE_PICK,
    )
    c1.button(
        "Switch active map", key="regroup_switch", on_click=draft_state.switch_active, args=(info.name,)
    )
    c2.selectbox("Saved maps", names or ["(none saved yet)"], key="regroup_load_name", disabled=not names)
    c2.button(
        "Load into draft",
        key="regroup_load",
        disabled=not names,
        on_click=lambda: draft_state.load(st.session_state.get("regroup_load_name")),
    )
    c3.caption("The FashionAI source's merges (lapel, neck, sleeve) as a ready map.")
    c3.button("Load the example map", key="regroup_example", on_click=draft_state.load, args=(None, True))


def _step_builder(info: DatasetInfo, category: str, values: list[str], counts: dict[str, int]) -> None:
    with st.container(border=True):
        st.multiselect(
            "Values to look at and change",
            values,
            key=values_key(category),
            format_func=lambda v: f"{v} ({counts.get(v, 0):,})",
        )
        action = st.radio(
            "Step",
            list(ACTIONS),
            key="regroup_action",
            horizontal=True,
            format_func=lambda a: a,
            captions=[caption for caption, _ in ACTIONS.values()],
        )
        if action == "Merge":
            st.selectbox("Merge into", [NEW_NAME, *values], key="regroup_target")
        if action == "Rename" or (
            action == "Merge" and st.session_state.get("regroup_target", NEW_NAME) == NEW_NAME
        ):
            st.text_input("New name", key="regroup_new_name")
        if action == "m marks":
            st.selectbox("m marks", list(POLICY_HELP), key="regroup_policy", format_func=POLICY_HELP.get)
        st.button(
            "Add step to the draft",
            key="regroup_add",
            type="primary",
            on_click=draft_state.add_step,
            args=(info.schema,),
        )


def _draft_panel(info: DatasetInfo, draft: LabelMap) -> None:
    st.subheader("Draft map")
    if draft.steps:
        st.markdown("\n".join(f"{i}. {plain(s.describe())}" for i, s in enumerate(draft.steps, start=1)))
    else:
        st.caption("No step yet: the draft leaves the labels as they are.")
    c1, c2 = st.columns(2)
    c1.button("Undo last step", key="regroup_undo", on_click=draft_state.undo, disabled=not draft.steps)
    c2.button("Clear draft", key="regroup_clear", on_click=draft_state.clear, disabled=not draft.steps)
    st.text_input("Map name", key=draft_state.MAP_NAME, placeholder="e.g. sleeves_merged")
    st.text_input("Note (optional)", key="regroup_note")
    st.checkbox(f"Make it the active map of {info.name!r}", key="regroup_activate", value=True)
    st.button(
        "Save map (a new version)",
        key="regroup_save",
        type="primary",
        on_click=draft_state.save,
        args=(info.name,),
    )


def _export(ctx: PageContext, info: DatasetInfo) -> None:
    with st.expander("Export as folders (for keras.utils.image_dataset_from_directory)"):
        st.caption(
            f"Through the active map ({plain(info.active_map or 'none')}); hard links where possible, else copies."
        )
        default = safe_part(f"{info.name}-{info.active_map or 'no-map'}")
        out = st.text_input("Output folder name (new or empty)", default, key="regroup_export_dir",
                            help=f"A folder inside the workspace's exports folder ({ctx.workspace.exports_dir}).")
        if st.button("Export", key="regroup_export"):
            from fashion_core.labels import export_folders

            target = join_inside(ctx.workspace.exports_dir, out.strip())  # a name, never a server path
            with st.spinner("Linking files..."):
                report = export_folders(ctx.store, info.name, target)
            st.success(
                f"{report.linked + report.copied:,} files in {plain(report.out_dir)} ({report.linked:,} links, "
                f"{report.copied:,} copies, {len(report.missing):,} missing)."
            )


def main(ctx: PageContext) -> None:
    store, info = ctx.store, ctx.require_dataset()
    draft_state.start_draft(store, info.name, info.active_map)
    draft_state.show_message()
    _map_bar(store, info)
    draft = draft_state.draft()
    labels = _labels(str(store.db_path), info.name, store.labels_version(info.name))
    try:
        preview = preview_map(draft, info.schema, labels)
    except FashionCoreError as exc:
        st.error(f"The draft does not fit {plain(repr(info.name))}: {plain(exc)}")
        st.button("Clear draft", key="regroup_clear_bad", on_click=draft_state.clear)
        return
    category = st.selectbox("Category", info.schema.category_names, key="regroup_category")
    table = preview.counts(category)
    values = list(preview.after[0].category(category).values)
    counts = dict(zip(table["value"], table["after"]))
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(before_after_figure(table, category), key="regroup_chart")
        _step_builder(info, category, values, counts)
    with right:
        _draft_panel(info, draft)
    st.subheader("Samples")
    picked = [v for v in st.session_state.get(values_key(category)) or [] if v in values]
    samples(info, preview.after[1], category, picked)
    merge_suggestions(info, preview.after)
    _export(ctx, info)


run_page(
    main,
    title="Regroup values",
    caption=(
        "Merge values people cannot tell apart, rename or drop them. The stored labels never change: "
        "a label map is a named, versioned view you can switch off again."
    ),
)
