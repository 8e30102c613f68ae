"""The SQLite label store: datasets, images, original labels, edits, label maps and runs.

``explain_failure`` is ``failures.explain`` (a store error in words), named for callers outside.
"""

from fashion_core.store.backup import backup_store, integrity_problems, restore_store
from fashion_core.store.core import (
    AnnotationRecord,
    DatasetInfo,
    ImageRecord,
    LabelStore,
)
from fashion_core.store.db import utc_now
from fashion_core.store.edits import EditRecord
from fashion_core.store.failures import explain as explain_failure
from fashion_core.store.runs import RunRecord

__all__ = [
    "AnnotationRecord",
    "DatasetInfo",
    "EditRecord",
    "ImageRecord",
    "LabelStore",
    "RunRecord",
    "backup_store",
    "explain_failure",
    "integrity_problems",
    "restore_store",
    "utc_now",
]
