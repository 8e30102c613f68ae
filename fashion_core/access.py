"""Who is acting and what their role allows: the rule every action of the studio checks.

It sits at the bottom of the layers so the store itself can refuse a write (a direct call from any
page is refused, not only a hidden button). ``fashion_core.accounts`` re-exports it with the user
rows, passwords and tokens.

The acting identity is a context variable: the app sets it at the start of every script run (the
signed-in person, or ``ANONYMOUS``); a process that never sets it (the CLI, a background training
process, tests) acts as ``LOCAL``, the owner of the workspace files, as before accounts existed.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from fashion_core.errors import AccessDeniedError

ROLES = ("viewer", "annotator", "maintainer", "admin")  # each role may do all a lower one may

# The lowest role an action needs. Reading (browse, charts, predict, evaluate) needs "viewer".
ACTIONS: dict[str, str] = {
    "view": "viewer",
    "predict": "viewer",
    "evaluate": "viewer",
    "relabel": "annotator",
    "review": "annotator",
    "regroup": "maintainer",  # save a label map version
    "activate_map": "maintainer",
    "delete_map": "maintainer",
    "train": "maintainer",
    "download": "maintainer",
    "import": "maintainer",
    "export": "maintainer",
    "delete": "maintainer",
    "audit": "maintainer",
    "manage_users": "admin",
}


@dataclass(frozen=True)
class Identity:
    """A person (or token) acting on the studio: a name for the logs and a role (None: nobody)."""

    name: str
    role: str | None
    via: str = "local"  # local, password, sso or token

    def can(self, action: str) -> bool:
        return allowed(self.role, action)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        return "local"


LOCAL = Identity(_os_user(), "admin", "local")
ANONYMOUS = Identity("anonymous", None, "none")
_acting: ContextVar[Identity | None] = ContextVar("fashion_core_acting", default=None)
# The app installs a resolver that reads the signed-in person of the current browser session (a
# Streamlit fragment or callback runs outside the context the page's script set), see set_resolver.
_resolver: Callable[[], Identity] | None = None


def check_role(role: str) -> str:
    """``role`` if it is one of ``ROLES``; else AccountError listing the roles."""
    from fashion_core.errors import AccountError

    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")
    return role


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` may do ``action`` (an unknown action is allowed to nobody)."""
    needed = ACTIONS.get(action)
    if role not in ROLES or needed is None:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def require(identity: Identity, action: str) -> Identity:
    """Return ``identity`` if its role allows ``action``; else raise AccessDeniedError saying why."""
    if identity.can(action):
        return identity
    needed = ACTIONS.get(action, "admin")
    if identity.role is None:
        raise AccessDeniedError(f"Sign in to {action.replace('_', ' ')}.")
    raise AccessDeniedError(
        f"{identity.name} ({identity.role}) may not {action.replace('_', ' ')}: that needs the"
        f" {needed} role or higher. Ask an admin to change your role."
    )


def set_resolver(resolver: Callable[[], Identity] | None) -> None:
    """Where ``acting`` asks when no identity was set in this context (the app: the session's sign-in)."""
    global _resolver
    _resolver = resolver


def acting() -> Identity:
    """The identity acting now: set by ``acting_as``, else the resolver's answer, else ``LOCAL``."""
    identity = _acting.get()
    if identity is not None:
        return identity
    return _resolver() if _resolver is not None else LOCAL


def require_acting(action: str) -> Identity:
    """``require`` for the acting identity: the check the store and the core actions make."""
    return require(acting(), action)


def act_as(identity: Identity) -> None:
    """Make ``identity`` the acting one for the rest of this context (the app: one script run)."""
    _acting.set(identity)


@contextmanager
def acting_as(identity: Identity) -> Iterator[Identity]:
    """Act as ``identity`` inside the block only."""
    token = _acting.set(identity)
    try:
        yield identity
    finally:
        _acting.reset(token)
