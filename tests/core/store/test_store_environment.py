"""The store under load and in a hostile environment: busy writers, full disk, read-only, damage."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from fashion_core.cli import main
from fashion_core.errors import CorruptStoreError, DiskFullError, ReadOnlyWorkspaceError
from fashion_core.faults import MAX_PAGES_ENV
from fashion_core.ingest import import_labels
from fashion_core.store import LabelStore, db
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"


def _source(tmp_path: Path, n: int) -> tuple[Path, Path]:
    root = tmp_path / "data"
    lines = []
    for i in range(n):
        write_image(root / f"Images/{i}.jpg", seed=i)
        lines.append(f"Images/{i}.jpg,{SLEEVE},nynnnnnnn\n")
    label = tmp_path / "label.csv"
    label.write_text("".join(lines))
    return label, root


def _ingest_args(home: Path, label: Path, root: Path, *extra: str) -> list[str]:
    return [
        "--home",
        str(home),
        "ingest",
        str(label),
        "--format",
        "fashionai",
        "--dataset",
        "d",
        "--images-root",
        str(root),
        *extra,
    ]


def test_opening_and_reading_never_wait_for_a_busy_writer(tmp_path: Path) -> None:
    label, root = _source(tmp_path, 3)
    store = LabelStore.open(tmp_path / "ws")
    import_labels(store, dataset="d", fmt="fashionai", files=[label], images_root=root)
    writer = sqlite3.connect(str(store.db_path), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long import does
    writer.execute("INSERT INTO meta(key, value) VALUES ('busy', 'yes')")
    results: list[object] = []

    def read() -> None:
        reader = LabelStore.open(tmp_path / "ws")  # a fresh open: no write on the way in
        results.append(reader.counts("d"))
        results.append(len(reader.current_labels("d")))

    thread = threading.Thread(target=read)
    started = time.monotonic()
    thread.start()
    thread.join(10)
    writer.execute("ROLLBACK")
    assert not thread.is_alive() and time.monotonic() - started < 5
    assert results == [{"images": 3, "annotations": 3, "label_edits": 0}, 3]


def test_connections_wait_for_writers_rather_than_fail(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_full_disk_is_a_clear_error_and_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    label, root = _source(tmp_path, 300)
    home = tmp_path / "ws"
    LabelStore.open(home).close()
    monkeypatch.setenv(MAX_PAGES_ENV, "12")  # a handful of pages more than the empty store
    code = main(_ingest_args(home, label, root))
    err = capsys.readouterr().err
    assert code == 5, err
    assert str(home / "studio.db") in err and "no space left" in err and "Free disk space" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.delenv(MAX_PAGES_ENV)
    store = LabelStore.open(home)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.datasets() == []
    assert main(_ingest_args(home, label, root)) == 0  # with space again, the same command works


def test_a_full_disk_in_the_library_raises_disk_full(tmp_path: Path, monkeypatch) -> None:
    label, root = _source(tmp_path, 300)
    LabelStore.open(tmp_path / "ws").close()
    monkeypatch.setenv(MAX_PAGES_ENV, "12")
    store = LabelStore.open(tmp_path / "ws")
    with pytest.raises(DiskFullError) as info:
        import_labels(store, dataset="d", fmt="fashionai", files=[label], images_root=root)
    assert info.value.path == str(store.db_path)


def test_a_read_only_store_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    label, root = _source(tmp_path, 2)
    home = tmp_path / "ws"
    LabelStore.open(home).close()
    real_connect = sqlite3.connect

    def read_only_connect(path: str, *args, **kwargs):  # what a read-only mount gives
        return real_connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(db.sqlite3, "connect", read_only_connect)
    code = main(_ingest_args(home, label, root))
    err = capsys.readouterr().err
    assert code == 4, err
    assert str(home / "studio.db") in err and "cannot be written" in err and "--home" in err
    assert main(["--home", str(home), "datasets"]) == 0  # reading still works


def test_a_workspace_that_cannot_be_created_is_read_only(tmp_path: Path, monkeypatch, capsys) -> None:
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    code = main(["--home", str(tmp_path / "ws"), "datasets"])
    err = capsys.readouterr().err
    assert code == 4 and str(tmp_path / "ws") in err and "Traceback" not in err


def test_a_store_that_is_not_a_database_is_a_clear_error(tmp_path: Path, capsys) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "studio.db").write_bytes(b"this is not SQLite at all" * 100)
    code = main(["--home", str(home), "datasets"])
    err = capsys.readouterr().err
    assert code == 6, err
    assert str(home / "studio.db") in err and "damaged" in err and "restore" in err
    with pytest.raises(CorruptStoreError):
        LabelStore.open(home)


def test_a_truncated_store_is_a_clear_error(tmp_path: Path, capsys) -> None:
    label, root = _source(tmp_path, 200)
    home = tmp_path / "ws"
    assert main(_ingest_args(home, label, root)) == 0
    store = LabelStore.open(home)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = (home / "studio.db").read_bytes()
    (home / "studio.db").write_bytes(data[: len(data) // 3])
    capsys.readouterr()
    codes = [main(["--home", str(home), *cmd]) for cmd in (["datasets"], ["stats", "--dataset", "d"])]
    err = capsys.readouterr().err
    assert 6 in codes and "Traceback" not in err and "damaged" in err


def test_read_only_error_type_is_a_permission_error() -> None:
    assert issubclass(ReadOnlyWorkspaceError, PermissionError)
    assert issubclass(DiskFullError, OSError)
