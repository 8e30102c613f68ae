"""Import a label source into the store: read, check every image's header, insert in bulk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fashion_core.errors import LabelFileError, StoreError, UnreadableFileError
from fashion_core.ingest.fashionai import read_fashionai
from fashion_core.ingest.folders import read_folders
from fashion_core.ingest.generic_csv import read_generic_csv
from fashion_core.ingest.images import ImageHeader, read_headers
from fashion_core.ingest.jd import read_jd
from fashion_core.ingest.json_labels import read_json_labels
from fashion_core.ingest.table import Duplicate, ParsedLabels, Rejection
from fashion_core.schema import FASHIONAI, JD, Schema
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore
from fashion_core.store.datasets import exists_message, replace_is_needed, write_dataset

FORMATS = ("fashionai", "jd", "folders", "csv", "json")

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ImportReport:
    """The outcome of an import: what went in, and every row that did not, with why."""

    dataset: str
    images: int
    annotations: int
    rows_read: int
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    replaced: bool = False
    edits_kept: int = 0
    edits_dropped: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "images": self.images,
            "annotations": self.annotations,
            "rows_read": self.rows_read,
            "replaced": self.replaced,
            "edits_kept": self.edits_kept,
            "edits_dropped": self.edits_dropped,
            "rejected": [r.to_dict() for r in self.rejected],
            "duplicates": [d.to_dict() for d in self.duplicates],
        }


def parse_source(
    fmt: str,
    files: Sequence[Path],
    *,
    images_root: Path,
    schema: Schema | None = None,
    category: str | None = None,
) -> ParsedLabels:
    """Read a source of the given format into the canonical table (no image checks yet)."""
    files = [Path(f) for f in files]
    if fmt == "fashionai":
        return read_fashionai(files, schema=schema or FASHIONAI)
    if fmt == "jd":
        return read_jd(files, schema=schema or JD, images_root=images_root)
    if fmt == "folders":
        return read_folders(files[0] if files else images_root, category=category)
    if fmt == "csv":
        if len(files) != 1:
            raise LabelFileError(",".join(map(str, files)) or "<none>", "csv format takes exactly one file")
        return read_generic_csv(files[0], schema=schema, category=category or "labels")
    if fmt == "json":
        if len(files) != 1:
            raise LabelFileError(",".join(map(str, files)) or "<none>", "json format takes exactly one file")
        return read_json_labels(files[0], schema=schema)
    raise LabelFileError(str(files[0]) if files else "<none>", f"unknown format {fmt!r}; expected one of {FORMATS}")


def import_labels(
    store: LabelStore,
    *,
    dataset: str,
    fmt: str,
    files: Sequence[Path],
    images_root: Path,
    schema: Schema | None = None,
    category: str | None = None,
    replace: bool = False,
    workers: int = 2,
    on_progress: ProgressFn | None = None,
) -> ImportReport:
    """Import labels and their images' headers into a new dataset, all or nothing.

    Rows whose image is missing, unreadable or not an image are rejected with their file
    and line; everything else is imported. A file that cannot be read at all raises
    ``LabelFileError`` and nothing is imported. The dataset is written in one transaction, so
    a process killed at any moment leaves the old dataset (or none) or the whole new one.
    With ``replace``, edits of images and categories still present are kept; the report
    counts the kept and dropped edits.
    """
    images_root = Path(images_root)
    if not images_root.is_dir():
        raise UnreadableFileError(str(images_root), "images root is not a folder; check the path")
    refuse_existing(store, dataset, replace)
    parsed = parse_source(fmt, files, images_root=images_root, schema=schema, category=category)
    # Same-value duplicates left the rows without a rejection; count them as read too.
    rows_read = len(parsed.rows) + len(parsed.rejected) + sum(d.same_value for d in parsed.duplicates)
    headers = _check_images(images_root, parsed, workers, on_progress)
    good_rows = [r for r in parsed.rows if headers[r.image].error is None]
    for row in parsed.rows:
        error = headers[row.image].error
        if error is not None:
            parsed.reject(row.source, row.line, f"{error}: {row.image}")
    parsed.rejected.sort(key=lambda r: (r.file, r.line))
    if not good_rows:
        raise LabelFileError(
            ", ".join(map(str, files)) or str(images_root),
            "no row has a readable image under the images root "
            f"{images_root} (first problem: {parsed.rejected[0].reason if parsed.rejected else 'none'})",
        )
    if on_progress:
        on_progress("store", 0, len(good_rows))
    written = write_dataset(
        store, dataset, parsed.schema, images_root, fmt,
        list(_image_records(good_rows, headers)),
        [AnnotationRecord(r.image, r.category, r.value, r.maybe, r.source, r.line) for r in good_rows],
        replace=replace,
    )
    if on_progress:
        on_progress("store", len(good_rows), len(good_rows))
    return ImportReport(
        dataset, written.images, written.annotations, rows_read, parsed.rejected, parsed.duplicates,
        written.replaced, written.edits_kept, written.edits_dropped,
    )


def refuse_existing(store: LabelStore, dataset: str, replace: bool) -> None:
    """Raise before any work if importing as ``dataset`` would replace data without ``replace``."""
    if not replace and replace_is_needed(store, dataset):
        raise StoreError(exists_message(dataset))


def _check_images(
    root: Path, parsed: ParsedLabels, workers: int, on_progress: ProgressFn | None
) -> dict[str, ImageHeader]:
    unique = list(dict.fromkeys(r.image for r in parsed.rows))
    total = len(unique)
    progress = (lambda done: on_progress("images", done, total)) if on_progress else None
    return {h.path: h for h in read_headers(root, unique, workers=workers, on_progress=progress)}


def _image_records(rows, headers: dict[str, ImageHeader]):
    seen: set[str] = set()
    for r in rows:
        if r.image in seen:
            continue
        seen.add(r.image)
        h = headers[r.image]
        yield ImageRecord(r.image, h.width, h.height, h.format, h.size_bytes, h.mtime_ns, r.external_id, r.url)
