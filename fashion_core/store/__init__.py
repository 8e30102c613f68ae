"""The SQLite label store: datasets, images, original labels, edits, label maps and runs."""

from fashion_core.store.core import (
    AnnotationRecord,
    DatasetInfo,
    ImageRecord,
    LabelStore,
    utc_now,
)
from fashion_core.store.edits import EditRecord

__all__ = [
    "AnnotationRecord",
    "DatasetInfo",
    "EditRecord",
    "ImageRecord",
    "LabelStore",
    "utc_now",
]
