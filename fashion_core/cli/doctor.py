"""CLI commands for the workspace's health: ``doctor``, ``backup --out FILE``, ``restore FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path

from fashion_core.cli._common import print_json, workspace
from fashion_core.cli._errors import EXIT_CHECK_FAILED


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the workspace: store integrity, runs, caches, free disk")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_doctor)

    p = sub.add_parser("backup", help="copy the label store to a file (safe while the app runs)")
    p.add_argument("--out", required=True, type=Path, help="the backup file to write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_backup)

    p = sub.add_parser(
        "restore", help="replace the label store with a backup (the current one is kept aside)"
    )
    p.add_argument("file", type=Path, help="a file written by 'backup'")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_restore)


def run_doctor(args: argparse.Namespace) -> int:
    from fashion_core.doctor import check_workspace

    findings = check_workspace(workspace(args))
    if args.json:
        print_json({"findings": [f.to_dict() for f in findings]})
    else:
        for f in findings:
            print(f"[{f.level:>7}] {f.check}: {f.message}")
            if f.advice:
                print(f"          -> {f.advice}")
    return EXIT_CHECK_FAILED if any(f.level == "problem" for f in findings) else 0


def run_backup(args: argparse.Namespace) -> int:
    from fashion_core.store import backup_store

    info = backup_store(workspace(args).db_path, args.out)
    result = {"backup": str(info.path), "bytes": info.size_bytes, "datasets": info.datasets}
    print_json(result) if args.json else print(
        f"Backed up the label store ({info.datasets} datasets, {info.size_bytes:,} bytes) to {info.path}"
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from fashion_core.store import restore_store

    info = restore_store(workspace(args).db_path, args.file)
    result = {
        "restored": str(info.path),
        "datasets": info.datasets,
        "previous_store_saved_as": str(info.safety_copy) if info.safety_copy else None,
    }
    if args.json:
        print_json(result)
    else:
        print(f"Restored {info.datasets} datasets from {args.file} into {info.path}.")
        if info.safety_copy:
            print(f"The store it replaced was saved as {info.safety_copy}.")
    return 0
