"""API tokens for scripts and the HTTP API: shown once when made, stored only as a SHA-256 hash.

A token is 32 random bytes, so a fast hash is enough (nothing to guess from), and a look-up by hash
needs no scan of argon2 hashes.
"""

from __future__ import annotations

import hashlib
import secrets

from fashion_core.access import Identity, acting, require_acting
from fashion_core.errors import AccountError
from fashion_core.store import LabelStore
from fashion_core.store.users import TokenRow

PREFIX = "fst_"  # recognisable in logs and secret scanners


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: LabelStore, username: str, label: str) -> str:
    """Make a token acting as ``username``; return it (the only time it is shown)."""
    if acting().name != username:  # anyone may make their own; others' tokens only an admin
        require_acting("manage_users")
    if not label.strip():
        raise AccountError("An API token needs a label (what it is for).")
    token = PREFIX + secrets.token_urlsafe(32)
    store.insert_token(username, label.strip(), _digest(token))
    return token


def check_token(store: LabelStore, token: str) -> Identity | None:
    """The identity of a live token (with its user's current role), or None."""
    if not token or not token.startswith(PREFIX):
        return None
    user = store.token_user(_digest(token.strip()))
    return None if user is None else Identity(user.name, user.role, "token")


def list_tokens(store: LabelStore, username: str | None = None) -> list[TokenRow]:
    return store.token_rows(username)


def revoke_token(store: LabelStore, token_id: int) -> None:
    require_acting("manage_users")
    store.revoke_token(int(token_id))
