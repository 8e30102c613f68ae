"""Accounts and roles: who may do what, users and passwords in the label store, API tokens, audit.

The rule itself (roles, ``require``, the acting identity) is ``fashion_core.access``, at the bottom
of the layers so the store can refuse a write; this package adds the people. ``record_audit`` is
``audit.record`` and ``SERVE_DEFAULT_HOST`` is ``serve.DEFAULT_HOST``, named for callers outside.
"""

from fashion_core.access import (
    ACTIONS,
    ANONYMOUS,
    LOCAL,
    ROLES,
    Identity,
    act_as,
    acting,
    acting_as,
    allowed,
    require,
    require_acting,
)
from fashion_core.accounts.audit import audit_list
from fashion_core.accounts.audit import record as record_audit
from fashion_core.accounts.serve import DEFAULT_HOST as SERVE_DEFAULT_HOST
from fashion_core.accounts.serve import check_serving, is_loopback
from fashion_core.accounts.tokens import check_token, create_token, list_tokens, revoke_token
from fashion_core.accounts.users import (
    accounts_on,
    add_user,
    list_users,
    remove_user,
    set_password,
    set_role,
    sign_in,
    sso_identity,
)

__all__ = [
    "ACTIONS", "ANONYMOUS", "LOCAL", "ROLES", "SERVE_DEFAULT_HOST", "Identity", "accounts_on", "act_as", "acting",
    "acting_as", "add_user", "allowed", "audit_list", "check_serving", "check_token", "create_token",
    "is_loopback", "list_tokens", "list_users", "record_audit", "remove_user", "require", "require_acting",
    "revoke_token", "set_password", "set_role", "sign_in", "sso_identity",
]
