"""The Label page's session state: the queue's cells, labels given this session, and the button callbacks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import streamlit as st

from fashion_core.analysis import QueueItem, assist, build_queue, queue_item, record_label, undo_label
from fashion_core.errors import FashionCoreError
from fashion_core.store import DatasetInfo
from ui.services import get_store, get_workspace

K_CATEGORY, K_MODE, K_CELLS, K_SIG = "label_category", "label_mode", "label_cells", "label_sig"
K_DONE, K_SKIPPED, K_UNSURE, K_FLASH = "label_done", "label_skipped", "label_unsure", "label_flash"
K_SHOWN = "label_shown"  # [image id, category, label in force] when the cell was first shown
PICK = "label_pick_"  # + value position: the value buttons
ACCEPT, SKIP, MAYBE, UNDO = "label_accept", "label_skip", "label_maybe", "label_undo"


@st.cache_data(show_spinner=False, max_entries=4)
def _load_suggestions(folder: str, mtime: float) -> assist.Suggestions | None:
    return assist.load_suggestions(Path(folder))


@st.cache_data(show_spinner=False, max_entries=2)
def _load_features(folder: str, mtime: float):  # noqa: ANN202 - (image ids, features) or None
    return assist.load_features(Path(folder))


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else 0.0


def folder(info: DatasetInfo) -> Path:
    return assist.assist_dir(get_workspace(), info.id)


def suggestions(info: DatasetInfo) -> assist.Suggestions | None:
    """The assistant's latest suggestions, read again only when the file changed."""
    where = folder(info)
    return _load_suggestions(str(where), _mtime(where / "suggestions.npz"))


def cells(info: DatasetInfo, mode: str, category: str | None, who: str) -> list[list]:
    """The queue's remaining [image id, category, set by] cells, built again when mode, category or model change."""
    model = suggestions(info)
    sig = [info.name, mode, category, model.last_edit_id if model else None]
    if st.session_state.get(K_SIG) != sig:
        where = folder(info)
        features = _load_features(str(where), _mtime(where / "features.npz")) if mode == "label_next" else None
        skipped = {(c[0], c[1]) for c in st.session_state.get(K_SKIPPED, [])}
        items = build_queue(get_store(), info.name, mode, category=category, annotator=who, suggestions=model,
                            features=features, skip=skipped)
        st.session_state[K_CELLS] = [[i.image_id, i.category, i.by] for i in items]
        st.session_state[K_SIG] = sig
    return st.session_state[K_CELLS]


def current_item(info: DatasetInfo) -> QueueItem | None:
    queue = st.session_state.get(K_CELLS) or []
    if not queue:
        return None
    image_id, category, by = queue[0]
    item = replace(queue_item(get_store(), info.name, image_id, category, suggestions(info)), by=by)
    shown = st.session_state.get(K_SHOWN)
    if shown and shown[:2] == [item.image_id, item.category]:
        # The label this person saw: a label saved against it is refused if someone changed it since.
        return replace(item, current=shown[2])
    st.session_state[K_SHOWN] = [item.image_id, item.category, item.current]
    return item


def give_label(info: DatasetInfo, value: str | None, who: str, mode: str) -> None:
    """Button callback: record ``value`` (None: the suggestion) for the queue's first cell."""
    item = current_item(info)
    value = value or (item.suggestion if item else None)
    if item is None or value is None:
        return
    try:
        edit = record_label(get_store(), info.name, item, value, annotator=who, mode=mode,
                            unsure=bool(st.session_state.get(K_UNSURE)))
    except FashionCoreError as exc:  # a conflict included: the rerun shows the label now in force
        st.session_state.pop(K_SHOWN, None)
        st.session_state[K_FLASH] = str(exc)
        return
    st.session_state.setdefault(K_DONE, []).append([edit.id, item.image_id, item.category])
    st.session_state[K_CELLS].pop(0)
    st.session_state[K_UNSURE] = False


def skip() -> None:
    queue = st.session_state.get(K_CELLS) or []
    if queue:
        st.session_state.setdefault(K_SKIPPED, []).append(queue.pop(0))


def toggle_unsure() -> None:
    st.session_state[K_UNSURE] = not st.session_state.get(K_UNSURE, False)


def undo(who: str) -> None:
    """Button callback: undo this session's last label and put its cell back first in the queue."""
    done = st.session_state.get(K_DONE) or []
    if not done:
        return
    edit_id, image_id, category = done[-1]
    try:
        undo_label(get_store(), edit_id, annotator=who)
    except FashionCoreError as exc:
        st.session_state[K_FLASH] = str(exc)
        return
    done.pop()
    st.session_state.setdefault(K_CELLS, []).insert(0, [image_id, category, None])


def keep_model_fresh(info: DatasetInfo, settings: assist.AssistSettings) -> dict:
    """Start a background refit after every ``retrain_every`` new labels; the refresh status.

    The first fit is started by a person (it computes every image's features once, which takes
    minutes on a CPU); after it the model keeps up on its own.
    """
    ws, store, model = get_workspace(), get_store(), suggestions(info)
    status = assist.refresh_status(ws, info.id)
    if model is None or status.get("state") == "running":
        return status
    if assist.new_labels(store, info.name, model) >= settings.retrain_every:
        if assist.start_refresh(ws, info.name, info.id, settings):
            status = assist.refresh_status(ws, info.id)
    return status
