"""Data shown as text: label values, names and paths must never be read as markdown or HTML.

Streamlit renders markdown in titles, captions, messages and button labels; a label value such as
``![x](https://elsewhere/pixel)`` would make every visitor's browser load an outside URL. ``plain``
escapes every character markdown gives a meaning to, and ``<``/``>`` so no tag is formed.
"""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$=])")


def plain(value: object) -> str:
    """``value`` as text to put inside a markdown string: shown exactly, never rendered."""
    text = _MARKDOWN.sub(r"\\\1", str(value))
    return text.replace("<", "&lt;").replace(">", "&gt;")
