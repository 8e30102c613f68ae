"""SQLite connection set-up and the table definitions of the label store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from fashion_core.faults import fault_limits

SCHEMA_VERSION = 1

# Originals are written once by import and never updated; every change of a label is a
# row in label_edits, so the current label is "latest edit, else original".
DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source_format TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    images_root TEXT NOT NULL,
    created_at TEXT NOT NULL,
    active_map TEXT
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    external_id TEXT,
    url TEXT,
    width INTEGER,
    height INTEGER,
    format TEXT,
    size_bytes INTEGER,
    mtime_ns INTEGER,
    UNIQUE (dataset_id, path)
);
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    value TEXT NOT NULL,
    maybe TEXT NOT NULL DEFAULT '',
    source_file TEXT,
    source_line INTEGER,
    UNIQUE (image_id, category)
);
CREATE INDEX IF NOT EXISTS annotations_dataset ON annotations(dataset_id, category);
CREATE TABLE IF NOT EXISTS label_edits (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    annotator TEXT NOT NULL,
    reason TEXT,
    created_at TEXT NOT NULL,
    undoes INTEGER REFERENCES label_edits(id)
);
CREATE INDEX IF NOT EXISTS label_edits_cell ON label_edits(dataset_id, image_id, category);
CREATE TABLE IF NOT EXISTS label_maps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    spec_json TEXT NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    status TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    config_json TEXT NOT NULL,
    metrics_json TEXT,
    model_sha256 TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    map_name TEXT,
    files_json TEXT
);
"""
# Columns added to existing tables after their first release: (table, column, type). A store
# made before gets them on open; ``map_name`` is the label map a run resolved (its config may
# say "the active map"), ``files_json`` the SHA-256 of each run file that changes its answers.
ADDED_COLUMNS = (("runs", "map_name", "TEXT"), ("runs", "files_json", "TEXT"))


def utc_now() -> str:
    """Now in UTC as ISO 8601 to the second: the store's timestamps."""
    return datetime.now(UTC).isoformat(timespec="seconds")


BUSY_TIMEOUT_S = 30.0


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the store database with WAL and a generous busy time-out.

    WAL lets the app's readers go on while an import or an edit writes; the busy
    time-out makes two writers (two browser sessions, a background run) wait, not fail.

    Raises:
        WorkspaceError: read-only workspace, full disk or a file that is not a database,
            with the path and what to do.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # switching needs the lock
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        fault_limits(conn)
    except (sqlite3.Error, OSError) as exc:
        raise _explained(exc, path) from exc
    return conn


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the tables exist at this schema version (a read: opening takes no write lock)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # no meta table yet: a new database
        return False
    return row is not None and row[0] == str(SCHEMA_VERSION)


def migrate(conn: sqlite3.Connection) -> None:
    """Create the tables if they are missing and record the schema version.

    A store already at this version is left alone, so read-only commands never wait for
    (or take) the write lock just by opening it.
    """
    if is_current(conn) and not _missing_columns(conn):
        return
    conn.executescript(DDL)
    _add_missing_columns(conn)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
    )


def _missing_columns(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """``ADDED_COLUMNS`` that a store made by an older version lacks (a read)."""
    missing = []
    for table, column, kind in ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            missing.append((table, column, kind))
    return missing


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, kind in _missing_columns(conn):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _explained(exc: BaseException, path: Path) -> Exception:
    from fashion_core.store.failures import explain

    return explain(exc, path) or exc  # type: ignore[return-value]
