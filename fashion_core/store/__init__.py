"""The SQLite label store: datasets, images, original labels, edits, label maps and runs."""

from fashion_core.store.core import (
    AnnotationRecord,
    DatasetInfo,
    ImageRecord,
    LabelStore,
)
from fashion_core.store.db import utc_now
from fashion_core.store.edits import EditRecord
from fashion_core.store.runs import RunRecord

__all__ = [
    "AnnotationRecord",
    "DatasetInfo",
    "EditRecord",
    "ImageRecord",
    "LabelStore",
    "RunRecord",
    "utc_now",
]
