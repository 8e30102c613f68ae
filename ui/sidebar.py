"""The sidebar shared by every page: dataset picker and who is signed in."""

from __future__ import annotations

import streamlit as st

from ui import auth, state
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
        auth.sidebar_box()  # the edit log records the signed-in name: nobody types it
