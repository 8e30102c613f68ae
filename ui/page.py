"""The one page skeleton: title, services, the dataset if needed, and FashionCoreError shown as st.error.

Every page starts with ``run_page(main, title=...)`` (or, for a page written at module level,
``start_page(...)`` and its own ``errors_shown()`` blocks), so every page opens the same way and
no traceback of ours reaches a user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

from fashion_core.access import require
from fashion_core.errors import FashionCoreError
from fashion_core.store import DatasetInfo, LabelStore
from fashion_core.workspace import Workspace
from ui import auth
from ui.services import active_dataset, get_workspace, store_or_stop
from ui.text import plain

NO_DATASET = (
    "No dataset yet. Import one with `python -m fashion_core ingest ...`, or start the app "
    "on an empty workspace to get the demo data."
)


@dataclass(frozen=True)
class PageContext:
    """What a page works with: the process-wide store and workspace, and the sidebar's dataset.

    Attributes:
        store: The label store.
        workspace: The workspace folders.
        dataset: The dataset chosen in the sidebar; None when the workspace has none.
    """

    store: LabelStore
    workspace: Workspace
    dataset: DatasetInfo | None

    def require_dataset(self) -> DatasetInfo:
        """The dataset; with none, the "no dataset" note and the page stops."""
        if self.dataset is None:
            st.info(NO_DATASET, icon=":material/info:")
            st.stop()
        return self.dataset


@contextmanager
def errors_shown() -> Iterator[None]:
    """Show a FashionCoreError raised inside as ``st.error`` (its message says what to do)."""
    try:
        yield
    except FashionCoreError as exc:
        st.error(plain(exc))


def _refusal(identity, action: str) -> Exception:
    try:
        require(identity, action)
    except FashionCoreError as exc:
        return exc
    return FashionCoreError(action)


def start_page(
    title: str, caption: str | None = None, *, needs_dataset: bool = True, action: str | None = "view"
) -> PageContext:
    """Draw the title (and caption), open the services and, if needed, require a dataset.

    Args:
        title: The page's title.
        caption: One line under the title saying what the page is for.
        needs_dataset: Stop with the "no dataset" note when the workspace has none.
        action: What opening the page needs (``fashion_core.access.ACTIONS``); checked for the
            signed-in identity, the page stops with the reason when its role does not allow it.

    Returns:
        The page's context. The page stops (``st.stop``) when it cannot go on.
    """
    identity = auth.require_sign_in()  # before anything of the workspace is shown
    if action is not None and not identity.can(action):
        st.title(title)
        st.error(plain(_refusal(identity, action)), icon=":material/lock:")
        st.stop()
    st.title(title)
    if caption:
        st.caption(caption)
    context = None
    with errors_shown():
        context = PageContext(store_or_stop(), get_workspace(), active_dataset())
    if context is None:
        st.stop()
    if needs_dataset:
        context.require_dataset()
    return context


def run_page(
    main: Callable[[PageContext], None],
    *,
    title: str,
    caption: str | None = None,
    needs_dataset: bool = True,
    action: str | None = "view",
) -> None:
    """Start the page (see ``start_page``) and run ``main`` with its context, errors shown."""
    context = start_page(title, caption, needs_dataset=needs_dataset, action=action)
    with errors_shown():
        main(context)
