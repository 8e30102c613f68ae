"""Keeps every page inside app.py's frame, even when a fresh server is opened on a page URL."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx


def ensure_app_frame() -> None:
    """Rerun through ``app.py`` when Streamlit started a page of ``pages/`` on its own.

    Streamlit treats a ``pages/`` folder beside the entry script as the old multipage layout
    until ``st.navigation`` has run once in the process. So the first visit after a (re)start
    to a page URL such as ``/train`` ran ``pages/train.py`` bare: a sidebar of file names, no
    dataset picker, no first-run demo data. Pages import ``ui`` first thing, so this runs
    before such a page draws anything; the rerun goes through ``app.py`` to the same page
    (page hashes come from the URL path, which both layouts share).
    """
    if PagesManager.uses_pages_directory is not True or get_script_run_ctx(suppress_warning=True) is None:
        return
    PagesManager.uses_pages_directory = False  # what st.navigation itself sets
    st.rerun()
