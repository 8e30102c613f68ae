"""Keyboard shortcuts that press Streamlit buttons (the Label page's number keys, Enter, skip, undo)."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

SCRIPT = Path(__file__).resolve().parent / "static" / "keys.js"


def bind_keys(keymap: dict[str, str]) -> None:
    """Map key names (``"1"``, ``"Enter"``, ``"s"``, ``"Backspace"``) to button widget keys.

    The buttons stay ordinary buttons (a mouse and AppTest press them the same way); the
    script, shipped in ``ui/static/keys.js``, only clicks them. Keys typed into a text box are
    left alone.
    """
    # JSON of plain key and widget names; "<" escaped so no value can close the script element.
    data = json.dumps(keymap).replace("<", "\\u003c")
    st.html(f"<script>{SCRIPT.read_text().replace('__KEYMAP__', data)}</script>", unsafe_allow_javascript=True)
