"""The Regroup page's draft map in session state, and the button callbacks that change it.

Callbacks run before the script, so they may reset widgets. Every decision (which step a form
makes, whether it fits, how a map is saved) is ``fashion_core.labels.regroup``'s.
"""

from __future__ import annotations

import streamlit as st

from fashion_core.errors import FashionCoreError
from fashion_core.labels import LabelMap, Op, regroup
from fashion_core.labels import maps as label_maps
from fashion_core.schema import Schema
from fashion_core.store import LabelStore
from ui.services import get_store

DRAFT = "regroup_draft"  # the map being built: its file form (a small dict)
DRAFT_FOR = "regroup_draft_for"  # dataset the draft was started for
MESSAGE = "regroup_message"  # (kind, text) shown once on the next run
MAP_NAME = "regroup_map_name"
NEW_NAME = "(new name)"
NO_MAP = "(no map)"
ACTIONS = {  # the step builder's choices: label -> (caption, step op)
    "Merge": ("merge into one value", Op.MERGE),
    "Rename": ("rename one value", Op.RENAME),
    "Drop": ("drop (images leave the category)", Op.DROP),
    "m marks": ("set what m marks mean", Op.MAYBE),
}


def values_key(category: str) -> str:
    return f"regroup_values_{category}"  # one selection per category: options differ


def draft() -> LabelMap:
    return LabelMap.from_dict(st.session_state[DRAFT], "draft")


def _set_draft(label_map: LabelMap) -> None:
    st.session_state[DRAFT] = label_map.to_dict()


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE] = (kind, text)


def show_message() -> None:
    """The message a callback left for this run, shown once."""
    if msg := st.session_state.pop(MESSAGE, None):
        getattr(st, msg[0])(msg[1])


def start_draft(store: LabelStore, dataset: str, active: str | None) -> None:
    """A new visit (or another dataset) starts from the dataset's active map, else empty."""
    if st.session_state.get(DRAFT_FOR) == dataset and DRAFT in st.session_state:
        return
    _set_draft(regroup.start_draft(store, active))
    st.session_state[DRAFT_FOR] = dataset
    st.session_state[MAP_NAME] = active or ""


def add_step(schema: Schema) -> None:
    """The step builder's Add button: the form's step becomes the draft's next one."""
    ss = st.session_state
    category, action = ss["regroup_category"], ss["regroup_action"]
    target = ss.get("regroup_new_name")
    if action == "Merge" and ss.get("regroup_target") not in (None, NEW_NAME):
        target = ss["regroup_target"]  # an existing value; else the typed new name
    try:
        step = regroup.form_step(
            category,
            ACTIONS[action][1],
            list(ss.get(values_key(category)) or []),
            target=target,
            policy=ss.get("regroup_policy"),
        )
        _set_draft(regroup.add_steps(draft(), schema, step))
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    ss[values_key(category)] = []
    ss["regroup_new_name"] = ""
    _say("success", f"Added: {step.describe()}")


def add_merge(schema: Schema, category: str, values: tuple[str, ...], target: str) -> None:
    """One click on a merge suggestion: the merge becomes the draft's next step."""
    try:
        step = regroup.form_step(category, Op.MERGE, values, target=target)
        _set_draft(regroup.add_steps(draft(), schema, step))
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _clear_selections()
    _say("success", f"Added: {step.describe()}")


def undo() -> None:
    try:
        _set_draft(draft().without_last_step())
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _clear_selections()
    _say("success", "Undid the last step of the draft.")


def clear() -> None:
    _set_draft(LabelMap("draft"))
    _clear_selections()


def _clear_selections() -> None:
    """Selected values may not exist in another draft: forget them."""
    for key in [k for k in st.session_state if str(k).startswith("regroup_values_")]:
        st.session_state[key] = []


def load(name: str | None, example: bool = False) -> None:
    store = get_store()
    try:
        if example:
            name = label_maps.install_example_maps(store)[0].name
        label_map = label_maps.load_map(store, name)
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _set_draft(label_map)
    st.session_state[MAP_NAME] = label_map.name
    changed = [step.category for step in label_map.steps]
    if changed and st.session_state.get("regroup_category") not in changed:
        st.session_state["regroup_category"] = changed[0]  # show a category the map changes
    _clear_selections()
    _say(
        "success",
        f"Loaded {label_map.name!r} version {label_map.version} into the draft. It is in use once "
        "it is the active map (*Switch active map*); saving it again makes a new version.",
    )


def save(dataset: str) -> None:
    ss = st.session_state
    activate = bool(ss.get("regroup_activate"))
    try:
        saved = regroup.save_draft(
            get_store(),
            dataset,
            draft(),
            name=ss.get(MAP_NAME) or "",
            note=ss.get("regroup_note"),
            activate=activate,
        )
    except FashionCoreError as exc:
        _say("error", str(exc))
        return
    _set_draft(saved)
    active = f" It is now the active map of {dataset!r}." if activate else ""
    _say("success", f"Saved {saved.name!r} version {saved.version}.{active}")


def switch_active(dataset: str) -> None:
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
