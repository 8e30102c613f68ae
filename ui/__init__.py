"""Streamlit-only helpers shared by the pages: services, session-state keys, widgets."""

from ui.frame import ensure_app_frame

# Every page imports ui before drawing: a page Streamlit started outside app.py reruns inside it.
ensure_app_frame()
