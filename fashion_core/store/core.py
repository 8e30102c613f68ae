"""The label store: datasets, images and their original labels in one SQLite file.

The other tables' queries are mixed in from one module each: edits.py, runs.py, maps.py, gallery.py.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_core.access import require_acting
from fashion_core.errors import StoreError, UnknownDatasetError
from fashion_core.schema import Schema
from fashion_core.store import db
from fashion_core.store.db import utc_now
from fashion_core.store.edits import EditLogMixin
from fashion_core.store.failures import explain
from fashion_core.store.gallery import GalleryQueryMixin
from fashion_core.store.maps import MapRowsMixin
from fashion_core.store.runs import RunRowsMixin
from fashion_core.store.users import UserRowsMixin
from fashion_core.workspace import Workspace

if TYPE_CHECKING:  # pandas (~0.5 s to import) is loaded by the queries that return frames
    import pandas as pd


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset as recorded in the store."""

    id: int
    name: str
    source_format: str
    schema: Schema
    images_root: Path
    created_at: str
    active_map: str | None


@dataclass(frozen=True)
class ImageRecord:
    """An image to insert: path relative to the dataset's images root plus its header facts."""

    path: str
    width: int | None = None
    height: int | None = None
    format: str | None = None
    size_bytes: int | None = None
    mtime_ns: int | None = None
    external_id: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class AnnotationRecord:
    """An original label to insert: ``value`` is a value name, or ``a|b`` for multi-label."""

    path: str
    category: str
    value: str
    maybe: str = ""
    source_file: str | None = None
    source_line: int | None = None


class LabelStore(EditLogMixin, RunRowsMixin, MapRowsMixin, GalleryQueryMixin, UserRowsMixin):
    """Access to the workspace's SQLite label store; safe to share between threads.

    Each thread gets its own connection (sqlite3 connections must not be used from two
    threads at once), all on the same WAL database file.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self._local = threading.local()
        try:
            # Set when opening upgraded an older workspace (the backup's name is in it).
            self.upgrade: db.Upgrade | None = db.migrate(self.conn, self.db_path)
        except sqlite3.Error as exc:
            raise explain(exc, self.db_path) or exc from exc

    @classmethod
    def open(cls, where: Workspace | str | Path) -> LabelStore:
        """Open the store of a workspace (or a database file path ending in ``.db``)."""
        if isinstance(where, Workspace):
            return cls(where.db_path)
        path = Path(where)
        return cls(path if path.suffix == ".db" else Workspace(path).db_path)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = db.connect(self.db_path)
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock at once (no lost updates)."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise explain(exc, self.db_path) or exc from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # SQLite may have rolled back already (a full disk does)
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise explain(exc, self.db_path) or exc from exc
            raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- datasets -------------------------------------------------------------------------

    def create_dataset(
        self,
        name: str,
        schema: Schema,
        images_root: Path,
        source_format: str,
        *,
        replace: bool = False,
    ) -> DatasetInfo:
        """Create an empty dataset; with ``replace`` an existing one of that name is deleted first."""
        if not name or not name.strip():
            raise StoreError("A dataset needs a non-empty name.")
        require_acting("import")
        with self.transaction() as conn:
            if replace:
                conn.execute("DELETE FROM datasets WHERE name = ?", (name,))
            try:
                conn.execute(
                    "INSERT INTO datasets(name, source_format, schema_json, images_root, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, source_format, schema.to_json(), str(Path(images_root).resolve()), utc_now()),
                )
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"A dataset named {name!r} already exists; choose another name or replace it."
                ) from None
        return self.dataset(name)

    def dataset(self, name: str) -> DatasetInfo:
        row = self.conn.execute("SELECT * FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = [d.name for d in self.datasets()]
            raise UnknownDatasetError(f"No dataset named {name!r}; known datasets: {known}")
        return _dataset_from_row(row)

    def datasets(self) -> list[DatasetInfo]:
        rows = self.conn.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        return [_dataset_from_row(r) for r in rows]

    def delete_dataset(self, name: str) -> None:
        require_acting("delete")
        info = self.dataset(name)
        with self.transaction() as conn:
            conn.execute("DELETE FROM datasets WHERE id = ?", (info.id,))

    def set_active_map(self, dataset: str, map_name: str | None) -> None:
        """Record which label map the dataset's pages, training and evaluation read through."""
        require_acting("activate_map")
        info = self.dataset(dataset)
        with self.transaction() as conn:
            conn.execute("UPDATE datasets SET active_map = ? WHERE id = ?", (map_name, info.id))

    # -- images and original labels ---------------------------------------------------------

    def add_images(self, dataset: str, images: Iterable[ImageRecord]) -> int:
        """Insert images (ignoring paths already present); return how many were new."""
        info = self.dataset(dataset)
        rows = [
            (info.id, i.path, i.external_id, i.url, i.width, i.height, i.format, i.size_bytes, i.mtime_ns)
            for i in images
        ]
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO images(dataset_id, path, external_id, url, width, height,"
                " format, size_bytes, mtime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

    def add_annotations(self, dataset: str, annotations: Iterable[AnnotationRecord]) -> int:
        """Insert original labels for images already added; an existing (image, category) stays.

        Returns:
            How many annotations were new.
        """
        info = self.dataset(dataset)
        ids = self.image_ids(dataset)
        rows = []
        for a in annotations:
            image_id = ids.get(a.path)
            if image_id is None:
                raise StoreError(f"Annotation for unknown image {a.path!r} in dataset {dataset!r}")
            rows.append(
                (info.id, image_id, a.category, a.value, a.maybe, a.source_file, a.source_line)
            )
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO annotations(dataset_id, image_id, category, value, maybe,"
                " source_file, source_line) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

    def image_ids(self, dataset: str) -> dict[str, int]:
        info = self.dataset(dataset)
        cur = self.conn.execute("SELECT path, id FROM images WHERE dataset_id = ?", (info.id,))
        return dict(cur.fetchall())

    def images(self, dataset: str) -> pd.DataFrame:
        """All images of a dataset with their header facts, one row each."""
        info = self.dataset(dataset)
        import pandas as pd

        return pd.read_sql_query(
            "SELECT id AS image_id, path, external_id, url, width, height, format, size_bytes"
            " FROM images WHERE dataset_id = ? ORDER BY id",
            self.conn,
            params=(info.id,),
        )

    def image(self, dataset: str, image_id: int) -> sqlite3.Row:
        info = self.dataset(dataset)
        row = self.conn.execute(
            "SELECT * FROM images WHERE dataset_id = ? AND id = ?", (info.id, int(image_id))
        ).fetchone()
        if row is None:
            raise StoreError(f"No image with id {image_id} in dataset {dataset!r}")
        return row

    def image_path(self, dataset: str, image_id: int) -> Path:
        """Absolute path of an image; always inside the dataset's images root."""
        info = self.dataset(dataset)
        return info.images_root / self.image(dataset, image_id)["path"]

    def original_labels(self, dataset: str) -> pd.DataFrame:
        """The labels exactly as imported: columns image_id, path, category, value, maybe."""
        info = self.dataset(dataset)
        import pandas as pd

        return pd.read_sql_query(
            "SELECT a.image_id, i.path, a.category, a.value, a.maybe FROM annotations a"
            " JOIN images i ON i.id = a.image_id WHERE a.dataset_id = ? ORDER BY a.id",
            self.conn,
            params=(info.id,),
        )

    def counts(self, dataset: str) -> dict[str, int]:
        """Numbers of images, original annotations and edits of a dataset."""
        info = self.dataset(dataset)
        q = "SELECT COUNT(*) FROM {} WHERE dataset_id = ?"
        return {
            t: self.conn.execute(q.format(t), (info.id,)).fetchone()[0]
            for t in ("images", "annotations", "label_edits")
        }


def _dataset_from_row(row: sqlite3.Row) -> DatasetInfo:
    return DatasetInfo(
        id=row["id"],
        name=row["name"],
        source_format=row["source_format"],
        schema=Schema.from_json(row["schema_json"]),
        images_root=Path(row["images_root"]),
        created_at=row["created_at"],
        active_map=row["active_map"],
    )
