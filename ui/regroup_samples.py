"""The Regroup page's pictures: samples of values side by side, and merge suggestions from a run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fashion_core.analysis import (
    MergeSuggestion,
    evaluable_runs,
    evaluate_run,
    load_evaluation,
    suggest_merges,
)
from fashion_core.imaging import GALLERY_SIZE
from fashion_core.labels import sample_by_value
from fashion_core.schema import Schema
from fashion_core.store import DatasetInfo
from ui import regroup_draft
from ui.services import get_store
from ui.widgets import served_thumbnails, stage_progress

SEED = "regroup_seed"
MERGE_RUN = "regroup_merge_run"  # the run whose confusion matrix suggests merges
MERGE_SUGGESTIONS = 6  # pairs shown
MERGE_SAMPLES = 4  # sample images per value of a suggested pair


def samples(info: DatasetInfo, labels: pd.DataFrame, category: str, values: list[str]) -> None:
    """A seeded random sample of each selected value's images, side by side."""
    if not values:
        st.caption("Select values above to see a random sample of each, side by side.")
        return
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    n = c1.slider("Sample size per value", 3, 30, 9, key="regroup_sample_n")
    if c2.button("Reshuffle", key="regroup_reshuffle", icon=":material/shuffle:"):
        st.session_state[SEED] = st.session_state.get(SEED, 0) + 1
    picked = sample_by_value(labels, category, values, n=n, seed=st.session_state.get(SEED, 0))
    thumbs = served_thumbnails(info, [p for rows in picked.values() for p in rows["path"]], GALLERY_SIZE)
    for col, (value, rows) in zip(st.columns(len(picked)), picked.items()):
        col.markdown(f"**{value}**")
        shown = [str(thumbs.thumbnails[p]) for p in rows["path"] if p in thumbs.thumbnails]
        if shown:
            col.image(shown, width=110)
        else:
            col.caption("no image")
        for p in [p for p in rows["path"] if p in thumbs.problems][:3]:
            col.caption(f"{p}: {thumbs.problems[p]}")


def merge_suggestions(info: DatasetInfo, after: tuple[Schema, pd.DataFrame]) -> None:
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


def _suggestion(
    info: DatasetInfo, after: tuple[Schema, pd.DataFrame], s: MergeSuggestion, index: int
) -> None:
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
            on_click=regroup_draft.add_merge,
            args=(info.schema, s.category, s.values, s.first),
        )
        if not fits:
            st.caption(
                "Not applicable to the draft: it no longer has both values (merged already, or the run "
                "was trained through another map)."
            )
            return
        picked = sample_by_value(
            labels, s.category, s.values, n=MERGE_SAMPLES, seed=st.session_state.get(SEED, 0)
        )
        thumbs = served_thumbnails(info, [p for rows in picked.values() for p in rows["path"]], 160)
        for col, (value, rows) in zip(st.columns(2), picked.items()):
            shown = [str(thumbs.thumbnails[p]) for p in rows["path"] if p in thumbs.thumbnails]
            col.caption(value)
            if shown:
                col.image(shown, width=90)
