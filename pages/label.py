"""Label: a queue over one category (or all), the model's suggestion, values on keyboard shortcuts."""

from __future__ import annotations

import streamlit as st

from fashion_core.analysis import QUEUE_MODES, QueueItem, assist, labelable_categories
from fashion_core.errors import FashionCoreError
from fashion_core.labels import LABEL_FORMATS, render_labels
from fashion_core.store import DatasetInfo
from ui import label_state as ls
from ui.identity import current_identity
from ui.keyboard import bind_keys
from ui.page import PageContext, run_page
from ui.services import get_store, get_workspace
from ui.text import plain
from ui.widgets import served_thumbnails

ALL = "All categories"
IMAGE_SIZE = 512  # the large image; the next few are made ahead so the next one is ready at the key press
PREFETCH = 3
KEY_OF = "1234567890"  # number keys for the first ten values
SETTINGS = assist.AssistSettings()
K_FORMAT = "label_export_format"


def _controls(info: DatasetInfo) -> tuple[str | None, str]:
    cats = labelable_categories(get_store(), info.name)
    if not cats:
        st.info("This dataset has no single-choice category; label multi-label categories on the Browse page.",
                icon=":material/info:")
        st.stop()
    left, right = st.columns(2)
    category = left.selectbox("Category", [ALL, *cats], key=ls.K_CATEGORY)
    mode = right.selectbox("Queue", list(QUEUE_MODES), format_func=QUEUE_MODES.get, key=ls.K_MODE)
    return (None if category == ALL else category), mode


def _image(info: DatasetInfo, item: QueueItem, upcoming: list[str]) -> None:
    report = served_thumbnails(info, [item.path, *upcoming], IMAGE_SIZE)
    thumb = report.thumbnails.get(item.path)
    if thumb is None:
        st.warning(f"Image {plain(item.path)} cannot be shown (missing or unreadable); press S to skip it.")
    else:
        st.image(str(thumb), width="stretch", output_format="JPEG")
    with st.container(key="label_prefetch"):  # drawn hidden: the browser has them before the key press
        for path in upcoming:
            if path in report.thumbnails:
                st.image(str(report.thumbnails[path]), width=8, output_format="JPEG")


def _buttons(info: DatasetInfo, item: QueueItem, who: str, mode: str) -> None:
    values = info.schema.category(item.category).values
    st.markdown(f"**{plain(item.category)}** · image #{item.image_id}"
                + (f" · now **{plain(item.current)}**" if item.current else " · no label yet")
                + (f" · set by {plain(item.by)}" if item.by else ""))
    if item.suggestion:
        st.markdown(f"Model suggests **{plain(item.suggestion)}** ({item.probability:.0%}) · Enter accepts")
    else:
        st.caption("No model suggestion yet: start the assistant below.")
    keymap = {}
    with st.container(horizontal=True):
        for n, value in enumerate(values):
            shortcut = KEY_OF[n] if n < len(KEY_OF) else ""
            key = f"{ls.PICK}{n}"
            st.button(f"{shortcut} · {plain(value)}" if shortcut else plain(value), key=key,
                      type="primary" if value == item.suggestion else "secondary",
                      on_click=ls.give_label, args=(info, value, who, mode))
            if shortcut:
                keymap[shortcut] = key
    unsure = bool(st.session_state.get(ls.K_UNSURE))
    with st.container(horizontal=True):
        st.button("Enter · accept suggestion", key=ls.ACCEPT, disabled=not item.suggestion,
                  on_click=ls.give_label, args=(info, None, who, mode))
        st.button("S · skip", key=ls.SKIP, on_click=ls.skip)
        st.button(f"M · unsure{' (on)' if unsure else ''}", key=ls.MAYBE, on_click=ls.toggle_unsure,
                  help="Note in the edit log that you were not sure of the next label.")
        st.button("U · undo last", key=ls.UNDO, disabled=not st.session_state.get(ls.K_DONE),
                  on_click=ls.undo, args=(who,))
    bind_keys({**keymap, "Enter": ls.ACCEPT, "s": ls.SKIP, "m": ls.MAYBE, "u": ls.UNDO, "Backspace": ls.UNDO})


def _progress(info: DatasetInfo, left: int) -> None:
    model = ls.suggestions(info)
    a, b, c = st.columns(3)
    a.metric("Labelled this session", len(st.session_state.get(ls.K_DONE, [])))
    b.metric("Left in the queue", left)
    acc = model.val_accuracy if model else None
    c.metric("Model validation accuracy", "–" if acc is None else f"{acc:.1%}")


@st.fragment(run_every=5)
def _assistant(info: DatasetInfo) -> None:
    status = ls.keep_model_fresh(info, SETTINGS)
    model = ls.suggestions(info)
    state = status.get("state")
    if state == "running":
        st.info("The assistant is refitting on the labels so far; suggestions refresh when it is done.",
                icon=":material/hourglass_top:")
    elif state == "failed":
        st.error(f"The last refit failed: {plain(status.get('error'))}")
    if model is not None:
        st.caption(f"The model refits after every {SETTINGS.retrain_every} new labels"
                   f" ({assist.new_labels(get_store(), info.name, model)} so far).")
        hist = assist.history(ls.folder(info)).dropna()
        if len(hist) > 1:
            st.line_chart(hist, x="labels", y="val_accuracy", height=180)
    label = "Refit now" if model else "Start the assistant (computes image features once, a few minutes)"
    if st.button(label, key="label_refit", disabled=state == "running"):
        assist.start_refresh(get_workspace(), info.name, info.id, SETTINGS)
        st.rerun(scope="fragment")


def _export(info: DatasetInfo) -> None:
    with st.expander("Export labels", icon=":material/file_download:"):
        fmt = st.selectbox("Format", LABEL_FORMATS, key=K_FORMAT,
                           help="fashionai: label.csv with y/m/n codes · jd: id,url,l1.. · csv: the generic CSV"
                                " the importer reads · json: every label with who set it and when")
        try:
            export = render_labels(get_store(), info.name, fmt)
        except FashionCoreError as exc:
            st.error(plain(exc))
            return
        through = f" through label map {export.map_name!r}" if export.map_name else ""
        st.download_button(f"Download {export.labels:,} labels{through}", export.text, export.file_name,
                           key="label_export_download", icon=":material/download:")


def main(page: PageContext) -> None:
    info = page.require_dataset()
    who = current_identity()
    if not who:
        st.warning("Type your name in the sidebar first: every label is recorded with it.", icon=":material/badge:")
        st.stop()
    category, mode = _controls(info)
    try:
        queue = ls.cells(info, mode, category, who)
        item = ls.current_item(info)
    except FashionCoreError as exc:
        st.error(plain(exc))
        st.stop()
    if msg := st.session_state.pop(ls.K_FLASH, None):
        st.error(plain(msg))
    _progress(info, len(queue))
    if item is None:
        st.success("Nothing left in this queue. Choose another queue or category.", icon=":material/task_alt:")
        bind_keys({"u": ls.UNDO, "Backspace": ls.UNDO})
        if st.session_state.get(ls.K_DONE):
            st.button("U · undo last", key=ls.UNDO, on_click=ls.undo, args=(who,))
    else:
        upcoming = [str(get_store().image(info.name, i)["path"]) for i, *_ in queue[1:1 + PREFETCH]]
        left, right = st.columns([3, 2])
        with left:
            _image(info, item, upcoming)
        with right:
            _buttons(info, item, who, mode)
    _assistant(info)
    _export(info)


st.html("<style>.st-key-label_prefetch{display:none}</style>")
run_page(main, title="Label")
