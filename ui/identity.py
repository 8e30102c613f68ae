"""Who is labelling: one small function, so accounts can replace the sidebar name later."""

from __future__ import annotations

from ui.widgets import annotator_name


def current_identity() -> str:
    """The name recorded with every label this session gives (today: the sidebar's name)."""
    return annotator_name()
