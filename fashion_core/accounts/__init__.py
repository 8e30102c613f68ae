"""Accounts and roles: who may do what, users and passwords in the label store, API tokens, audit.

The rule itself (roles, ``require``, the acting identity) is ``fashion_core.access``, at the bottom
of the layers so the store can refuse a write; this package adds the people.
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
    "ACTIONS", "ANONYMOUS", "LOCAL", "ROLES", "Identity", "accounts_on", "act_as", "acting", "acting_as",
    "add_user", "allowed", "list_users", "remove_user", "require", "require_acting", "set_password",
    "set_role", "sign_in", "sso_identity",
]
