"""Turn what SQLite and the file system say into errors that name the path and what to do.

The same text serves the CLI (one line on stderr, a distinct exit code) and the app (a banner).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from fashion_core.errors import (
    CorruptStoreError,
    DiskFullError,
    ReadOnlyWorkspaceError,
    StoreBusyError,
    WorkspaceError,
)

_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def read_only(path: Path | str) -> ReadOnlyWorkspaceError:
    return ReadOnlyWorkspaceError(
        str(path),
        "the workspace cannot be written (read-only file system or no write permission)",
        "Make the folder writable for this user, or choose a writable workspace with --home"
        " (or FASHION_STUDIO_HOME); nothing was changed.",
    )


def disk_full(path: Path | str) -> DiskFullError:
    return DiskFullError(
        str(path),
        "no space left to write",
        "Free disk space on that drive (or move the workspace with --home) and run the command"
        " again; the unfinished write was rolled back, so nothing was half-saved.",
    )


def corrupt(path: Path | str, detail: str) -> CorruptStoreError:
    return CorruptStoreError(
        str(path),
        f"the label store is damaged or not a database ({detail})",
        "Run 'python -m fashion_core doctor' to check it, then 'python -m fashion_core restore"
        " BACKUP' from a backup; or move the file away to start an empty store.",
    )


def busy(path: Path | str) -> StoreBusyError:
    return StoreBusyError(
        str(path),
        "another process kept the label store locked for too long",
        "Wait for the running import or edit to finish (see the app or 'runs list') and try again.",
    )


def explain(exc: BaseException, db_path: Path | str) -> WorkspaceError | None:
    """The workspace error behind ``exc`` (or any exception it was raised from), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _explain_one(current, Path(db_path))
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _explain_one(exc: BaseException, db_path: Path) -> WorkspaceError | None:
    if isinstance(exc, WorkspaceError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return _from_sqlite(exc, db_path)
    if isinstance(exc, OSError) and exc.errno is not None:
        where = exc.filename or db_path
        if exc.errno in _FULL_ERRNOS:
            return disk_full(where)
        if exc.errno in _READ_ONLY_ERRNOS and _inside(where, db_path.parent):
            return read_only(where)
    return None


def _from_sqlite(exc: sqlite3.Error, db_path: Path) -> WorkspaceError | None:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return disk_full(db_path)
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "malformed" in text
        or "not a database" in text
    ):
        return corrupt(db_path, str(exc))
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return read_only(db_path)
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in text:
        return read_only(db_path) if not _writable(db_path) else corrupt(db_path, str(exc))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return busy(db_path)
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        return corrupt(db_path, str(exc)) if db_path.exists() else read_only(db_path)
    return None


def _writable(db_path: Path) -> bool:
    folder = db_path.parent
    return (
        folder.is_dir()
        and os.access(folder, os.W_OK)
        and (not db_path.exists() or os.access(db_path, os.W_OK))
    )


def _inside(path: Path | str, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False
