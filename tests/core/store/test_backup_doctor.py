"""backup / restore of the label store (online backup API) and the workspace doctor."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from fashion_core.cli import main
from fashion_core.doctor import check_workspace
from fashion_core.errors import CorruptStoreError
from fashion_core.ingest import import_labels
from fashion_core.runs import RunDir, register_run, sha256_file, update_run
from fashion_core.store import LabelStore, backup_store, integrity_problems, restore_store
from fashion_core.workspace import Workspace
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Workspace, LabelStore]:
    root = tmp_path / "data"
    lines = []
    for i in range(20):
        write_image(root / f"Images/{i}.jpg", seed=i)
        lines.append(f"Images/{i}.jpg,{SLEEVE},nynnnnnnn\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    ws = Workspace(tmp_path / "ws").ensure()
    store = LabelStore.open(ws)
    import_labels(store, dataset="d", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    return ws, store


def test_backup_while_a_writer_works_then_restore(tmp_path: Path, filled) -> None:
    ws, store = filled
    ids = sorted(store.image_ids("d").values())
    stop = threading.Event()

    def keep_editing() -> None:
        writer = LabelStore.open(ws)
        while not stop.is_set():
            writer.edit_label("d", ids[0], SLEEVE, "Cup Sleeves", annotator="busy")

    thread = threading.Thread(target=keep_editing)
    thread.start()
    try:
        info = backup_store(ws.db_path, tmp_path / "b.db")
    finally:
        stop.set()
        thread.join()
    assert info.datasets == 1 and integrity_problems(tmp_path / "b.db") == []
    snapshot_edits = (
        sqlite3.connect(tmp_path / "b.db").execute("SELECT COUNT(*) FROM label_edits").fetchone()[0]
    )

    store.delete_dataset("d")
    restored = restore_store(ws.db_path, tmp_path / "b.db")
    assert restored.datasets == 1 and restored.safety_copy is not None and restored.safety_copy.is_file()
    assert store.counts("d")["label_edits"] == snapshot_edits  # an open store sees the restored data
    assert store.counts("d")["images"] == 20


def test_restore_refuses_a_damaged_backup_and_leaves_the_store(tmp_path: Path, filled) -> None:
    ws, store = filled
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    with pytest.raises(CorruptStoreError) as info:
        restore_store(ws.db_path, bad)
    assert info.value.path == str(bad)
    assert store.counts("d")["images"] == 20


def test_restore_over_a_damaged_store_keeps_its_bytes_aside(tmp_path: Path, filled) -> None:
    ws, store = filled
    backup_store(ws.db_path, tmp_path / "b.db")
    store.close()
    ws.db_path.write_bytes(b"not a database" * 500)
    Path(f"{ws.db_path}-wal").unlink(missing_ok=True)
    Path(f"{ws.db_path}-shm").unlink(missing_ok=True)
    info = restore_store(ws.db_path, tmp_path / "b.db")
    assert info.safety_copy.read_bytes().startswith(b"not a database")
    assert LabelStore.open(ws).counts("d")["images"] == 20


def test_cli_backup_restore_round_trip(tmp_path: Path, filled, capsys) -> None:
    ws, _ = filled
    home = ["--home", str(ws.root)]
    assert main([*home, "backup", "--out", str(tmp_path / "b.db"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["datasets"] == 1
    assert main([*home, "restore", str(tmp_path / "b.db")]) == 0
    assert "Restored 1 datasets" in capsys.readouterr().out
    assert main([*home, "restore", str(tmp_path / "missing.db")]) == 3
    assert main([*home, "backup", "--out", str(ws.db_path)]) == 1
    assert "another file" in capsys.readouterr().err


def test_doctor_on_a_healthy_workspace(filled, capsys) -> None:
    ws, _ = filled
    assert main(["--home", str(ws.root), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "integrity check ok" in out and "free of" in out


def test_doctor_finds_missing_run_folders_tampered_models_and_stale_files(tmp_path: Path, filled) -> None:
    ws, store = filled
    gone = RunDir(ws.runs_dir / "gone")
    register_run(store, gone, "d", {})
    tampered = RunDir(ws.runs_dir / "tampered")
    register_run(store, tampered, "d", {})
    tampered.model.write_bytes(b"model")
    update_run(store, "tampered", model_sha256=sha256_file(tampered.model))
    tampered.model.write_bytes(b"evil")

    shutil.rmtree(gone.path)
    (ws.thumbnails_dir / "ab").mkdir(parents=True)
    (ws.thumbnails_dir / "ab" / "x.jpg.tmp").write_bytes(b"half")

    findings = check_workspace(ws)
    problems = [f.message for f in findings if f.level == "problem"]
    assert any("run gone" in m and "missing" in m for m in problems)
    assert any("run tampered" in m and "does not match" in m for m in problems)
    assert any(f.check == "cache: thumbnails" and f.level == "warning" for f in findings)
    assert main(["--home", str(ws.root), "doctor", "--json"]) == 8


def test_doctor_on_a_damaged_store(tmp_path: Path, capsys) -> None:
    ws = Workspace(tmp_path / "ws").ensure()
    ws.db_path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    assert main(["--home", str(ws.root), "doctor"]) == 8
    out = capsys.readouterr().out
    assert "integrity check failed" in out and "restore" in out
