"""Accounts: roles refused in the core (not only hidden), hashed passwords, delays, tokens, serving rules."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.access import LOCAL, Identity, acting_as, require
from fashion_core.accounts import (
    add_user,
    check_serving,
    check_token,
    create_token,
    is_loopback,
    revoke_token,
    set_role,
    sign_in,
)
from fashion_core.accounts.users import FREE_FAILURES
from fashion_core.cli.app import DEFAULT_HOST
from fashion_core.errors import AccessDeniedError, AccountError, EditConflictError, ServeConfigError
from fashion_core.schema import Category, Kind, Schema
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore
from fashion_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]
SECRET = "correct horse battery"


@pytest.fixture()
def store(tmp_path: Path) -> LabelStore:
    store = LabelStore.open(Workspace(tmp_path / "ws"))
    schema = Schema("s", (Category("colour", ("red", "blue", "green"), Kind.SINGLE),))
    store.create_dataset("d", schema, tmp_path, "csv")
    store.add_images("d", [ImageRecord("a.jpg")])
    store.add_annotations("d", [AnnotationRecord("a.jpg", "colour", "red")])
    return store


def test_the_default_bind_address_is_loopback() -> None:
    assert DEFAULT_HOST == "127.0.0.1" and is_loopback(DEFAULT_HOST) and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    config = (REPO / ".streamlit" / "config.toml").read_text()
    assert 'address = "127.0.0.1"' in config
    assert "--server.address $(HOST)" in (REPO / "Makefile").read_text()


def test_serving_on_another_address_without_accounts_is_refused(store: LabelStore, tmp_path: Path) -> None:
    with pytest.raises(ServeConfigError, match="users add"):
        check_serving("0.0.0.0", accounts=False)
    check_serving("0.0.0.0", accounts=True)
    check_serving("127.0.0.1", accounts=False)
    done = subprocess.run(
        [sys.executable, "-m", "fashion_core", "--home", str(tmp_path / "ws"), "app", "--host", "0.0.0.0"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1 and "Refusing to listen on 0.0.0.0" in done.stderr and "Traceback" not in done.stderr


def test_a_stored_password_is_not_recoverable_from_the_database(store: LabelStore) -> None:
    add_user(store, "ana", "annotator", SECRET)
    dump = "\n".join(sqlite3.connect(store.db_path).iterdump())
    assert SECRET not in dump and SECRET.encode().hex() not in dump
    assert store.user_row("ana").password_hash.startswith("$argon2id$")
    assert sign_in(store, "ana", SECRET) == Identity("ana", "annotator", "password")
    with pytest.raises(AccountError, match="Wrong user name or password"):
        sign_in(store, "ana", "wrong password")


def test_repeated_failures_make_the_next_attempt_wait(store: LabelStore) -> None:
    add_user(store, "ana", "viewer", SECRET)
    for _ in range(FREE_FAILURES):
        with pytest.raises(AccountError, match="Wrong"):
            sign_in(store, "ana", "nope-nope", now=1000.0)
    with pytest.raises(AccountError, match="try again in"):
        sign_in(store, "ana", SECRET, now=1000.5)  # even the right password waits
    assert sign_in(store, "ana", SECRET, now=1002.0).role == "viewer"
    assert store.user_row("ana").failed_signins == 0


def test_a_viewer_cannot_relabel_even_by_calling_the_store(store: LabelStore) -> None:
    with acting_as(Identity("vi", "viewer")), pytest.raises(AccessDeniedError, match="annotator role"):
        store.edit_label("d", 1, "colour", "blue", annotator="vi")
    with acting_as(Identity("an", "annotator")):
        store.edit_label("d", 1, "colour", "blue", annotator="an")
        with pytest.raises(AccessDeniedError, match="maintainer"):
            store.insert_run("r1", "d", Path("runs/r1"), {})
        with pytest.raises(AccessDeniedError):
            store.insert_map_version("m", "{}", None)
    with acting_as(Identity("ma", "maintainer")):
        assert store.insert_run("r1", "d", Path("runs/r1"), {}).created_by == "ma"
        with pytest.raises(AccessDeniedError):
            add_user(store, "x", "admin", SECRET)
    assert store.current_value("d", 1, "colour") == "blue"
    with pytest.raises(AccessDeniedError, match="Sign in"):
        require(Identity("anonymous", None), "view")


def test_an_edit_of_a_label_changed_meanwhile_is_refused_with_who_and_when(store: LabelStore) -> None:
    store.edit_label("d", 1, "colour", "blue", annotator="ana", expected="red")
    with pytest.raises(EditConflictError, match=r"ana changed it at .*red -> blue"):
        store.edit_label("d", 1, "colour", "green", annotator="bo", expected="red")
    assert store.current_value("d", 1, "colour") == "blue"


def test_tokens_are_shown_once_stored_hashed_and_follow_the_role(store: LabelStore) -> None:
    add_user(store, "ana", "viewer", SECRET)
    token = create_token(store, "ana", "script")
    assert token not in "\n".join(sqlite3.connect(store.db_path).iterdump())
    assert check_token(store, token) == Identity("ana", "viewer", "token")
    set_role(store, "ana", "maintainer")
    assert check_token(store, token).role == "maintainer"
    assert check_token(store, token + "x") is None and check_token(store, "") is None
    revoke_token(store, store.token_rows("ana")[0].id)
    assert check_token(store, token) is None


def test_the_cli_adds_users_from_stdin_and_lists_the_audit(tmp_path: Path) -> None:
    home = str(tmp_path / "ws")

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fashion_core", "--home", home, *args], input=stdin,
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                              text=True, timeout=120)

    assert cli("users", "add", "ana", "--role", "annotator", stdin=SECRET + "\n").returncode == 0
    assert cli("users", "set-role", "ana", "maintainer").returncode == 0
    listed = cli("users", "list", "--json")
    assert '"maintainer"' in listed.stdout and SECRET not in listed.stdout
    audit = cli("audit")
    assert "add user\tana" in audit.stdout and "set role\tana" in audit.stdout
    bad = cli("users", "set-role", "nobody", "viewer")
    assert bad.returncode == 1 and "No user named 'nobody'" in bad.stderr
    assert LOCAL.role == "admin"


def test_serve_asks_for_account_tokens_once_accounts_are_on(store: LabelStore) -> None:
    from fashion_core.serving import serve_token_check as token_check

    assert token_check(store) is None  # no accounts: loopback only, no tokens (check_serving refuses others)
    add_user(store, "ana", "viewer", SECRET)
    token = create_token(store, "ana", "api")
    check = token_check(store)
    assert check(token) == "ana" and check(token + "x") is None and check("") is None
    revoke_token(store, store.token_rows("ana")[0].id)
    assert check(token) is None  # read per request: a revoked token stops at once
