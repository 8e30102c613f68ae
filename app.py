"""Fashion Attribute Studio: the entry script, shared frame of all pages. No logic here."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fashion_core.access import LOCAL, acting_as, set_resolver
from fashion_core.accounts import accounts_on, check_serving
from fashion_core.errors import FashionCoreError
from ui import auth, services, sidebar
from ui.text import plain

HERE = Path(__file__).resolve().parent

# (script, title, icon, section, action needed to see it). Titles and icons live here, not in file names.
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
    ("pages/accounts.py", "Accounts", ":material/group:", "Studio"),
]
NEEDS = {"Download": "download", "Accounts": "audit"}  # other pages: any signed-in role

st.set_page_config(page_title="Fashion Attribute Studio", page_icon="👗", layout="wide")

try:  # another address than loopback only with accounts on (fashion-studio app checks it too)
    check_serving(st.get_option("server.address") or "0.0.0.0", accounts=accounts_on(services.store_or_stop()))
except FashionCoreError as exc:
    st.error(plain(exc), icon=":material/lock:")
    st.stop()
with acting_as(LOCAL):  # first start: the studio itself draws the demo data, not the visitor
    services.ensure_demo_data()
set_resolver(auth.resolve)  # fashion_core's checks ask who this browser session is
identity = auth.current_identity()
if identity.role is None:  # before sign-in: only the sign-in form, and no list of pages
    st.navigation([st.Page(auth.sign_in_form, title="Sign in", url_path="sign-in")], position="hidden").run()
    st.stop()

sections: dict[str, list[st.Page]] = {}
for script, title, icon, section in PAGES:
    if title in NEEDS and not identity.can(NEEDS[title]):
        continue  # hidden, and the page itself refuses too (ui/page.py)
    sections.setdefault(section, []).append(
        st.Page(str(HERE / script), title=title, icon=icon, default=(title == "Home"))
    )
page = st.navigation(sections)

sidebar.render()
page.run()
