"""CLI command ``app``: start the Streamlit app from wherever the studio is installed."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from fashion_core.accounts import SERVE_DEFAULT_HOST, check_serving
from fashion_core.app_files import app_dir
from fashion_core.errors import InstallError
from fashion_core.workspace import HOME_ENV, resolve_home

DEFAULT_HOST = SERVE_DEFAULT_HOST  # only this machine; another address needs accounts (users add)
DEFAULT_PORT = 8501


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="start the app in the browser (Streamlit), on this workspace")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--host", type=host_name, default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST})")
    p.set_defaults(func=run_app)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to 65535, not {text!r}")
    return int(text)


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def host_name(text: str) -> str:
    """An IP address or a DNS host name, refused before any server starts."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise argparse.ArgumentTypeError(f"must be an IP address or a host name, not {text[:80]!r}")
    return text


def run_app(args: argparse.Namespace) -> int:
    home = resolve_home(getattr(args, "home", None)).root
    check_serving(args.host, accounts=_accounts_on(home))
    env = {**os.environ, HOME_ENV: str(home)}  # absolute: the app does not run in the user's folder's terms
    print(f"Fashion Attribute Studio on http://{args.host}:{args.port} (workspace {home}); Ctrl-C stops it.",
          file=sys.stderr, flush=True)
    server = subprocess.Popen(streamlit_command(app_dir(), host=args.host, port=args.port), env=env)
    try:
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C in a terminal reaches the server too: let it finish stopping
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.terminate()
            server.wait()
        raise


def _accounts_on(home: Path) -> bool:
    from fashion_core.accounts import accounts_on
    from fashion_core.store import LabelStore
    from fashion_core.workspace import Workspace

    store = LabelStore.open(Workspace(home))
    try:
        return accounts_on(store)
    finally:
        store.close()


def streamlit_command(folder: Path, *, host: str, port: int) -> list[str]:
    """``streamlit run`` of the app in ``folder``, with the settings of its .streamlit/config.toml.

    Streamlit reads that file only from the current folder, and the app may be started from
    anywhere, so its settings are passed as flags (which also win over a user's own file).
    """
    script = folder / "app.py"
    if not script.is_file():
        raise InstallError(
            f"The app's files are missing: no {script}. Reinstall the studio (pip install --force-reinstall)."
        )
    flags = [f"--{key}={value}" for key, value in config_flags(folder / ".streamlit" / "config.toml").items()]
    return [sys.executable, "-m", "streamlit", "run", str(script), *flags,
            f"--server.address={host}", f"--server.port={port}"]


def config_flags(path: Path) -> dict[str, str]:
    """``section.option`` -> value of a Streamlit config file, as command-line flag values."""
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        config = tomllib.load(f)
    return {
        f"{section}.{key}": (str(value).lower() if isinstance(value, bool) else str(value))
        for section, options in config.items()
        for key, value in options.items()
    }
