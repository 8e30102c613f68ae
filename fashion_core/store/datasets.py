"""Write a whole dataset (new, or replacing one) in a single transaction: all of it or nothing.

A process killed at any moment leaves either the old dataset, untouched, or the new one,
complete; never an empty or half-filled dataset. Replacing keeps the edit log of every
image (and category) that is still there and counts what it drops.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fashion_core.errors import StoreError
from fashion_core.faults import fault_point
from fashion_core.schema import Schema
from fashion_core.store.core import AnnotationRecord, ImageRecord, LabelStore, utc_now

# Without these, deleting a dataset's images checks every edit row once per image (foreign
# keys), which made a 100,000-image replace take minutes instead of seconds.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS label_edits_image ON label_edits(image_id)",
    "CREATE INDEX IF NOT EXISTS label_edits_undoes ON label_edits(undoes)",
    "CREATE INDEX IF NOT EXISTS annotations_image ON annotations(image_id)",
    "CREATE INDEX IF NOT EXISTS runs_dataset ON runs(dataset_id)",
)
_BUILDING = "\x1f building: "  # prefix of the new dataset's name until it takes the real one


@dataclass(frozen=True)
class DatasetWrite:
    """What writing a dataset did.

    Attributes:
        images: Images inserted.
        annotations: Original labels inserted.
        replaced: An existing dataset of that name was replaced.
        edits_kept: Edits of the old dataset carried over (their image and category remain).
        edits_dropped: Edits of the old dataset dropped (image or category gone).
    """

    images: int
    annotations: int
    replaced: bool = False
    edits_kept: int = 0
    edits_dropped: int = 0


def ensure_indexes(conn: sqlite3.Connection) -> None:
    """Create the indexes deletes and replaces need (inside the caller's write transaction)."""
    for sql in INDEXES:
        conn.execute(sql)


def exists_message(name: str) -> str:
    """The one message for an import that would replace a dataset without being asked to."""
    return (
        f"A dataset named {name!r} already exists; choose another name, or replace it"
        " (--replace on the command line): edits of images still in the source are kept."
    )


def replace_is_needed(store: LabelStore, name: str) -> bool:
    """Whether importing as ``name`` would replace a dataset with something in it."""
    row = store.conn.execute(
        "SELECT d.id FROM datasets d WHERE d.name = ? AND (EXISTS (SELECT 1 FROM images i"
        " WHERE i.dataset_id = d.id) OR EXISTS (SELECT 1 FROM label_edits e WHERE e.dataset_id = d.id))",
        (name,),
    ).fetchone()
    return row is not None


def write_dataset(
    store: LabelStore,
    name: str,
    schema: Schema,
    images_root: Path,
    source_format: str,
    images: Sequence[ImageRecord],
    annotations: Sequence[AnnotationRecord],
    *,
    replace: bool = False,
) -> DatasetWrite:
    """Create (or with ``replace`` replace) a dataset with its images and labels, atomically.

    An existing dataset with no image and no edit (left by an interrupted import of an older
    version) is replaced without asking: there is nothing in it to lose.

    Raises:
        StoreError: if the name is empty, or a dataset of that name holds data and ``replace``
            is False.
    """
    if not name or not name.strip():
        raise StoreError("A dataset needs a non-empty name.")
    with store.transaction() as conn:
        ensure_indexes(conn)
        old = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
        if old is not None and not replace and replace_is_needed(store, name):
            raise StoreError(exists_message(name))
        new_id = _insert_dataset(conn, name, schema, images_root, source_format)
        n_images = _insert_images(conn, new_id, images)
        fault_point("import:images")
        n_ann = _insert_annotations(conn, new_id, annotations, name)
        fault_point("import:annotations")
        kept = dropped = 0
        if old is not None:
            kept, dropped = _carry_edits(conn, old["id"], new_id, schema)
            _delete_dataset_rows(conn, old["id"])
            fault_point("import:deleted-old")
        conn.execute("UPDATE datasets SET name = ? WHERE id = ?", (name, new_id))
        fault_point("import:before-commit")
    return DatasetWrite(n_images, n_ann, old is not None, kept, dropped)


def _insert_dataset(
    conn: sqlite3.Connection, name: str, schema: Schema, images_root: Path, source_format: str
) -> int:
    cur = conn.execute(
        "INSERT INTO datasets(name, source_format, schema_json, images_root, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (_BUILDING + name, source_format, schema.to_json(), str(Path(images_root).resolve()), utc_now()),
    )
    return int(cur.lastrowid)


def _insert_images(conn: sqlite3.Connection, dataset_id: int, images: Sequence[ImageRecord]) -> int:
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO images(dataset_id, path, external_id, url, width, height,"
        " format, size_bytes, mtime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (dataset_id, i.path, i.external_id, i.url, i.width, i.height, i.format, i.size_bytes, i.mtime_ns)
            for i in images
        ),
    )
    return conn.total_changes - before


def _insert_annotations(
    conn: sqlite3.Connection, dataset_id: int, annotations: Sequence[AnnotationRecord], name: str
) -> int:
    ids = dict(conn.execute("SELECT path, id FROM images WHERE dataset_id = ?", (dataset_id,)).fetchall())
    rows = []
    for a in annotations:
        image_id = ids.get(a.path)
        if image_id is None:
            raise StoreError(f"Annotation for unknown image {a.path!r} in dataset {name!r}")
        rows.append((dataset_id, image_id, a.category, a.value, a.maybe, a.source_file, a.source_line))
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO annotations(dataset_id, image_id, category, value, maybe,"
        " source_file, source_line) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return conn.total_changes - before


def _carry_edits(conn: sqlite3.Connection, old_id: int, new_id: int, schema: Schema) -> tuple[int, int]:
    """Move the old dataset's edits of images (by path) and categories that remain; keep ids.

    Moving rather than copying keeps edit ids, so undo links (``undoes``) stay true.
    """
    categories = schema.category_names
    marks = ",".join("?" * len(categories))
    cur = conn.execute(
        "UPDATE label_edits SET dataset_id = ?, image_id = (SELECT n.id FROM images o JOIN images n"
        "   ON n.dataset_id = ? AND n.path = o.path WHERE o.id = label_edits.image_id)"
        f" WHERE dataset_id = ? AND category IN ({marks}) AND EXISTS (SELECT 1 FROM images o"
        "   JOIN images n ON n.dataset_id = ? AND n.path = o.path WHERE o.id = label_edits.image_id)",
        (new_id, new_id, old_id, *categories, new_id),
    )
    dropped = conn.execute("SELECT COUNT(*) FROM label_edits WHERE dataset_id = ?", (old_id,)).fetchone()[0]
    return cur.rowcount, int(dropped)


def _delete_dataset_rows(conn: sqlite3.Connection, dataset_id: int) -> None:
    # Children first, each by its dataset index: one pass per table, not one per image.
    for table in ("label_edits", "annotations", "images"):
        conn.execute(f"DELETE FROM {table} WHERE dataset_id = ?", (dataset_id,))
    conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
