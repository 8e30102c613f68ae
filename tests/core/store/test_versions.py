"""Tests for workspace versions: older workspaces are upgraded in place (with a backup), newer refused."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.errors import WorkspaceVersionError
from fashion_core.labels import label_view, list_maps, load_map
from fashion_core.runs import RunDir, list_runs
from fashion_core.store import LabelStore
from fashion_core.store.db import SCHEMA_VERSION, read_version
from fashion_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
RUN_ID = "20250101-000000-fixture"


def _copy(name: str, tmp_path: Path) -> Workspace:
    return Workspace(Path(shutil.copytree(FIXTURES / name, tmp_path / name)))


def _from_a_newer_studio(ws: Workspace) -> None:
    with sqlite3.connect(ws.db_path) as conn:  # as a newer studio leaves it: WAL, a higher version
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


def _header_version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_version_1_workspace_is_upgraded_in_place_after_a_backup(tmp_path: Path) -> None:
    ws = _copy("workspace_v1", tmp_path)

    store = LabelStore.open(ws)

    upgrade = store.upgrade
    assert upgrade is not None and (upgrade.from_version, upgrade.to_version) == (1, SCHEMA_VERSION)
    assert upgrade.backup.parent == ws.root and upgrade.backup.name.startswith("studio-v1-backup-")
    with sqlite3.connect(upgrade.backup) as old:  # the backup is the old store, still at version 1
        assert read_version(old) == 1
        assert old.execute("SELECT COUNT(*) FROM label_edits").fetchone()[0] == 3
    assert read_version(store.conn) == SCHEMA_VERSION == _header_version(ws.db_path)
    store.close()


@pytest.mark.parametrize("fixture", ["workspace_v1", "workspace_v2", "workspace_v3", "workspace_v4"])
def test_a_workspace_of_every_version_opens_with_every_dataset_edit_map_and_run(fixture: str, tmp_path: Path) -> None:
    ws = _copy(fixture, tmp_path)

    store = LabelStore.open(ws)

    assert [d.name for d in store.datasets()] == ["demo"]
    assert store.counts("demo") == {"images": 40, "annotations": 40, "label_edits": 3}
    history = store.edit_history("demo")
    assert sorted(history["annotator"]) == ["ana", "bo", "bo"]
    images = store.images("demo")
    assert all((ws.demo_dir / p).is_file() for p in images["path"])  # the images came along
    assert {m.name for m in list_maps(store)} == {"fashionai_source", "ours"}
    assert sorted(m.version for m in list_maps(store, "ours")) == [1, 2]
    assert store.dataset("demo").active_map == "ours" and len(load_map(store, "ours").steps) == 2
    view = label_view(store, "demo")
    assert (view.map_name, view.map_version) == ("ours", 2) and len(view.labels) == 40
    [run] = list_runs(store)
    assert (run.id, run.dataset, run.status) == (RUN_ID, "demo", "done")
    files = RunDir(ws.runs_dir / RUN_ID)
    assert files.read_status()["state"] == "done" and files.read_history()[0]["epoch"] == 1
    store.close()


def test_an_up_to_date_workspace_opens_without_a_write_or_a_backup(tmp_path: Path) -> None:
    ws = _copy("workspace_v1", tmp_path)
    LabelStore.open(ws).close()
    backups = sorted(ws.root.glob("studio-v*-backup-*.db"))
    stamp = os.stat(ws.db_path).st_mtime_ns
    with sqlite3.connect(ws.db_path) as conn:
        changes = conn.execute("PRAGMA data_version").fetchone()[0]

    store = LabelStore.open(ws)

    assert store.upgrade is None and store.datasets()
    assert sorted(ws.root.glob("studio-v*-backup-*.db")) == backups
    assert os.stat(ws.db_path).st_mtime_ns == stamp
    with sqlite3.connect(ws.db_path) as conn:
        assert conn.execute("PRAGMA data_version").fetchone()[0] == changes
    store.close()


def test_a_new_workspace_starts_at_the_current_version(tmp_path: Path) -> None:
    store = LabelStore.open(Workspace(tmp_path / "new"))

    assert store.upgrade is None and store.datasets() == []
    assert _header_version(store.db_path) == SCHEMA_VERSION
    store.close()


def test_a_workspace_from_a_newer_studio_is_refused_and_left_alone(tmp_path: Path) -> None:
    ws = _copy("workspace_v1", tmp_path)
    _from_a_newer_studio(ws)
    before = ws.db_path.read_bytes()

    with pytest.raises(WorkspaceVersionError, match=rf"newer .*store version {SCHEMA_VERSION + 1}.*--home"):
        LabelStore.open(ws)

    assert ws.db_path.read_bytes() == before and not list(ws.root.glob("studio-v*-backup-*.db"))


def test_the_cli_refuses_a_newer_workspace_with_its_own_exit_code(tmp_path: Path) -> None:
    ws = _copy("workspace_v1", tmp_path)
    _from_a_newer_studio(ws)

    done = subprocess.run(
        [sys.executable, "-m", "fashion_core", "--home", str(ws.root), "datasets"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )

    assert done.returncode == 9, done.stderr
    assert "newer Fashion Attribute Studio" in done.stderr and "Traceback" not in done.stderr


def test_the_cli_names_the_backup_when_it_upgrades(tmp_path: Path) -> None:
    ws = _copy("workspace_v1", tmp_path)

    done = subprocess.run(
        [sys.executable, "-m", "fashion_core", "--home", str(ws.root), "datasets", "--json"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )

    assert done.returncode == 0, done.stderr
    [backup] = ws.root.glob("studio-v1-backup-*.db")
    assert f"from version 1 to {SCHEMA_VERSION}" in done.stderr and backup.name in done.stderr
    assert '"demo"' in done.stdout


def test_a_version_3_workspace_gets_accounts_tables_and_created_by_columns(tmp_path: Path) -> None:
    ws = _copy("workspace_v3", tmp_path)

    store = LabelStore.open(ws)

    assert store.upgrade is not None and (store.upgrade.from_version, store.upgrade.to_version) == (3, 4)
    assert store.user_count() == 0 and store.audit_rows().empty is False  # the edit log joins the audit
    [run] = store.run_rows()
    assert run.created_by is None  # made before identities were recorded
    assert store.map_row("ours").created_by is None
    store.close()


def test_the_version_4_fixture_keeps_its_accounts_and_identities(tmp_path: Path) -> None:
    ws = _copy("workspace_v4", tmp_path)

    store = LabelStore.open(ws)

    assert store.upgrade is None
    [user] = store.user_rows()
    assert (user.name, user.role) == ("ana", "annotator") and user.password_hash.startswith("$argon2id$")
    assert store.run_rows()[0].created_by and store.map_row("ours").created_by
    assert [t.label for t in store.token_rows("ana")] == ["fixture"]
    store.close()
