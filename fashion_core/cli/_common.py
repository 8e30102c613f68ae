"""Helpers shared by CLI command modules: workspace/store opening and JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fashion_core.workspace import Workspace, resolve_home


def workspace(args: argparse.Namespace) -> Workspace:
    """The workspace named by ``--home`` (or the environment / default)."""
    return resolve_home(getattr(args, "home", None)).ensure()


def open_store(args: argparse.Namespace):  # -> LabelStore (import kept local for start-up speed)
    from fashion_core.store import LabelStore

    return LabelStore.open(workspace(args))


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (the scripting interface)."""
    json.dump(obj, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()
