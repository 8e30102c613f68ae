"""The label edit log: relabel, exclude and undo, never touching the original annotations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fashion_core.access import require_acting
from fashion_core.errors import EditConflictError, StoreError
from fashion_core.schema import normalize_value
from fashion_core.store.db import utc_now

if TYPE_CHECKING:  # pandas (~0.5 s to import) is loaded by the queries that return frames
    import pandas as pd

EXCLUDED = None  # new_value of an edit that takes the image out of a category
UNCHECKED = object()  # ``expected`` of an edit that does not say what its author saw (scripts)
# Reason prefix of an edit that accepted a model's suggestion (a convention, not a column, so
# old databases need no migration); ``accepted_suggestion`` reads it back.
SUGGESTION_TAG = "[model suggestion accepted]"


def accepted_suggestion(reason: str | None) -> bool:
    """Whether an edit's reason says the label accepted a model suggestion."""
    return bool(reason) and str(reason).startswith(SUGGESTION_TAG)


@dataclass(frozen=True)
class EditRecord:
    """One row of the edit log."""

    id: int
    image_id: int
    category: str
    old_value: str | None
    new_value: str | None
    annotator: str
    reason: str | None
    created_at: str
    undoes: int | None


class EditLogMixin:
    """Edit-log methods of LabelStore (kept apart so each file has one job)."""

    def current_value(self, dataset: str, image_id: int, category: str) -> str | None:
        """The label now in force for one image and category (None: no label / excluded)."""
        info = self.dataset(dataset)
        return _current(self.conn, info.id, int(image_id), category)

    def edit_label(
        self,
        dataset: str,
        image_id: int,
        category: str,
        new_value: str | None,
        *,
        annotator: str,
        reason: str | None = None,
        suggestion_accepted: bool = False,
        expected: object = UNCHECKED,
    ) -> EditRecord:
        """Set an image's label in a category (``None`` excludes it from that category).

        ``suggestion_accepted`` marks the edit as a model suggestion taken (``SUGGESTION_TAG``
        leads the reason). The old value is read inside the same write transaction, so two people editing at
        once each get a log row that says truthfully what they replaced.

        ``expected`` is the value the person saw (None: no label); when the label in force
        differs, someone changed it meanwhile and the edit is refused (no silent last write wins).

        Raises:
            AccessDeniedError: the acting identity may not relabel.
            EditConflictError: the label is no longer ``expected``: who changed it, when, to what.
        """
        require_acting("relabel")
        info = self.dataset(dataset)
        cat = info.schema.category(category)
        value = None if new_value is None else normalize_value(cat, new_value)
        annotator = (annotator or "").strip()
        if not annotator:
            raise StoreError("An edit needs an annotator name.")
        self.image(dataset, image_id)  # raises for an unknown image
        if suggestion_accepted:
            reason = f"{SUGGESTION_TAG} {reason or ''}".strip()
        with self.transaction() as conn:
            old = _current(conn, info.id, int(image_id), category)
            if expected is not UNCHECKED and old != expected:
                raise _conflict(conn, info.id, int(image_id), category, expected, old)
            cur = conn.execute(
                "INSERT INTO label_edits(dataset_id, image_id, category, old_value, new_value,"
                " annotator, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (info.id, int(image_id), category, old, value, annotator, reason, utc_now()),
            )
            edit_id = cur.lastrowid
        return self.edit(edit_id)

    def undo_edit(self, edit_id: int, *, annotator: str, reason: str | None = None) -> EditRecord:
        """Undo an edit by logging a new edit that restores its old value.

        Only the latest edit of an (image, category) can be undone, so an undo never
        silently throws away somebody else's later change.
        """
        require_acting("relabel")
        target = self.edit(edit_id)
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT dataset_id, MAX(id) AS latest FROM label_edits"
                " WHERE image_id = ? AND category = ?",
                (target.image_id, target.category),
            ).fetchone()
            if row["latest"] != target.id:
                raise StoreError(
                    f"Edit {edit_id} is not the latest change of image {target.image_id} in"
                    f" {target.category!r} (edit {row['latest']} is); undo that one first."
                )
            cur = conn.execute(
                "INSERT INTO label_edits(dataset_id, image_id, category, old_value, new_value,"
                " annotator, reason, created_at, undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["dataset_id"], target.image_id, target.category, target.new_value,
                    target.old_value, annotator or "unknown", reason or f"undo edit {edit_id}",
                    utc_now(), target.id,
                ),
            )
            new_id = cur.lastrowid
        return self.edit(new_id)

    def edit(self, edit_id: int) -> EditRecord:
        row = self.conn.execute("SELECT * FROM label_edits WHERE id = ?", (int(edit_id),)).fetchone()
        if row is None:
            raise StoreError(f"No edit with id {edit_id}")
        return EditRecord(
            row["id"], row["image_id"], row["category"], row["old_value"], row["new_value"],
            row["annotator"], row["reason"], row["created_at"], row["undoes"],
        )

    def edit_history(self, dataset: str, image_id: int | None = None) -> pd.DataFrame:
        """The edit log of a dataset (or one image), newest first; ``accepted_suggestion`` read from reasons."""
        info = self.dataset(dataset)
        sql = "SELECT * FROM label_edits WHERE dataset_id = ?"
        params: tuple = (info.id,)
        if image_id is not None:
            sql += " AND image_id = ?"
            params += (int(image_id),)
        import pandas as pd

        log = pd.read_sql_query(sql + " ORDER BY id DESC", self.conn, params=params)
        log["accepted_suggestion"] = log["reason"].map(accepted_suggestion).astype(bool)
        return log

    def current_labels(self, dataset: str) -> pd.DataFrame:
        """Labels in force: the latest edit of each (image, category), else the original.

        Columns: image_id, path, category, value, maybe, edited. Excluded labels are left out.
        """
        info = self.dataset(dataset)
        labels = self.original_labels(dataset)
        import pandas as pd

        latest = pd.read_sql_query(
            "SELECT e.image_id, i.path, e.category, e.new_value AS value FROM label_edits e"
            " JOIN (SELECT MAX(id) AS id FROM label_edits WHERE dataset_id = ?"
            "       GROUP BY image_id, category) last ON last.id = e.id"
            " JOIN images i ON i.id = e.image_id",
            self.conn,
            params=(info.id,),
        )
        labels["edited"] = False
        if latest.empty:
            return labels
        keys = ["image_id", "category"]
        merged = labels.merge(latest[keys + ["value"]], on=keys, how="outer", suffixes=("", "_e"))
        edited = merged["value_e"].notna() | merged.set_index(keys).index.isin(
            latest.loc[latest["value"].isna()].set_index(keys).index
        )
        merged.loc[edited, "value"] = merged.loc[edited, "value_e"]
        merged["edited"] = edited
        # Paths and maybe marks of cells that exist only as edits.
        paths = dict(zip(latest["image_id"], latest["path"]))
        merged["path"] = merged["path"].fillna(merged["image_id"].map(paths))
        # A person's edit settles the doubt an "m" mark expressed.
        merged["maybe"] = merged["maybe"].fillna("").where(~edited, "")
        merged = merged.drop(columns=["value_e"])
        merged = merged[merged["value"].notna()].reset_index(drop=True)
        merged["image_id"] = merged["image_id"].astype("int64")
        return merged

    def labels_version(self, dataset: str) -> tuple[int, int, int, str | None]:
        """A cheap fingerprint that changes whenever the dataset's current labels can change.

        Pages use it as a cache key: (annotation count, last edit id, last label-map row id,
        active map).
        """
        info = self.dataset(dataset)
        conn = self.conn
        n = conn.execute("SELECT COUNT(*) FROM annotations WHERE dataset_id = ?", (info.id,)).fetchone()[0]
        last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM label_edits WHERE dataset_id = ?", (info.id,)).fetchone()[0]
        maps = conn.execute("SELECT COALESCE(MAX(id), 0) FROM label_maps").fetchone()[0]
        return (n, last, maps, info.active_map)


def _conflict(conn, dataset_id: int, image_id: int, category: str, seen: object, now: str | None) -> EditConflictError:
    row = conn.execute(
        "SELECT annotator, created_at FROM label_edits WHERE dataset_id = ? AND image_id = ? AND category = ?"
        " ORDER BY id DESC LIMIT 1",
        (dataset_id, image_id, category),
    ).fetchone()
    who = f"{row['annotator']} changed it at {row['created_at']}" if row else "it changed"
    return EditConflictError(
        f"Not saved: while you looked, {who} (image {image_id}, {category}: {seen or '(none)'} -> "
        f"{now or '(excluded)'}). The view now shows the current label; decide again."
    )


def _current(conn, dataset_id: int, image_id: int, category: str) -> str | None:
    row = conn.execute(
        "SELECT new_value FROM label_edits WHERE dataset_id = ? AND image_id = ? AND category = ?"
        " ORDER BY id DESC LIMIT 1",
        (dataset_id, image_id, category),
    ).fetchone()
    if row is not None:
        return row["new_value"]
    row = conn.execute(
        "SELECT value FROM annotations WHERE dataset_id = ? AND image_id = ? AND category = ?",
        (dataset_id, image_id, category),
    ).fetchone()
    return None if row is None else row["value"]
