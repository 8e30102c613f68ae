"""Check, back up and restore the label store with SQLite's online backup API.

The backup API copies a consistent snapshot page by page while other connections keep
reading and writing, so both are safe while the app runs.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fashion_core.errors import CorruptStoreError, StoreError, UnreadableFileError
from fashion_core.store import db
from fashion_core.store.failures import corrupt, explain

PAGES_PER_STEP = 4096  # copy in steps so writers get the lock between them


@dataclass(frozen=True)
class BackupInfo:
    """A finished backup or restore: where, how big, and the datasets it holds."""

    path: Path
    size_bytes: int
    datasets: int
    safety_copy: Path | None = None  # restore: where the store it replaced was saved


def integrity_problems(db_path: Path) -> list[str]:
    """What ``PRAGMA integrity_check`` and the foreign-key check find; empty when all is well.

    Opens the file read-only, so a check never changes (or locks) the store.

    Raises:
        UnreadableFileError: if the file does not exist.
    """
    if not Path(db_path).is_file():
        raise UnreadableFileError(str(db_path), "no label store here; check the workspace path (--home)")
    try:
        conn = _open_read_only(db_path)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            problems = [] if rows == ["ok"] else rows
            bad_keys = conn.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    if bad_keys:
        problems.append(f"{len(bad_keys)} rows point at rows that no longer exist (foreign keys)")
    return problems


def backup_store(db_path: Path, out: Path) -> BackupInfo:
    """Write a consistent copy of the store to ``out`` (atomically: a temp file, then rename).

    Raises:
        CorruptStoreError: if the store cannot be read.
        StoreError: if ``out`` is the store itself or its folder does not exist.
    """
    db_path, out = Path(db_path), Path(out)
    if not out.name or out.is_dir():
        raise StoreError(
            f"{out}: give a file name for the backup, not a folder (e.g. --out studio-backup.db)."
        )
    if out.resolve() == db_path.resolve():
        raise StoreError(f"{out}: the backup must go to another file than the store itself.")
    if not out.parent.is_dir():
        raise UnreadableFileError(str(out.parent), "folder does not exist; create it or choose another --out")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        _copy(_open_read_only(db_path), sqlite3.connect(str(tmp)))
        _check_copy(tmp)
        os.replace(tmp, out)
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise explain(exc, out) or corrupt(db_path, str(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupInfo(out, out.stat().st_size, _count_datasets(out))


def restore_store(db_path: Path, backup: Path) -> BackupInfo:
    """Replace the store's content with a backup's, keeping a safety copy of the current store.

    The backup is checked first (a SQLite file whose integrity check passes and that holds
    a label store). Copying goes through the online backup API into the live file, so the
    app's open connections see the restored data and never a half-written file.

    Raises:
        UnreadableFileError: if the backup is missing.
        CorruptStoreError: if the backup is damaged or not a label store.
    """
    db_path, backup = Path(db_path), Path(backup)
    if not backup.is_file():
        raise UnreadableFileError(str(backup), "backup file not found; check the path")
    problems = integrity_problems(backup)
    if problems or not _is_label_store(backup):
        detail = problems[0] if problems else "it has no label store tables"
        raise CorruptStoreError(
            str(backup),
            f"not a usable backup ({detail})",
            "Choose another backup file; the current store was not touched.",
        )
    safety = None
    if db_path.is_file():
        safety = db_path.with_name(f"{db_path.stem}.before-restore-{_stamp()}.db")
        try:
            backup_store(db_path, safety)
        except CorruptStoreError:  # a damaged store cannot be copied: keep its bytes instead
            _move_aside(db_path, safety)
    try:
        _copy(_open_read_only(backup), db.connect(db_path))
    except sqlite3.Error as exc:
        raise explain(exc, db_path) or exc from exc
    return BackupInfo(db_path, db_path.stat().st_size, _count_datasets(db_path), safety)


def _open_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=db.BUSY_TIMEOUT_S)


def _copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    try:
        source.backup(target, pages=PAGES_PER_STEP)
    finally:
        source.close()
        target.close()


def _check_copy(path: Path) -> None:
    problems = integrity_problems(path)
    if problems:
        raise sqlite3.DatabaseError(f"the copy failed its integrity check: {problems[0]}")


def _is_label_store(path: Path) -> bool:
    conn = _open_read_only(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    return {"datasets", "images", "annotations", "label_edits"} <= names


def _count_datasets(path: Path) -> int:
    conn = _open_read_only(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0])
    finally:
        conn.close()


def _move_aside(db_path: Path, target: Path) -> None:
    os.replace(db_path, target)
    for suffix in ("-wal", "-shm"):  # a fresh file must not meet the old file's journal
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
