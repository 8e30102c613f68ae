"""Accounts: add, change and remove users, and sign in with a delay after repeated failures."""

from __future__ import annotations

import re
import time

from fashion_core.access import Identity, check_role, require_acting
from fashion_core.accounts.passwords import hash_password, verify_password
from fashion_core.errors import AccountError
from fashion_core.store import LabelStore
from fashion_core.store.users import UserRow

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
FREE_FAILURES = 3  # failed sign-ins before each next attempt must wait
MAX_DELAY_S = 300.0


def check_name(name: str) -> str:
    """A user name: letters, digits and ``._@-`` (an e-mail works), at most 64 characters."""
    if not _NAME.match(name or ""):
        raise AccountError(
            f"Invalid user name {name!r}: use letters, digits and . _ @ - (at most 64, starting with a letter or digit)."
        )
    return name


def accounts_on(store: LabelStore) -> bool:
    """Whether anyone has an account: then every visitor must sign in."""
    return store.user_count() > 0


def add_user(store: LabelStore, name: str, role: str, password: str | None) -> None:
    """Add an account (``password`` None: sign-in only through single sign-on)."""
    require_acting("manage_users")
    hashed = None if password is None else hash_password(password)
    store.insert_user(check_name(name), check_role(role), hashed)
    _audit(store, "add user", name, f"role {role}")


def set_role(store: LabelStore, name: str, role: str) -> None:
    require_acting("manage_users")
    store.update_user(name, role=check_role(role))
    _audit(store, "set role", name, f"role {role}")


def set_password(store: LabelStore, name: str, password: str) -> None:
    require_acting("manage_users")
    store.update_user(name, password_hash=hash_password(password))
    _audit(store, "set password", name)


def remove_user(store: LabelStore, name: str) -> None:
    require_acting("manage_users")
    store.delete_user(name)
    _audit(store, "remove user", name)


def list_users(store: LabelStore) -> list[UserRow]:
    return store.user_rows()


def wait_left(user: UserRow | None, now: float) -> float:
    """Seconds before ``user`` may try again: doubling from 1 s after ``FREE_FAILURES`` failures."""
    if user is None or user.failed_signins < FREE_FAILURES or user.last_failed_at is None:
        return 0.0
    delay = min(2.0 ** (user.failed_signins - FREE_FAILURES), MAX_DELAY_S)
    return max(0.0, user.last_failed_at + delay - now)


def sign_in(store: LabelStore, name: str, password: str, *, now: float | None = None) -> Identity:
    """The identity of ``name`` if ``password`` is right.

    Raises:
        AccountError: a wrong name or password (one message for both), or a sign-in too soon
            after repeated failures (with the seconds to wait).
    """
    now = time.time() if now is None else now
    user = store.user_row(name.strip())
    wait = wait_left(user, now)
    if wait > 0:
        raise AccountError(f"Too many failed sign-ins for {name!r}: try again in {wait:.0f} s.")
    if not verify_password(user.password_hash if user else None, password):
        if user is not None:
            store.record_signin(user.name, ok=False, at=now)
        raise AccountError("Wrong user name or password.")
    store.record_signin(user.name, ok=True, at=now)
    return Identity(user.name, user.role, "password")


def sso_identity(store: LabelStore, email: str | None) -> Identity | None:
    """The account whose name is the e-mail a single sign-on provider vouched for, or None."""
    if not email:
        return None
    user = store.user_row(email.strip())
    return None if user is None else Identity(user.name, user.role, "sso")


def _audit(store: LabelStore, action: str, target: str, detail: str | None = None) -> None:
    from fashion_core.accounts.audit import record

    record(store, action, target, detail)
