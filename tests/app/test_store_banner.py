"""A workspace the studio cannot open shows the CLI's message in a banner, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fashion_core.store.db import SCHEMA_VERSION
from fashion_core.workspace import HOME_ENV
from tests.app.conftest import APP, clear_streamlit_caches, open_app
from tests.conftest import shown


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder the app will open (its studio.db written by each test)."""
    folder = tmp_path / "ws"
    folder.mkdir()
    monkeypatch.setenv(HOME_ENV, str(folder))
    clear_streamlit_caches()
    yield folder
    clear_streamlit_caches()


def _banner(page: str | None) -> str:
    """The one error banner of the app opened (on ``page``, else its default page): no exception."""
    at = open_app(page, timeout=30).run() if page else AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert len(at.error) == 1, [e.value for e in at.error]
    return shown(at.error[0].value)


@pytest.mark.parametrize("page", [None, "pages/browse.py", "pages/train.py"])
def test_damaged_store_shows_path_problem_and_advice(home: Path, page: str) -> None:
    db = home / "studio.db"
    db.write_bytes(b"not a database" * 300)
    text = _banner(page)
    assert str(db) in text
    assert "damaged or not a database" in text
    assert "python -m fashion_core doctor" in text and "restore" in text
    assert db.read_bytes() == b"not a database" * 300  # the app did not try to repair or replace it


@pytest.mark.parametrize("page", [None, "pages/download.py"])
def test_newer_workspace_says_to_upgrade(home: Path, page: str | None) -> None:
    db = home / "studio.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    text = _banner(page)
    assert str(db) in text
    assert f"store version {SCHEMA_VERSION + 1}" in text
    assert "Upgrade this studio" in text
    conn = sqlite3.connect(db)
    try:  # a newer store is never migrated down
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    finally:
        conn.close()
