"""Small Streamlit helpers the data pages share: annotator name, thumbnails, progress, messages."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from fashion_core.imaging import ThumbnailCache, ThumbnailReport, ensure_thumbnails, served_file
from fashion_core.store import DatasetInfo
from ui.services import get_workspace


def annotator_name() -> str:
    """The signed-in identity's name, recorded with every edit (no longer typed in the sidebar)."""
    from ui.auth import current_identity

    return current_identity().name


def progress_callback(text: str) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that shows an ``st.progress`` bar, created on first call.

    Call it from the script thread only (Streamlit elements cannot be used from workers).
    """
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = st.progress(0.0, text=text)
        if done >= total:
            bar.empty()
        else:
            bar.progress(done / max(total, 1), text=f"{text} ({done:,}/{total:,})")

    return update


def stage_progress(text: str) -> Callable[[str, float], None]:
    """A ``(stage, fraction)`` callback drawing one progress bar, as fashion_core's long steps report.

    Call it from the script thread only (Streamlit elements cannot be used from workers).
    """
    bar = st.progress(0.0, text=text)

    def update(stage: str, fraction: float) -> None:
        if fraction >= 1.0:  # finished: a full bar left on screen would read as work still going on
            bar.empty()
            return
        bar.progress(max(fraction, 0.0), text=f"{text}: {stage}")

    return update


def flash(key: str, message: str | None = None) -> None:
    """Keep a message for the next run (``message``), or show and forget the kept one."""
    if message is not None:
        st.session_state[key] = message
    elif msg := st.session_state.pop(key, None):
        st.success(msg, icon=":material/check_circle:")


def served_thumbnails(info: DatasetInfo, paths: list[str], size: int) -> ThumbnailReport:
    """Thumbnails of some images of a dataset, made if missing (with a progress bar).

    Only files inside the workspace's thumbnail cache are returned: nothing else reaches
    the browser.
    """
    cache = ThumbnailCache(get_workspace().thumbnails_dir, size=size)
    report = ensure_thumbnails(
        cache, info.id, info.images_root, paths, on_progress=progress_callback("Making thumbnails")
    )
    report.thumbnails = {p: served_file(f, [cache.root]) for p, f in report.thumbnails.items()}
    return report
