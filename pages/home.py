"""Home: what the studio does, the active dataset at a glance, and where to go next."""

from __future__ import annotations

import streamlit as st

from fashion_core.labels import labelled_images
from ui.page import PageContext, run_page
from ui.services import get_store
from ui.text import plain

# The workflow, in the order a new user walks it; each step links to its page.
WORKFLOW = [
    ("pages/browse.py", "1 · Browse", ":material/photo_library:",
     "Look at the images by label; open one to fix its label (every edit can be undone)."),
    ("pages/distribution.py", "2 · Distribution", ":material/bar_chart:",
     "See how many images each value has; rare values are flagged."),
    ("pages/regroup.py", "3 · Regroup", ":material/merge:",
     "Merge or drop values people cannot tell apart, as a named map that never touches the originals."),
    ("pages/train.py", "4 · Train", ":material/model_training:",
     "Train one model for all categories in the background and watch its curves live."),
    ("pages/predict.py", "5 · Predict", ":material/center_focus_strong:",
     "Upload a photo, take one, or give a URL: every category's answer in one pass."),
    ("pages/evaluate.py", "6 · Evaluate", ":material/fact_check:",
     "Confusion matrices, per-value scores, and a queue of labels the model finds suspicious."),
    ("pages/label.py", "Label", ":material/label:",
     "Label fast with the keyboard and the model's suggestions; choose what to label next; export the labels."),
    ("pages/download.py", "Download", ":material/download:",
     "Build a data set from a list of image URLs (such as the JD style list)."),
    ("pages/accounts.py", "Accounts", ":material/group:",
     "Who may do what: users, roles, API tokens and the audit log (admins; on this machine alone, you)."),
]


@st.cache_data(show_spinner=False, max_entries=16)
def _labelled_per_category(dataset: str, version: tuple) -> dict[str, int]:
    """Labelled images per category; cached per labels version (a full read takes seconds at 200k)."""
    return labelled_images(get_store().current_labels(dataset))


def _workflow() -> None:
    with st.container(border=True):
        for script, label, icon, help_text in WORKFLOW:
            link, text = st.columns([1, 4], vertical_alignment="center")
            try:
                link.page_link(script, label=label, icon=icon)
            except (KeyError, st.errors.StreamlitAPIException):
                # Not in this visitor's navigation (their role may not open it) or the page runs
                # alone (tests): no dead entry.
                link.empty()
                continue
            text.caption(help_text)


def main(ctx: PageContext) -> None:
    st.markdown(
        "Train clothing-attribute classifiers from your labels, and fix the labels on the way. "
        "Every step is also a library function and a `python -m fashion_core` command."
    )
    _workflow()
    info, store = ctx.require_dataset(), ctx.store
    counts = store.counts(info.name)
    per_cat = _labelled_per_category(info.name, store.labels_version(info.name))
    st.subheader(f"Dataset: {plain(info.name)}")
    m = st.columns(4)
    m[0].metric("Images", f"{counts['images']:,}")
    m[1].metric("Labels", f"{counts['annotations']:,}")
    m[2].metric("Label edits", f"{counts['label_edits']:,}")
    m[3].metric("Active label map", info.active_map or "none")
    st.dataframe(
        [
            {"category": c.name, "kind": c.kind.value, "values": len(c.values), "labelled images": per_cat.get(c.name, 0)}
            for c in info.schema.categories
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(f"Format: {plain(info.source_format)} · images root: {plain(info.images_root)} · imported {info.created_at}")


run_page(main, title="Fashion Attribute Studio", needs_dataset=False)
