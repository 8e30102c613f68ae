"""How the CLI ends on an error: one line on stderr naming what to do, and a distinct exit code."""

from __future__ import annotations

import argparse
import sys

from fashion_core.errors import (
    AccessDeniedError,
    CorruptStoreError,
    DiskFullError,
    FashionCoreError,
    ReadOnlyWorkspaceError,
    StoreBusyError,
    UnreadableFileError,
    WorkspaceVersionError,
)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREADABLE_FILE = 3
EXIT_READ_ONLY = 4
EXIT_DISK_FULL = 5
EXIT_CORRUPT_STORE = 6
EXIT_BUSY = 7
EXIT_CHECK_FAILED = 8  # images verify / doctor found problems
EXIT_NEWER_WORKSPACE = 9  # the workspace was written by a newer studio
EXIT_DENIED = 10  # the acting identity's role does not allow the action
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141  # the reader of stdout went away (`| head`): like a shell's SIGPIPE, no message

# Most specific first: the first class an error is an instance of decides its code.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UnreadableFileError, EXIT_UNREADABLE_FILE),
    (ReadOnlyWorkspaceError, EXIT_READ_ONLY),
    (DiskFullError, EXIT_DISK_FULL),
    (CorruptStoreError, EXIT_CORRUPT_STORE),
    (StoreBusyError, EXIT_BUSY),
    (WorkspaceVersionError, EXIT_NEWER_WORKSPACE),
    (AccessDeniedError, EXIT_DENIED),
    (FashionCoreError, EXIT_ERROR),
)

EXIT_CODES_HELP = """exit codes:
  0    success
  1    error in the input or the request (the message says what to change)
  2    wrong command-line usage
  3    a file or folder given is missing or unreadable
  4    the workspace is read-only
  5    the disk is full (nothing was half-saved)
  6    the label store (studio.db) is damaged: run 'doctor', then 'restore BACKUP'
  7    the label store stayed locked by another process; try again
  8    a check ('images verify', 'doctor') found problems
  9    the workspace was written by a newer studio: upgrade the studio or use another --home
  10   not allowed: the role of the identity acting does not allow it
  70   internal error (a bug: please report the message)
  130  interrupted
  141  the output pipe was closed (e.g. `| head`): ends quietly

Results go to stdout (one JSON object with --json), progress and notes to stderr."""


def exit_code(exc: BaseException) -> int:
    """The exit code for an error the CLI reports."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL


def report_error(exc: BaseException, args: argparse.Namespace | None = None) -> int:
    """Print ``exc`` as one line (no traceback) and return its exit code.

    SQLite and file-system errors that escaped the library are first explained (read-only
    workspace, full disk, damaged store) against the workspace of ``args``.
    """
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not isinstance(exc, FashionCoreError):
        exc = _explained(exc, args) or _file_problem(exc) or exc
    if isinstance(exc, FashionCoreError):
        print(f"error: {exc}", file=sys.stderr)
    else:
        print(f"internal error: {type(exc).__name__}: {exc} (please report this)", file=sys.stderr)
    return exit_code(exc)


def _explained(exc: BaseException, args: argparse.Namespace | None) -> BaseException | None:
    from fashion_core.store import explain_failure
    from fashion_core.workspace import resolve_home

    try:
        db_path = resolve_home(getattr(args, "home", None)).db_path
    except (OSError, RuntimeError):
        return None
    return explain_failure(exc, db_path)


def _file_problem(exc: BaseException) -> UnreadableFileError | None:
    """An OS error about a file the user named (too long, missing, a folder, no permission)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        name = str(exc.filename)
        shown = name if len(name) <= 200 else f"{name[:200]}... ({len(name)} characters)"
        return UnreadableFileError(shown, f"{exc.strerror or exc}; check the path and its permissions")
    if isinstance(exc, ValueError) and "null byte" in str(exc):  # os functions refuse NUL in paths
        return UnreadableFileError("<a path given>", "a path cannot contain a NUL character; check it")
    return None
