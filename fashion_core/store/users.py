"""Account rows of the label store: users, API tokens and the audit list (SQL only; rules live in accounts/)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pandas as pd

from fashion_core.errors import AccountError
from fashion_core.store.db import utc_now


@dataclass(frozen=True)
class UserRow:
    """One account as stored; ``password_hash`` is an argon2 hash (None: sign-in only by SSO)."""

    name: str
    role: str
    password_hash: str | None
    created_at: str
    failed_signins: int
    last_failed_at: float | None


@dataclass(frozen=True)
class TokenRow:
    """One API token as stored (only its hash: the token itself is shown once)."""

    id: int
    user: str
    label: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class UserRowsMixin:
    """User, token and audit methods of LabelStore (kept apart so each file has one job)."""

    # -- users ----------------------------------------------------------------------------

    def user_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def user_row(self, name: str) -> UserRow | None:
        row = self.conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else _user(row)

    def user_rows(self) -> list[UserRow]:
        return [_user(r) for r in self.conn.execute("SELECT * FROM users ORDER BY name")]

    def insert_user(self, name: str, role: str, password_hash: str | None) -> None:
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO users(name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, role, password_hash, utc_now()),
                )
            except sqlite3.IntegrityError:
                raise AccountError(f"A user named {name!r} already exists.") from None

    def update_user(self, name: str, *, role: str | None = None, password_hash: str | None = None) -> None:
        sets, params = [], []
        if role is not None:
            sets.append("role = ?")
            params.append(role)
        if password_hash is not None:
            sets.append("password_hash = ?")
            params.append(password_hash)
        if not sets:
            return
        with self.transaction() as conn:
            cur = conn.execute(f"UPDATE users SET {', '.join(sets)} WHERE name = ?", (*params, name))
            if cur.rowcount != 1:
                raise AccountError(f"No user named {name!r}.")

    def delete_user(self, name: str) -> None:
        with self.transaction() as conn:
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount != 1:
                raise AccountError(f"No user named {name!r}.")

    def record_signin(self, name: str, *, ok: bool, at: float) -> None:
        """Count a failed sign-in (and when), or clear the count after a good one."""
        with self.transaction() as conn:
            if ok:
                conn.execute("UPDATE users SET failed_signins = 0, last_failed_at = NULL WHERE name = ?", (name,))
            else:
                conn.execute(
                    "UPDATE users SET failed_signins = failed_signins + 1, last_failed_at = ? WHERE name = ?",
                    (at, name),
                )

    # -- API tokens -----------------------------------------------------------------------

    def insert_token(self, user: str, label: str, token_hash: str) -> int:
        with self.transaction() as conn:
            row = conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
            if row is None:
                raise AccountError(f"No user named {user!r}.")
            cur = conn.execute(
                "INSERT INTO api_tokens(user_id, label, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (row["id"], label, token_hash, utc_now()),
            )
            return int(cur.lastrowid)

    def token_user(self, token_hash: str) -> UserRow | None:
        """The user of a live (not revoked) token, marking it used; None for an unknown token."""
        row = self.conn.execute(
            "SELECT u.*, t.id AS token_id FROM api_tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_hash = ? AND t.revoked_at IS NULL",
            (token_hash,),
        ).fetchone()
        if row is None:
            return None
        with self.transaction() as conn:
            conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (utc_now(), row["token_id"]))
        return _user(row)

    def token_rows(self, user: str | None = None) -> list[TokenRow]:
        sql = ("SELECT t.*, u.name AS user FROM api_tokens t JOIN users u ON u.id = t.user_id"
               + (" WHERE u.name = ?" if user else "") + " ORDER BY t.id")
        rows = self.conn.execute(sql, (user,) if user else ())
        return [TokenRow(r["id"], r["user"], r["label"], r["created_at"], r["last_used_at"], r["revoked_at"])
                for r in rows]

    def revoke_token(self, token_id: int) -> None:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (utc_now(), token_id)
            )
            if cur.rowcount != 1:
                raise AccountError(f"No live API token with id {token_id}.")

    # -- audit list -----------------------------------------------------------------------

    def add_audit(self, actor: str, action: str, target: str | None = None, detail: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (utc_now(), actor, action, target, detail),
            )

    def audit_rows(self, limit: int = 500) -> pd.DataFrame:
        """Who did what, newest first: the audit list joined with the label edit log."""
        return pd.read_sql_query(
            "SELECT at, actor, action, target, detail FROM ("
            " SELECT at, actor, action, target, detail, id AS k FROM audit_log"
            " UNION ALL SELECT e.created_at, e.annotator, 'relabel',"
            "  d.name || ' image ' || e.image_id || ' ' || e.category,"
            "  COALESCE(e.old_value, '(none)') || ' -> ' || COALESCE(e.new_value, '(excluded)'), -e.id"
            " FROM label_edits e JOIN datasets d ON d.id = e.dataset_id)"
            " ORDER BY at DESC, k DESC LIMIT ?",
            self.conn,
            params=(int(limit),),
        )


def _user(row: sqlite3.Row) -> UserRow:
    return UserRow(row["name"], row["role"], row["password_hash"], row["created_at"],
                   int(row["failed_signins"]), row["last_failed_at"])
