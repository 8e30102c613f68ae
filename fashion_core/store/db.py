"""SQLite connection set-up, the table definitions of the label store and its versions."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fashion_core.errors import WorkspaceVersionError
from fashion_core.faults import MAX_PAGES_ENV

# The store's schema version, kept in the file header (PRAGMA user_version: read without a
# query on a table, so an up-to-date workspace opens without a write). Version 1 kept it only
# in the meta table. Raise it with every change of DDL and add the step in UPGRADES.
SCHEMA_VERSION = 4

log = logging.getLogger(__name__)

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
    created_by TEXT,
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
    files_json TEXT,
    created_by TEXT
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT,
    created_at TEXT NOT NULL,
    failed_signins INTEGER NOT NULL DEFAULT 0,
    last_failed_at REAL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
"""
# Columns added to existing tables after their first release: (table, column, type). A store
# made before gets them in the upgrade to version 3; ``map_name`` is the label map a run resolved (its config may
# say "the active map"), ``files_json`` the SHA-256 of each run file that changes its answers.
# Version 4 adds ``created_by`` (the signed-in identity) to map versions and runs.
ADDED_COLUMNS = (
    ("runs", "map_name", "TEXT"),
    ("runs", "files_json", "TEXT"),
    ("label_maps", "created_by", "TEXT"),
    ("runs", "created_by", "TEXT"),
)


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


def fault_limits(conn: sqlite3.Connection) -> None:
    """Apply a page cap from the environment to a store connection (tests: a full disk)."""
    pages = os.environ.get(MAX_PAGES_ENV)
    if pages and pages.isdigit():
        conn.execute(f"PRAGMA max_page_count = {int(pages)}")



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


# The step that takes a store from version N to N + 1 (run inside the upgrade's transaction).
UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: None,  # 2: the version moved into PRAGMA user_version; no table changed
    2: _add_missing_columns,  # 3: runs.map_name (the map a run resolved), runs.files_json (answer-file hashes)
    3: lambda conn: _upgrade_to_4(conn),  # 4: users, api_tokens, audit_log; created_by of maps and runs
}


def _upgrade_to_4(conn: sqlite3.Connection) -> None:
    _create_tables(conn)  # IF NOT EXISTS: only the new tables are made
    _add_missing_columns(conn)


def _explained(exc: BaseException, path: Path) -> Exception:
    from fashion_core.store.failures import explain

    return explain(exc, path) or exc  # type: ignore[return-value]


@dataclass(frozen=True)
class Upgrade:
    """A workspace upgraded in place when it was opened, and where its old file was kept."""

    path: Path
    from_version: int
    to_version: int
    backup: Path


def read_version(conn: sqlite3.Connection) -> int:
    """The store's schema version: 0 for a new, empty file."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version:
        return version
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "datasets" not in tables:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if "meta" in tables else None
    return int(row[0]) if row else 1


def migrate(conn: sqlite3.Connection, path: Path) -> Upgrade | None:
    """Create the tables of a new store, or upgrade an older one in place; refuse a newer one.

    An up-to-date store costs one header read and no write. An older one is first copied
    (SQLite's online backup) to a file named in the log and the returned ``Upgrade``, then
    upgraded in one transaction, so a failed upgrade leaves it as it was.

    Raises:
        WorkspaceVersionError: The store was written by a newer studio.
    """
    found = read_version(conn)
    if found == SCHEMA_VERSION:
        return None
    _refuse_newer(found, path)
    backup = _backup(conn, path, found) if found else None
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = read_version(conn)  # another process may have upgraded it while we waited
        _refuse_newer(found, path)
        for step in _steps(found):
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if backup is not None and found == SCHEMA_VERSION:
        backup.unlink(missing_ok=True)  # the other process made its own backup
    if backup is None or found == SCHEMA_VERSION:
        return None
    log.warning("Upgraded the workspace store %s from version %d to %d; the old file is kept as %s",
                path, found, SCHEMA_VERSION, backup)
    return Upgrade(path, found, SCHEMA_VERSION, backup)


def _steps(found: int) -> list[Callable[[sqlite3.Connection], None]]:
    if found == 0:
        return [_create_tables]
    return [UPGRADES[version] for version in range(found, SCHEMA_VERSION)]


def _create_tables(conn: sqlite3.Connection) -> None:
    for statement in (s.strip() for s in DDL.split(";")):
        if statement:
            conn.execute(statement)


def _refuse_newer(found: int, path: Path) -> None:
    if found > SCHEMA_VERSION:
        raise WorkspaceVersionError(
            f"{path} was written by a newer Fashion Attribute Studio (store version {found}; this one"
            f" reads versions up to {SCHEMA_VERSION}). Upgrade this studio (README: 'Upgrading'),"
            " or choose another workspace with --home."
        )


def _backup(conn: sqlite3.Connection, path: Path, version: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}-v{version}-backup-{stamp}{path.suffix}")
    copy = sqlite3.connect(str(target))
    try:
        conn.backup(copy)
    finally:
        copy.close()
    return target
