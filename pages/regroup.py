"""Regroup: look at values side by side, merge/rename/drop them into a named label map, switch maps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from fashion_core.labels import maps as label_maps
from fashion_core.errors import FashionCoreError
from fashion_core.analysis.evaluation import evaluable_runs, evaluate_run, load_evaluation
from fashion_core.analysis.merge_suggestions import MergeSuggestion, suggest_merges
from fashion_core.labels.label_map import (
    LabelMap,
    MaybePolicy,
    Op,
    Step,
    apply_label_map,
    before_after_counts,
    mapped_schema,
    sample_by_value,
)
from fashion_core.schema import Schema
from fashion_core.imaging.thumbnails import ThumbnailCache, ensure_thumbnails
from ui.services import active_dataset, get_store, get_workspace
from ui.widgets import served_thumbnails, stage_progress

DRAFT = "regroup_draft"  # the map being built: its file form (a small dict)
DRAFT_FOR = "regroup_draft_for"  # dataset the draft was started for
SEED = "regroup_seed"
MESSAGE = "regroup_message"  # (kind, text) shown once on the next run
MERGE_RUN = "regroup_merge_run"  # the run whose confusion matrix suggests merges
MERGE_SUGGESTIONS = 6  # pairs shown
MERGE_SAMPLES = 4  # sample images per value of a suggested pair
NEW_NAME = "(new name)"
NO_MAP = "(no map)"
ACTIONS = {
    "Merge": "merge into one value",
    "Rename": "rename one value",
    "Drop": "drop (images leave the category)",
    "m marks": "set what m marks mean",
}
POLICY_HELP = {
    "keep": "keep: use the y value (multi-label: marked values count as positives)",
    "drop": "drop: images with any m mark leave the category",
    "negative": "negative: marked values are negatives (multi-label)",
}


@st.cache_data(max_entries=4, show_spinner=False)
def _labels(db_path: str, dataset: str, version: tuple) -> pd.DataFrame:
    """Current labels (no map), cached per labels version: pages rerun on every click."""
    return get_store().current_labels(dataset)


def _values_key(category: str) -> str:
    return f"regroup_values_{category}"  # one selection per category: options differ


def _draft() -> LabelMap:
    return LabelMap.from_dict(st.session_state[DRAFT], "draft")


def _set_draft(label_map: LabelMap) -> None:
    st.session_state[DRAFT] = label_map.to_dict()


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE] = (kind, text)


def _start_draft(store, dataset: str, active: str | None) -> None:
    """A new visit (or another dataset) starts from the dataset's active map, else empty."""
    if st.session_state.get(DRAFT_FOR) == dataset and DRAFT in st.session_state:
        return
    base = label_maps.load_map(store, active) if active else LabelMap("draft")
    _set_draft(base)
    st.session_state[DRAFT_FOR] = dataset
    st.session_state["regroup_map_name"] = active or ""


# -- callbacks: they run before the script, so they may reset widgets ------------------------------


def _add_step(schema: Schema) -> None:
    ss = st.session_state
    category, action = ss["regroup_category"], ss["regroup_action"]
    values = list(ss.get(_values_key(category)) or [])
    try:
        if action == "m marks":
            step = Step(Op.MAYBE, category, policy=MaybePolicy(ss["regroup_policy"]))
        elif not values:
            raise FashionCoreError("Select the values first.")
        elif action == "Merge":
            target = ss.get("regroup_target")
            target = (ss.get("regroup_new_name") or "").strip() if target in (None, NEW_NAME) else target
            step = Step(Op.MERGE, category, tuple(values), target or None)
        elif action == "Rename":
            step = Step(
                Op.RENAME, category, tuple(values), (ss.get("regroup_new_name") or "").strip() or None
            )
        else:
            step = Step(Op.DROP, category, tuple(values))
        draft = _draft().with_steps(step)
        mapped_schema(draft, schema)  # the step must fit the values the draft left
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _set_draft(draft)
    ss[_values_key(category)] = []
    ss["regroup_new_name"] = ""
    _say("success", f"Added: {step.describe()}")


def _add_merge(schema: Schema, category: str, values: tuple[str, ...], target: str) -> None:
    """One click on a merge suggestion: the merge becomes the draft's next step."""
    try:
        step = Step(Op.MERGE, category, values, target)
        draft = _draft().with_steps(step)
        mapped_schema(draft, schema)
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _set_draft(draft)
    _clear_selections()
    _say("success", f"Added: {step.describe()}")


def _undo() -> None:
    try:
        draft = _draft().without_last_step()
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _set_draft(draft)
    _clear_selections()
    _say("success", "Undid the last step of the draft.")


def _clear() -> None:
    _set_draft(LabelMap("draft"))
    _clear_selections()


def _clear_selections() -> None:
    """Selected values may not exist in another draft: forget them."""
    for key in [k for k in st.session_state if str(k).startswith("regroup_values_")]:
        st.session_state[key] = []


def _load(name: str | None, example: bool = False) -> None:
    store = get_store()
    try:
        if example:
            name = label_maps.install_example_maps(store)[0].name
        label_map = label_maps.load_map(store, name)
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _set_draft(label_map)
    st.session_state["regroup_map_name"] = label_map.name
    changed = [step.category for step in label_map.steps]
    if changed and st.session_state.get("regroup_category") not in changed:
        st.session_state["regroup_category"] = changed[0]  # show a category the map changes
    _clear_selections()
    _say(
        "success",
        f"Loaded {label_map.name!r} version {label_map.version} into the draft. It is in use once "
        "it is the active map (*Switch active map*); saving it again makes a new version.",
    )


def _save(dataset: str) -> None:
    ss, store = st.session_state, get_store()
    try:
        draft = LabelMap(
            (ss.get("regroup_map_name") or "").strip(),
            _draft().steps,
            maybe_policy=_draft().maybe_policy,
            description=_draft().description,
        )
        mapped_schema(draft, store.dataset(dataset).schema)
        saved = label_maps.save_map(store, draft, (ss.get("regroup_note") or "").strip() or None)
        if ss.get("regroup_activate"):
            label_maps.activate_map(store, dataset, saved.name)
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _set_draft(saved)
    active = f" It is now the active map of {dataset!r}." if ss.get("regroup_activate") else ""
    _say("success", f"Saved {saved.name!r} version {saved.version}.{active}")


def _switch_active(dataset: str) -> None:
    choice, store = st.session_state["regroup_active"], get_store()
    try:
        if choice == NO_MAP:
            label_maps.deactivate_map(store, dataset)
        else:
            label_maps.activate_map(store, dataset, choice)
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _say(
        "success",
        f"{dataset!r} now reads its labels {'without a map' if choice == NO_MAP else f'through {choice!r}'}.",
    )


# -- layout ----------------------------------------------------------------------------------------------


def _chart(table: pd.DataFrame, category: str) -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(
                name="before", x=table["value"].tolist(), y=table["before"].tolist(), marker_color="#9ecae9"
            ),
            go.Bar(
                name="after",
                x=table["value"].tolist(),
                y=table["after"].tolist(),
                marker_color="#4c78a8",
                text=table["after"].tolist(),
                textposition="outside",
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        title=f"{category}: before and after the draft map",
        yaxis_title="images",
        margin={"t": 90, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
    )
    return fig


def _map_bar(store, info) -> None:
    names = label_maps.map_names(store)
    c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    options = [NO_MAP, *names]
    c1.selectbox(
        "Active map of this dataset (pages, training and evaluation read through it)",
        options,
        index=options.index(info.active_map) if info.active_map in options else 0,
        key="regroup_active",
    )
    c1.button("Switch active map", key="regroup_switch", on_click=_switch_active, args=(info.name,))
    c2.selectbox("Saved maps", names or ["(none saved yet)"], key="regroup_load_name", disabled=not names)
    c2.button(
        "Load into draft",
        key="regroup_load",
        disabled=not names,
        on_click=lambda: _load(st.session_state.get("regroup_load_name")),
    )
    c3.caption("The FashionAI source's merges (lapel, neck, sleeve) as a ready map.")
    c3.button("Load the example map", key="regroup_example", on_click=_load, args=(None, True))


def _step_builder(schema: Schema, category: str, values: list[str], counts: dict[str, int]) -> None:
    with st.container(border=True):
        st.multiselect(
            "Values to look at and change",
            values,
            key=_values_key(category),
            format_func=lambda v: f"{v} ({counts.get(v, 0):,})",
        )
        action = st.radio(
            "Step",
            list(ACTIONS),
            key="regroup_action",
            horizontal=True,
            format_func=lambda a: a,
            captions=list(ACTIONS.values()),
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
            "Add step to the draft", key="regroup_add", type="primary", on_click=_add_step, args=(schema,)
        )


def _samples(info, labels: pd.DataFrame, category: str, values: list[str]) -> None:
    if not values:
        st.caption("Select values above to see a random sample of each, side by side.")
        return
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    n = c1.slider("Sample size per value", 3, 30, 9, key="regroup_sample_n")
    if c2.button("Reshuffle", key="regroup_reshuffle", icon=":material/shuffle:"):
        st.session_state[SEED] = st.session_state.get(SEED, 0) + 1
    samples = sample_by_value(labels, category, values, n=n, seed=st.session_state.get(SEED, 0))
    paths = [p for rows in samples.values() for p in rows["path"]]
    thumbs = ensure_thumbnails(
        ThumbnailCache(get_workspace().thumbnails_dir), info.id, info.images_root, paths
    )
    for col, (value, rows) in zip(st.columns(len(samples)), samples.items()):
        col.markdown(f"**{value}**")
        shown = [str(thumbs.thumbnails[p]) for p in rows["path"] if p in thumbs.thumbnails]
        if shown:
            col.image(shown, width=110)
        else:
            col.caption("no image")
        for p in [p for p in rows["path"] if p in thumbs.problems][:3]:
            col.caption(f"{p}: {thumbs.problems[p]}")


def _merge_suggestions(info, after: tuple[Schema, pd.DataFrame]) -> None:
    """Value pairs a finished run confuses both ways, with samples, each one click from the draft."""
    st.subheader("Merge suggestions")
    store = get_store()
    runs = evaluable_runs(store, info.name)
    if not runs:
        st.caption(
            "Suggestions come from a finished run's confusion matrix: the value pairs the model mixes up "
            "in both directions. Train a model first."
        )
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        return
    run_id = st.selectbox("From the confusions of run", [r.id for r in runs], key=MERGE_RUN)
    report = load_evaluation(store, run_id)
    if report is None:
        st.caption("This run has not been evaluated yet (its model runs over the validation images).")
        if not st.button("Evaluate it now", key="regroup_merge_evaluate"):
            return
        holder = st.empty()  # the bar goes once the evaluation is done
        with holder:
            report = evaluate_run(store, run_id, on_progress=stage_progress("Evaluating"))
        holder.empty()
    found = suggest_merges(report, top=MERGE_SUGGESTIONS)
    if not found:
        st.info("The model confuses no pair of values in both directions on its validation images.")
        return
    st.caption(
        "Pairs the run's model confuses in both directions on its validation images, most confused first, "
        "with a random sample of each value's images. A merge keeps the more common name; add it, then "
        "check the chart above before saving the map."
    )
    for i, suggestion in enumerate(found):
        _suggestion(info, after, suggestion, i)


def _suggestion(info, after: tuple[Schema, pd.DataFrame], s: MergeSuggestion, index: int) -> None:
    schema, labels = after
    fits = s.category in schema.category_names and set(s.values) <= set(schema.category(s.category).values)
    with st.container(border=True):
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.markdown(
            f"**{s.category}**: **{s.first}** ↔ **{s.second}** · {s.first_as_second} of "
            f"{s.first_support} {s.first} called {s.second}, {s.second_as_first} of {s.second_support} "
            "the other way"
        )
        c2.button(
            "Add merge to draft",
            key=f"regroup_merge_add_{index}",
            disabled=not fits,
            type="primary",
            on_click=_add_merge,
            args=(info.schema, s.category, s.values, s.first),
        )
        if not fits:
            st.caption(
                "Not applicable to the draft: it no longer has both values (merged already, or the run "
                "was trained through another map)."
            )
            return
        samples = sample_by_value(
            labels, s.category, s.values, n=MERGE_SAMPLES, seed=st.session_state.get(SEED, 0)
        )
        paths = [p for rows in samples.values() for p in rows["path"]]
        thumbs = served_thumbnails(info, paths, 160)
        for col, (value, rows) in zip(st.columns(2), samples.items()):
            shown = [str(thumbs.thumbnails[p]) for p in rows["path"] if p in thumbs.thumbnails]
            col.caption(value)
            if shown:
                col.image(shown, width=90)


def _draft_panel(info, draft: LabelMap) -> None:
    st.subheader("Draft map")
    if draft.steps:
        st.markdown("\n".join(f"{i}. {s.describe()}" for i, s in enumerate(draft.steps, start=1)))
    else:
        st.caption("No step yet: the draft leaves the labels as they are.")
    c1, c2 = st.columns(2)
    c1.button("Undo last step", key="regroup_undo", on_click=_undo, disabled=not draft.steps)
    c2.button("Clear draft", key="regroup_clear", on_click=_clear, disabled=not draft.steps)
    st.text_input("Map name", key="regroup_map_name", placeholder="e.g. sleeves_merged")
    st.text_input("Note (optional)", key="regroup_note")
    st.checkbox(f"Make it the active map of {info.name!r}", key="regroup_activate", value=True)
    st.button(
        "Save map (a new version)", key="regroup_save", type="primary", on_click=_save, args=(info.name,)
    )


def _export(store, info) -> None:
    with st.expander("Export as folders (for keras.utils.image_dataset_from_directory)"):
        st.caption(
            f"Through the active map ({info.active_map or 'none'}); hard links where possible, else copies."
        )
        default = get_workspace().exports_dir / f"{info.name}-{info.active_map or 'no-map'}"
        out = st.text_input("Output folder (new or empty)", str(default), key="regroup_export_dir")
        if st.button("Export", key="regroup_export"):
            from fashion_core.labels.export_folders import export_folders

            with st.spinner("Linking files..."):
                report = export_folders(store, info.name, Path(out))
            st.success(
                f"{report.linked + report.copied:,} files in {report.out_dir} ({report.linked:,} links, "
                f"{report.copied:,} copies, {len(report.missing):,} missing)."
            )


def main() -> None:
    st.title("Regroup values")
    st.caption(
        "Merge values people cannot tell apart, rename or drop them. The stored labels never change: "
        "a label map is a named, versioned view you can switch off again."
    )
    info = active_dataset()
    if info is None:
        st.info("No dataset yet. Import one with `python -m fashion_core ingest ...`.")
        return
    store = get_store()
    _start_draft(store, info.name, info.active_map)
    if msg := st.session_state.pop(MESSAGE, None):
        getattr(st, msg[0])(msg[1])
    _map_bar(store, info)
    draft = _draft()
    labels = _labels(str(store.db_path), info.name, store.labels_version(info.name))
    try:
        after = apply_label_map(draft, info.schema, labels)
    except FashionCoreError as exc:
        st.error(f"The draft does not fit {info.name!r}: {exc}")
        st.button("Clear draft", key="regroup_clear_bad", on_click=_clear)
        return
    category = st.selectbox("Category", info.schema.category_names, key="regroup_category")
    table = before_after_counts((info.schema, labels), after, category)
    values = list(after[0].category(category).values)
    counts = dict(zip(table["value"], table["after"]))
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(_chart(table, category), key="regroup_chart")
        _step_builder(info.schema, category, values, counts)
    with right:
        _draft_panel(info, draft)
    st.subheader("Samples")
    _samples(
        info,
        after[1],
        category,
        [v for v in st.session_state.get(_values_key(category)) or [] if v in values],
    )
    _merge_suggestions(info, after)
    _export(store, info)


try:
    main()
except FashionCoreError as exc:
    st.error(str(exc))
