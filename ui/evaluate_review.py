"""Evaluate's review of suspicious labels (a queue to relabel or keep), and its image detail keys."""

from __future__ import annotations

import streamlit as st

from fashion_core.analysis import (
    SUSPICIOUS_FILE,
    SuspiciousReport,
    can_relabel,
    find_suspicious_labels,
    load_suspicious,
    pending_review,
    planted_wrong_labels,
    review_label,
    wrong_label_hits,
)
from fashion_core.errors import FashionCoreError
from fashion_core.imaging import GALLERY_SIZE
from fashion_core.runs import RunDir, RunRecord
from fashion_core.store import DatasetInfo
from ui.services import get_store, get_workspace
from ui.text import plain
from ui.widgets import annotator_name, served_thumbnails, stage_progress

QUEUE_SIZE = "evaluate_queue_size"
OPEN, FLASH = "evaluate_open", "evaluate_flash"  # (image id, category) of the detail view; message
CONFIRM = "evaluate_confirm"  # the queue row whose relabel waits for a confirmation
LAST = "evaluate_last_review"  # the last review: its edit id and message (the undo button's)
BUTTON_WIDTH = 130


def file_stamp(run: RunRecord, name: str) -> int:
    """The file's modification time: part of the pages' cache keys (0 when it does not exist)."""
    path = RunDir(run.run_dir).path / name
    return path.stat().st_mtime_ns if path.exists() else 0


@st.cache_data(max_entries=2, show_spinner="Reading the review queue...")
def _saved_suspicious(db_path: str, run_id: str, stamp: int) -> SuspiciousReport | None:
    return load_suspicious(get_store(), run_id)


def open_image(image_id: int, category: str | None = None) -> None:
    st.session_state[OPEN] = (int(image_id), category)


def close() -> None:
    st.session_state.pop(OPEN, None)
    st.session_state.pop("evaluate_seen", None)  # reopened later, the image shows the label then in force


# -- suspicious labels ----------------------------------------------------------------------------------


def suspicious(info: DatasetInfo, run: RunRecord) -> None:
    store = get_store()
    st.caption(
        "Each image is scored by a model that never saw it (k-fold cross-validation on the features of the "
        "run's own backbone, fine-tuned for a full run); images whose label that model finds least likely "
        "come first. Probabilities are temperature-scaled so that they can be read as they are."
    )
    report = _saved_suspicious(str(store.db_path), run.id, file_stamp(run, SUSPICIOUS_FILE))
    label = "Find suspicious labels" if report is None else "Analyse again with the current labels"
    if st.button(
        label,
        key="evaluate_suspicious_start",
        type="primary" if report is None else "secondary",
        icon=":material/search:",
    ):
        report = find_suspicious_labels(
            store,
            get_workspace(),
            run.id,
            refresh=True,
            on_progress=stage_progress("Finding suspicious labels"),
        )
    if report is None:
        return
    _wrong_label_hits(store, report, run.id)
    _last_review()
    queue = pending_review(store, report)
    st.markdown(
        f"**{len(queue):,} labels to review** ({int(report.table['flagged'].sum()):,} flagged of "
        f"{len(report.table):,}; reviewed ones leave the queue)."
    )
    if queue.empty:
        return
    n = st.slider("Shown", 5, 60, 12, 1, key=QUEUE_SIZE)
    rows = queue.head(n)
    thumbs = served_thumbnails(info, rows["path"].tolist(), GALLERY_SIZE)
    for row in rows.itertuples(index=False):
        _queue_row(info, row, thumbs)


def _wrong_label_hits(store, report: SuspiciousReport, run_id: str) -> None:
    planted = planted_wrong_labels(store, run_id)
    if planted is None:
        return
    total = wrong_label_hits(report, planted, len(report.table)).planted
    if not total:
        return
    cols = st.columns(2)
    for col, k in zip(cols, (total, 2 * total)):
        hit = wrong_label_hits(report, planted, k)
        col.metric(f"Demo's planted wrong labels in the top {k}", f"{hit.found} of {hit.planted}")


def _queue_row(info: DatasetInfo, row, thumbs) -> None:
    key = f"{row.image_id}_{row.category}_{row.rank}"
    confirming = st.session_state.get(CONFIRM) == key
    with st.container(border=True, horizontal=True, vertical_alignment="center"):
        thumb = thumbs.thumbnails.get(row.path)
        if thumb is not None:
            st.image(str(thumb), width=96, output_format="JPEG")
        st.markdown(
            f"**#{row.rank}** · image #{row.image_id} · {plain(row.category)}  \n"
            f"label **{plain(row.given)}** ({row.self_confidence:.0%}) · model suggests **{plain(row.suggested)}** "
            f"({row.suggested_prob:.0%})"
        )
        st.space("stretch")
        # Fixed-width buttons with short labels: every row's buttons line up and never wrap.
        if confirming:
            st.button(
                f"Yes, relabel to {row.suggested}",
                key=f"evaluate_confirm_{key}",
                type="primary",
                width=BUTTON_WIDTH * 2,
                on_click=_review,
                args=(info.name, row.image_id, row.category, "relabel", row.suggested),
            )
            st.button("Cancel", key=f"evaluate_cancel_{key}", width=BUTTON_WIDTH, on_click=_ask, args=(None,))
        else:
            st.button(
                "Relabel…",
                key=f"evaluate_relabel_{key}",
                type="primary",
                width=BUTTON_WIDTH,
                help=f"Set the label to {row.suggested} (asks to confirm)",
                disabled=not can_relabel(get_store(), info.name, row.category, row.suggested),
                on_click=_ask,
                args=(key,),
            )
            st.button(
                "Label is right",
                key=f"evaluate_keep_{key}",
                width=BUTTON_WIDTH,
                help="Keep the label; it leaves the queue and stays out of later analyses",
                on_click=_review,
                args=(info.name, row.image_id, row.category, "keep", None),
            )
        st.button(
            "Open",
            key=f"evaluate_sus_open_{key}",
            type="tertiary",
            icon=":material/zoom_in:",
            on_click=open_image,
            args=(row.image_id, row.category),
        )


def _ask(key: str | None) -> None:
    st.session_state[CONFIRM] = key


def _last_review() -> None:
    """The last review, with an undo button (it brings the row back to the queue)."""
    last = st.session_state.get(LAST)
    if not last:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.success(last["message"], icon=":material/check_circle:")
        st.button("Undo", key="evaluate_undo", icon=":material/undo:", on_click=_undo, args=(last,))


def _undo(last: dict) -> None:
    try:
        get_store().undo_edit(int(last["edit_id"]), annotator=annotator_name() or "unknown",
                              reason="suspicious-label review: undone")
    except FashionCoreError as exc:
        st.toast(plain(exc))
        return
    st.session_state.pop(LAST, None)
    st.toast(f"Undone: image #{last['image_id']}, {plain(last['category'])} is back in the queue.")


def _review(dataset: str, image_id: int, category: str, action: str, value: str | None) -> None:
    st.session_state.pop(CONFIRM, None)
    if not annotator_name():
        st.toast("Enter your name in the sidebar first: it is recorded with every edit.")
        return
    try:
        edit = review_label(
            get_store(),
            dataset,
            int(image_id),
            category,
            action=action,
            annotator=annotator_name(),
            value=value,
        )
    except FashionCoreError as exc:
        st.toast(plain(exc))
        return
    done = f"relabelled to {plain(edit.new_value)}" if action == "relabel" else "label confirmed as right"
    st.session_state[LAST] = {"edit_id": edit.id, "image_id": int(image_id), "category": category,
                              "message": f"Image #{image_id}, {plain(category)}: {done} (edit #{edit.id})."}
