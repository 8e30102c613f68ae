"""The audit list: who did what (account changes, maps, runs, downloads, exports, plus every label edit)."""

from __future__ import annotations

import pandas as pd

from fashion_core.access import acting, require_acting
from fashion_core.store import LabelStore


def record(store: LabelStore, action: str, target: str | None = None, detail: str | None = None) -> None:
    """Add a line for the acting identity."""
    store.add_audit(acting().name, action, target, detail)


def audit_list(store: LabelStore, limit: int = 500) -> pd.DataFrame:
    """Newest first: at, actor, action, target, detail (needs the ``audit`` permission)."""
    require_acting("audit")
    return store.audit_rows(limit)
