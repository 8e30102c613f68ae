"""Shared services for all pages: one store per process, the workspace, first-run demo data."""

from __future__ import annotations

import threading

import streamlit as st

from fashion_core.demo import ensure_demo_dataset
from fashion_core.errors import FashionCoreError
from fashion_core.store import DatasetInfo, LabelStore, explain_failure
from fashion_core.workspace import Workspace, resolve_home
from ui.text import plain

_demo_lock = threading.Lock()


@st.cache_resource
def get_workspace() -> Workspace:
    return resolve_home().ensure()


@st.cache_resource
def get_store() -> LabelStore:
    """The process-wide store; it hands each thread (browser session) its own connection."""
    return LabelStore.open(get_workspace())


def store_or_stop() -> LabelStore:
    """The store; when the workspace cannot be opened, the CLI's message as a banner and a stop.

    A read-only, full, damaged, busy or newer workspace raises a ``FashionCoreError`` whose text
    names the path, the problem and what to do; a user sees that, never a traceback. Errors are
    not cached, so the next rerun tries again once the user has fixed the workspace.
    """
    try:
        return get_store()
    except FashionCoreError as exc:
        st.error(plain(exc), icon=":material/error:")
    except OSError as exc:  # creating the workspace folder itself failed
        st.error(plain(explain_failure(exc, resolve_home().db_path) or exc), icon=":material/error:")
    st.stop()


def ensure_demo_data() -> None:
    """On first start (no dataset at all), draw and import the demo data behind a progress bar."""
    store = store_or_stop()  # the app's first use of the store: a workspace it cannot open stops here
    if store.datasets():
        return
    with _demo_lock:  # two browser tabs on a fresh workspace must not both generate
        if store.datasets():
            return
        slot = st.empty()  # an st.empty, not a container: only its .empty() clears what it holds
        box = slot.container()
        box.title("Fashion Attribute Studio")
        box.info(
            "First start: the workspace is empty, so the studio draws a synthetic demo data set "
            "(garment drawings labelled like FashionAI) and imports it. This happens once and "
            "takes about half a minute.",
            icon=":material/hourglass_top:",
        )
        bar = box.progress(0.0, text="First start: preparing the demo data set...")
        report = ensure_demo_dataset(
            store,
            get_workspace(),
            on_progress=lambda text, frac: bar.progress(min(frac, 1.0), text=f"First start: {text}"),
        )
        slot.empty()
        if report is not None:
            st.toast(f"Demo data ready: {report.images} images imported.")


def active_dataset() -> DatasetInfo | None:
    """The dataset chosen in the sidebar, or None when the workspace has none."""
    from ui import state

    store = get_store()
    datasets = store.datasets()
    if not datasets:
        return None
    name = st.session_state.get(state.DATASET)
    for d in datasets:
        if d.name == name:
            return d
    return datasets[0]
