"""Where the app may listen: loopback always; any other address only with accounts on."""

from __future__ import annotations

import ipaddress

from fashion_core.errors import ServeConfigError

DEFAULT_HOST = "127.0.0.1"  # only this machine


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: may resolve anywhere


def check_serving(host: str, *, accounts: bool) -> None:
    """Refuse to serve on a non-loopback ``host`` while no account exists.

    Raises:
        ServeConfigError: with the commands that turn accounts on.
    """
    if is_loopback(host) or accounts:
        return
    raise ServeConfigError(
        f"Refusing to listen on {host}: anyone who can reach it could relabel, train and download, and"
        " this workspace has no accounts. Turn accounts on first: `fashion-studio users add NAME"
        " --role admin` (it asks for the password), then start again; or serve on 127.0.0.1."
    )
