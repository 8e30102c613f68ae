"""CLI commands ``users ...`` (accounts, roles, API tokens) and ``audit`` (who did what).

Passwords are read from a prompt (twice, not echoed) or, when stdin is not a terminal, from its
first line: never from the command line, where other users and shell history would see them.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from fashion_core.access import ROLES
from fashion_core.cli._common import open_store, print_json
from fashion_core.errors import AccountError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="accounts and roles (viewer, annotator, maintainer, admin), API tokens")
    users = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = users.add_parser("add", help="add an account (asks for its password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--sso-only", action="store_true", help="no password: sign-in only by single sign-on")
    add.set_defaults(func=run_add)
    ls = users.add_parser("list", help="list the accounts")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    role = users.add_parser("set-role", help="change an account's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(func=run_set_role)
    pw = users.add_parser("passwd", help="set an account's password (asks for it)")
    pw.add_argument("name")
    pw.set_defaults(func=run_passwd)
    rm = users.add_parser("remove", help="remove an account")
    rm.add_argument("name")
    rm.set_defaults(func=run_remove)
    _token_parser(users)
    audit = sub.add_parser("audit", help="the audit list: who did what, newest first")
    audit.add_argument("--limit", type=int, default=100)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=run_audit)


def _token_parser(users: argparse._SubParsersAction) -> None:
    token = users.add_parser("token", help="API tokens for scripts and the HTTP API")
    tokens = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    add = tokens.add_parser("add", help="make a token for a user (printed once)")
    add.add_argument("name")
    add.add_argument("--label", required=True, help="what the token is for")
    add.set_defaults(func=run_token_add)
    ls = tokens.add_parser("list", help="list tokens (never their secret)")
    ls.add_argument("name", nargs="?")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_token_list)
    rv = tokens.add_parser("revoke", help="revoke a token by its id")
    rv.add_argument("id", type=int)
    rv.set_defaults(func=run_token_revoke)


def read_password(name: str) -> str:
    """A new password for ``name``: prompted twice on a terminal, else stdin's first line."""
    if not sys.stdin.isatty():
        try:
            line = sys.stdin.readline().rstrip("\r\n")
        except (OSError, ValueError) as exc:  # closed or unreadable stdin (a service, a detached job)
            raise AccountError(f"Cannot read the password from standard input ({exc}); run the command in a"
                               " terminal, or pipe the password in as the first line.") from None
        if not line:
            raise AccountError("No password on standard input (give it as the first line).")
        return line
    first = getpass.getpass(f"Password for {name}: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("The two passwords differ; nothing changed.")
    return first


def run_add(args: argparse.Namespace) -> int:
    from fashion_core.accounts import add_user

    store = open_store(args)
    password = None if args.sso_only else read_password(args.name)
    add_user(store, args.name, args.role, password)
    print(f"Added {args.name} ({args.role}). Accounts are on: everyone signs in to the app.", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from fashion_core.accounts import list_users

    rows = [{"name": u.name, "role": u.role, "password": u.password_hash is not None, "created_at": u.created_at}
            for u in list_users(open_store(args))]
    if args.json:
        print_json({"users": rows})
    else:
        for r in rows:
            print(f"{r['name']}\t{r['role']}\t{'password' if r['password'] else 'sso only'}\t{r['created_at']}")
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    from fashion_core.accounts import set_role

    set_role(open_store(args), args.name, args.role)
    print(f"{args.name} is now {args.role}.", file=sys.stderr)
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    from fashion_core.accounts import set_password

    store = open_store(args)
    if store.user_row(args.name) is None:
        raise AccountError(f"No user named {args.name!r}.")
    set_password(store, args.name, read_password(args.name))
    print(f"Password of {args.name} changed.", file=sys.stderr)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from fashion_core.accounts import remove_user

    remove_user(open_store(args), args.name)
    print(f"Removed {args.name}.", file=sys.stderr)
    return 0


def run_token_add(args: argparse.Namespace) -> int:
    from fashion_core.accounts import create_token

    print(create_token(open_store(args), args.name, args.label))
    print("Keep it now: it is not shown again (only its hash is stored).", file=sys.stderr)
    return 0


def run_token_list(args: argparse.Namespace) -> int:
    from fashion_core.accounts import list_tokens

    rows = [t.__dict__ for t in list_tokens(open_store(args), args.name)]
    if args.json:
        print_json({"tokens": rows})
    else:
        for t in rows:
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else f"last used {t['last_used_at'] or 'never'}"
            print(f"{t['id']}\t{t['user']}\t{t['label']}\t{t['created_at']}\t{state}")
    return 0


def run_token_revoke(args: argparse.Namespace) -> int:
    from fashion_core.accounts import revoke_token

    revoke_token(open_store(args), args.id)
    print(f"Token {args.id} revoked.", file=sys.stderr)
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from fashion_core.accounts import audit_list

    frame = audit_list(open_store(args), args.limit)
    if args.json:
        print_json({"audit": frame.to_dict(orient="records")})
    else:
        for r in frame.itertuples(index=False):
            print(f"{r.at}\t{r.actor}\t{r.action}\t{r.target or ''}\t{r.detail or ''}")
    return 0
