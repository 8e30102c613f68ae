"""Command-line interface: ``python -m fashion_core <command> ...``, a thin layer over the library.

Each command lives in its own module under ``fashion_core/cli/`` and exposes
``add_parser(subparsers)``, which registers the sub-command and sets ``func`` to a
``run(args) -> int`` function.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fashion_core.errors import FashionCoreError

# Modules are imported lazily by name so a slow import (TensorFlow) costs only its own command.
COMMAND_MODULES: tuple[str, ...] = (
    "data",  # demo-data, ingest, stats, images verify, datasets
    "download",  # download
    "export",  # export-tfrecord
    "maps",  # regroup, maps ..., export-folders
    "train",  # train (foreground)
    "runs",  # runs list/show/cancel/submit (background jobs)
    "predict",  # predict, export-model
    "evaluate",  # evaluate, suspicious, suggest-merges
    "labels",  # export-labels
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_core",
        description="Fashion Attribute Studio: label, regroup, train and evaluate attribute models.",
    )
    parser.add_argument(
        "--home", default=None, help="workspace folder (default: $FASHION_STUDIO_HOME or ./workspace)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"fashion_core.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fashion_core.cli.{name}":
                continue  # command group not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FashionCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
