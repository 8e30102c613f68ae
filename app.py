"""Fashion Attribute Studio: the entry script, shared frame of all pages. No logic here."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import services, sidebar

HERE = Path(__file__).resolve().parent

# (script, title, icon, section). Titles and icons live here, not in file names.
PAGES = [
    ("pages/home.py", "Home", ":material/home:", "Studio"),
    ("pages/browse.py", "Browse", ":material/photo_library:", "Data"),
    ("pages/label.py", "Label", ":material/label:", "Data"),
    ("pages/distribution.py", "Distribution", ":material/bar_chart:", "Data"),
    ("pages/regroup.py", "Regroup", ":material/merge:", "Data"),
    ("pages/download.py", "Download", ":material/download:", "Data"),
    ("pages/train.py", "Train", ":material/model_training:", "Model"),
    ("pages/predict.py", "Predict", ":material/center_focus_strong:", "Model"),
    ("pages/evaluate.py", "Evaluate", ":material/fact_check:", "Model"),
]

st.set_page_config(page_title="Fashion Attribute Studio", page_icon="👗", layout="wide")

sections: dict[str, list[st.Page]] = {}
for script, title, icon, section in PAGES:
    sections.setdefault(section, []).append(
        st.Page(str(HERE / script), title=title, icon=icon, default=(title == "Home"))
    )
page = st.navigation(sections)

services.ensure_demo_data()
sidebar.render()
page.run()
