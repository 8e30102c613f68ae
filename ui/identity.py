"""The name recorded with every label this session gives: the signed-in identity's (see ui.auth)."""

from __future__ import annotations

from ui.auth import current_identity as _identity


def current_identity() -> str:
    """The acting person's name (kept for callers that want only the name)."""
    return _identity().name
