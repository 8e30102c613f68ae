"""Command-line interface: ``fashion-studio <command> ...`` (or ``python -m fashion_core``), a thin layer.

Each command lives in its own module under ``fashion_core/cli/`` and exposes
``add_parser(subparsers)``, which registers the sub-command and sets ``func`` to a
``run(args) -> int`` function.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from fashion_core.cli._errors import EXIT_CLOSED_PIPE, EXIT_CODES_HELP, EXIT_USAGE, report_error
from fashion_core.cli.quiet import set_log_levels
from fashion_core.errors import FashionCoreError

__all__ = ["build_parser", "console", "main"]

DEBUG_ENV = "FASHION_CORE_DEBUG"  # set to see the traceback of an unexpected error

# Modules are imported lazily by name so a slow import (TensorFlow) costs only its own command.
COMMAND_MODULES: tuple[str, ...] = (
    "data",  # demo-data, ingest, stats, images verify, datasets
    "download",  # download
    "export",  # export-tfrecord
    "maps",  # regroup, maps ..., export-folders
    "train",  # train (foreground)
    "runs",  # runs list/show/cancel/submit (background jobs)
    "predict",  # predict, export-model
    "serve",  # serve (the HTTP API), quantize
    "evaluate",  # evaluate, suspicious, suggest-merges
    "labels",  # export-labels
    "labelling",  # label-assist, label-queue, label, label-undo
    "doctor",  # doctor, backup, restore
    "users",  # users add|list|set-role|passwd|remove|token, audit
    "app",  # app (the Streamlit app)
)


def build_parser(prog: str = "python -m fashion_core") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fashion Attribute Studio: label, regroup, train and evaluate attribute models.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--home", default=None, help="workspace folder (default: $FASHION_STUDIO_HOME or ./workspace)"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also print TensorFlow's and absl's own log lines"
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


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m fashion_core") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    set_log_levels(verbose=args.verbose)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's exit-time flush
        return code
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_CLOSED_PIPE
    except (Exception, KeyboardInterrupt) as exc:  # the one place errors become exit codes
        if os.environ.get(DEBUG_ENV) and not isinstance(exc, FashionCoreError):
            raise  # a developer asked for the traceback
        return report_error(exc, args)


def console() -> int:
    """The ``fashion-studio`` command installed by pip."""
    return main(prog="fashion-studio")


def _drop_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not report the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass
