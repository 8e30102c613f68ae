"""Password hashing with argon2 (argon2-cffi): only the hash is stored, never the password."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from fashion_core.errors import AccountError

MIN_LENGTH = 8
_hasher = PasswordHasher()  # argon2id with the library's recommended cost (RFC 9106 low-memory)
# Checked when the user name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY = _hasher.hash("not-a-real-password")


def check_strength(password: str) -> str:
    """``password`` if it is long enough; else AccountError saying how long it must be."""
    if len(password) < MIN_LENGTH:
        raise AccountError(f"A password needs at least {MIN_LENGTH} characters.")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_strength(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: checks a dummy and answers no)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
