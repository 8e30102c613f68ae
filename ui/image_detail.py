"""The image detail view: the picture, its labels (original and current), relabel, undo, edit log.

Pages show it inside their own ``st.dialog`` (or anywhere else) with a key prefix of their own.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from fashion_core.errors import EditConflictError, FashionCoreError
from fashion_core.imaging import PREVIEW_SIZE
from fashion_core.labels import (
    KEY_OF,
    history_table,
    new_label_index,
    relabel_category,
    shown_labels,
    suggestion_for,
    undo_choices,
)
from fashion_core.labels import gallery as gal
from fashion_core.schema import Kind, split_value
from fashion_core.store import DatasetInfo
from ui import label_state
from ui.keyboard import bind_keys
from ui.services import get_store
from ui.text import plain
from ui.widgets import annotator_name, flash, served_thumbnails

ACTIONS = {"set": "Set value", "invisible": "Mark Invisible", "exclude": "Exclude from category"}
INVISIBLE = "Invisible"


def render_image_detail(
    info: DatasetInfo,
    image_id: int,
    *,
    prefix: str,
    neighbours: list[int],
    open_image: Callable[[int], None],
    close: Callable[[], None],
    flash_key: str,
    category: str | None = None,
    step: Callable[[int], tuple[int | None, int | None]] | None = None,
) -> None:
    """Show one image with its labels, a relabel form, undo buttons and its edit history.

    Saving or undoing reruns the whole app, so the page around shows the change too.

    Args:
        info: The dataset.
        image_id: The image to show.
        prefix: Prefix of every widget and session key used here (the page's own, e.g. ``browse``).
        neighbours: Image ids Previous / Next step through (e.g. the gallery page).
        open_image: Called with an image id to show that one instead (Previous / Next).
        close: Called to close the view.
        flash_key: Session key for the message shown after the rerun (see ``ui.widgets.flash``).
        category: The category to preselect in the relabel form (else the first the image has).
        step: Gives the (previous, next) image of an image id; used instead of ``neighbours``
            when given (e.g. ``gallery.step_ids`` over every image a filter matches, which
            keeps working after a relabel takes the image out of the filter).
    """
    store = get_store()
    try:
        record = store.image(info.name, image_id)
        history = store.edit_history(info.name, image_id)
        current = gal.current_labels_of(store, info.name, [image_id])
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    table = gal.image_labels(info.schema, current, history)
    _nav(image_id, step(image_id) if step else _around(image_id, neighbours), prefix, open_image, close)
    left, right = st.columns([2, 3])
    with left:
        _preview(info, record)
    with right:
        _labels_table(info, table, history, prefix, flash_key)
        _relabel(info, image_id, table, prefix, flash_key, category)
    _history(history, prefix)


def _around(image_id: int, ids: list[int]) -> tuple[int | None, int | None]:
    pos = ids.index(image_id) if image_id in ids else -1
    if pos < 0:
        return None, None
    return (ids[pos - 1] if pos > 0 else None), (ids[pos + 1] if pos < len(ids) - 1 else None)


def _nav(
    image_id: int,
    around: tuple[int | None, int | None],
    prefix: str,
    open_image: Callable[[int], None],
    close: Callable[[], None],
) -> None:
    before, after = around
    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown(f"**Image #{image_id}**")
        st.space("stretch")
        # A full rerun: a dialog's own reruns would replay it with the old image id.
        if st.button("Previous", key=f"{prefix}_prev", icon=":material/chevron_left:", disabled=before is None):
            open_image(before)
            st.rerun()
        if st.button("Next", key=f"{prefix}_next", icon=":material/chevron_right:", disabled=after is None):
            open_image(after)
            st.rerun()
        if st.button("Close", key=f"{prefix}_close", icon=":material/close:"):
            close()
            st.rerun()


def _preview(info: DatasetInfo, record) -> None:
    try:
        report = served_thumbnails(info, [record["path"]], PREVIEW_SIZE)
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    thumb = report.thumbnails.get(record["path"])
    if thumb is None:
        st.warning(plain(report.problems.get(record["path"], "No preview.")), icon=":material/broken_image:")
    else:
        st.image(str(thumb), width="stretch", output_format="JPEG")
    size = f"{record['width']}×{record['height']} {record['format'] or ''}" if record["width"] else ""
    st.caption(f"{plain(record['path'])} {size}")


def _labels_table(
    info: DatasetInfo, table: pd.DataFrame, history: pd.DataFrame, prefix: str, flash_key: str
) -> None:
    st.dataframe(
        shown_labels(info.schema, table), hide_index=True, width="stretch", key=f"{prefix}_detail_labels"
    )
    for choice in undo_choices(info.schema, table, history):
        edit_id = choice.edit_id
        if st.button(choice.label, key=f"{prefix}_undo_{edit_id}", icon=":material/undo:"):
            try:
                get_store().undo_edit(edit_id, annotator=annotator_name() or "unknown")
            except FashionCoreError as exc:
                st.error(plain(exc))
                return
            st.session_state.pop(f"{prefix}_seen", None)
            flash(flash_key, f"Undid edit #{edit_id}.")
            st.rerun()


def _relabel(
    info: DatasetInfo, image_id: int, table: pd.DataFrame, prefix: str, flash_key: str, wanted: str | None
) -> None:
    st.markdown("**Relabel**")
    if conflict := st.session_state.pop(f"{prefix}_conflict", None):
        st.error(plain(conflict), icon=":material/sync_problem:")
    names = info.schema.category_names
    default = relabel_category(names, table, wanted)
    category = st.selectbox("Category", names, index=default, key=f"{prefix}_edit_cat_{image_id}")
    cat = info.schema.category(category)
    current = table.loc[table["category"] == category, "current"].iloc[0]
    shown = _shown(prefix, image_id, category, current)
    actions = [a for a in ACTIONS if a != "invisible" or INVISIBLE in cat.values]
    action = (
        st.segmented_control(
            "Action",
            actions,
            format_func=ACTIONS.get,
            default="set",
            key=f"{prefix}_edit_action_{image_id}_{category}",
        )
        or "set"
    )
    value: str | list[str] | None = None
    if action == "set" and cat.kind is Kind.MULTI:
        value = st.multiselect(
            "Classes",
            list(cat.values),
            default=split_value(current),
            key=f"{prefix}_edit_multi_{image_id}_{category}",
        )
    elif action == "set":
        guess = _quick_label(info, image_id, category, prefix, flash_key, shown)
        index = new_label_index(cat.values, current, guess)
        value = st.selectbox(
            "Value", list(cat.values), index=index, key=f"{prefix}_edit_value_{image_id}_{category}"
        )
    elif action == "invisible":
        value = INVISIBLE
    reason = st.text_input("Reason (optional)", key=f"{prefix}_edit_reason")
    if st.button("Save", key=f"{prefix}_edit_save", type="primary", icon=":material/save:"):
        _save(info, image_id, category, value, reason, shown=shown, prefix=prefix, flash_key=flash_key)


def _shown(prefix: str, image_id: int, category: str, current: str | None) -> str | None:
    """The label this person saw when they opened this image and category (or last saved it).

    Every rerun (choosing a value included) re-reads the store, so the label in force may have
    changed under them; the edit is checked against what they saw, not against that re-read.
    """
    key = f"{prefix}_seen"
    seen = st.session_state.get(key)
    if not seen or seen[:2] != (image_id, category):
        seen = (image_id, category, current)
        st.session_state[key] = seen
    return seen[2]


def _quick_label(
    info: DatasetInfo, image_id: int, category: str, prefix: str, flash_key: str, current: str | None
) -> str | None:
    """The model's suggestion and one button per value on number keys (Enter accepts the
    suggestion, arrow keys step): a single-choice label in one key press. The suggestion or None."""
    cat = info.schema.category(category)
    guess = suggestion_for(label_state.suggestions(info), image_id, category)
    if guess:
        st.markdown(f"Model suggests **{plain(guess[0])}** ({guess[1]:.0%}) · Enter accepts")
    keymap = {"ArrowLeft": f"{prefix}_prev", "ArrowRight": f"{prefix}_next"}
    picked = None
    with st.container(horizontal=True):
        for n, name in enumerate(cat.values):
            shortcut = KEY_OF[n] if n < len(KEY_OF) else ""
            key = f"{prefix}_quick_{n}"
            primary = guess is not None and name == guess[0]
            if st.button(f"{shortcut} · {name}" if shortcut else name, key=key, type="primary" if primary else "secondary"):
                picked = name
            if shortcut:
                keymap[shortcut] = key
        if st.button("Enter · accept", key=f"{prefix}_quick_accept", disabled=guess is None) and guess:
            picked = guess[0]
    bind_keys({**keymap, "Enter": f"{prefix}_quick_accept"})
    if picked is not None:
        _save(info, image_id, category, picked, "", shown=current, prefix=prefix, flash_key=flash_key,
              accepted=guess is not None and picked == guess[0])
    return guess[0] if guess else None


def _save(
    info: DatasetInfo,
    image_id: int,
    category: str,
    value,
    reason: str,
    *,
    shown: str | None,
    prefix: str,
    flash_key: str,
    accepted: bool = False,
) -> None:
    seen = None if shown is None or (isinstance(shown, float) and shown != shown) else shown  # NaN: no label
    try:
        edit = get_store().edit_label(
            info.name, image_id, category, value, annotator=annotator_name(), reason=reason or None,
            suggestion_accepted=accepted,
            expected=seen,  # refused, with who and when, if someone changed it meanwhile
        )
    except EditConflictError as exc:
        st.session_state.pop(f"{prefix}_seen", None)  # the rerun shows the label now in force
        st.session_state[f"{prefix}_conflict"] = str(exc)
        st.rerun()
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    st.session_state.pop(f"{prefix}_edit_reason", None)
    st.session_state.pop(f"{prefix}_seen", None)  # the next edit starts from the label just saved
    cat = info.schema.category(category)
    old, new = gal.display_value(cat, edit.old_value), gal.display_value(cat, edit.new_value, "(excluded)")
    msg = f"Image #{image_id}, {plain(category)}: {plain(old)} → {plain(new)} (edit #{edit.id})."
    if edit.old_value != shown:  # another session changed it while this one was looking
        msg += f" Note: it had been changed to {plain(old)} by someone else meanwhile; both edits are in the log."
    flash(flash_key, msg)
    st.rerun()


def _history(history: pd.DataFrame, prefix: str) -> None:
    st.markdown("**Edit history**")
    if history.empty:
        st.caption("No edits yet: the labels are as imported.")
        return
    st.dataframe(history_table(history), hide_index=True, width="stretch", key=f"{prefix}_detail_history")
