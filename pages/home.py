"""Home: what the studio does, the active dataset at a glance, and where to go next."""

from __future__ import annotations

import streamlit as st

from fashion_core.errors import FashionCoreError
from fashion_core.stats import labelled_images
from ui.services import active_dataset, get_store

st.title("Fashion Attribute Studio")
st.markdown(
    "Train clothing-attribute classifiers from your labels, and fix the labels on the way. "
    "**The workflow:** look at your data (**Browse**, **Distribution**), merge values people "
    "cannot tell apart (**Regroup**), **Train** a model in the background, then **Predict** "
    "on a photo and **Evaluate** it to find the labels that are wrong."
)

cols = st.columns(4)
for col, (script, label, icon) in zip(
    cols * 2,
    [
        ("pages/browse.py", "Browse images", ":material/photo_library:"),
        ("pages/distribution.py", "Label distribution", ":material/bar_chart:"),
        ("pages/regroup.py", "Regroup values", ":material/merge:"),
        ("pages/download.py", "Download from URLs", ":material/download:"),
        ("pages/train.py", "Train a model", ":material/model_training:"),
        ("pages/predict.py", "Predict a photo", ":material/center_focus_strong:"),
        ("pages/evaluate.py", "Evaluate a model", ":material/fact_check:"),
    ],
):
    try:
        col.page_link(script, label=label, icon=icon)
    except (KeyError, st.errors.StreamlitAPIException):
        pass  # page not registered in this build

info = active_dataset()
if info is None:
    st.info("No dataset yet. Import one with `python -m fashion_core ingest ...` or restart the app "
            "on an empty workspace to get the demo data.")
    st.stop()



@st.cache_data(show_spinner=False, max_entries=16)
def _labelled_per_category(dataset: str, version: tuple) -> dict[str, int]:
    """Labelled images per category; cached per labels version (a full read takes seconds at 200k)."""
    return labelled_images(get_store().current_labels(dataset))


try:
    store = get_store()
    counts = store.counts(info.name)
    per_cat = _labelled_per_category(info.name, store.labels_version(info.name))
except FashionCoreError as exc:
    st.error(str(exc))
    st.stop()

st.subheader(f"Dataset: {info.name}")
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
st.caption(f"Format: {info.source_format} · images root: `{info.images_root}` · imported {info.created_at}")
