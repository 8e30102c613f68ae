"""The sidebar shared by every page: dataset picker and annotator name."""

from __future__ import annotations

import getpass

import streamlit as st

from ui import state
from ui.services import get_store


def render() -> None:
    store = get_store()
    names = [d.name for d in store.datasets()]
    with st.sidebar:
        if names:
            current = st.session_state.get(state.DATASET)
            index = names.index(current) if current in names else 0
            st.selectbox("Dataset", names, index=index, key=state.DATASET,
                         help="The dataset every page works on.")
        else:
            st.info("No dataset yet.")
        if state.ANNOTATOR not in st.session_state:
            st.session_state[state.ANNOTATOR] = _default_annotator()
        st.text_input("Your name (for the edit log)", key=state.ANNOTATOR,
                      help="Recorded with every label you change.")


def _default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        return "annotator"
