"""Check a workspace: store integrity, run folders and model hashes, stale caches, free disk.

Every check reads only; what it finds comes with what to do about it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fashion_core.errors import FashionCoreError
from fashion_core.store.backup import integrity_problems
from fashion_core.workspace import Workspace

MIN_FREE_BYTES = 1 << 30  # below 1 GB free, an import or a training run may fail half-way
STALE_PATTERNS = ("*.tmp", ".*.part", "*.part")  # files left by writes that never finished


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``ok``, ``warning`` (works, but look) or ``problem``."""

    check: str
    level: str
    message: str
    advice: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level, "message": self.message, "advice": self.advice}


def check_workspace(workspace: Workspace) -> list[Finding]:
    """Run every check on ``workspace``; the store's tables are read only if it is intact."""
    findings = list(_check_database(workspace))
    if not any(f.check == "database" and f.level == "problem" for f in findings):
        findings += _check_runs(workspace)
    findings += _check_caches(workspace)
    findings.append(_check_disk(workspace))
    return findings


def _check_database(ws: Workspace) -> Iterator[Finding]:
    if not ws.db_path.is_file():
        yield Finding(
            "database",
            "warning",
            f"{ws.db_path}: no label store yet",
            "Import a dataset (or run 'demo-data') to create it.",
        )
        return
    problems = integrity_problems(ws.db_path)
    if problems:
        yield Finding(
            "database",
            "problem",
            f"{ws.db_path}: integrity check failed: {problems[0]}",
            "Restore a backup with 'python -m fashion_core restore BACKUP'.",
        )
    else:
        yield Finding("database", "ok", f"{ws.db_path}: integrity check ok")


def _check_runs(ws: Workspace) -> Iterator[Finding]:
    from fashion_core.runs.files import RunDir, list_runs, sha256_file
    from fashion_core.store import LabelStore

    try:
        runs = list_runs(LabelStore.open(ws))
    except FashionCoreError as exc:
        yield Finding("runs", "problem", f"cannot list runs: {exc}")
        return
    bad = 0
    for run in runs:
        folder = Path(run.run_dir)
        if not folder.is_dir():
            bad += 1
            yield Finding(
                "runs",
                "problem",
                f"run {run.id}: folder {folder} is missing",
                "Restore the folder from a backup, or ignore the run (its model cannot be used).",
            )
            continue
        model = RunDir(folder).model
        if run.model_sha256 and (not model.is_file() or sha256_file(model) != run.model_sha256):
            bad += 1
            what = (
                "is missing" if not model.is_file() else "does not match the hash recorded when it was saved"
            )
            yield Finding(
                "runs",
                "problem",
                f"run {run.id}: model file {model} {what}",
                "Train the run again; the studio refuses to load a model it cannot verify.",
            )
    if not bad:
        yield Finding("runs", "ok", f"{len(runs)} runs: folders present, model hashes match")


def _check_caches(ws: Workspace) -> list[Finding]:
    findings = []
    for name, folder in (
        ("thumbnails", ws.thumbnails_dir),
        ("embeddings", ws.embeddings_dir),
        ("downloads", ws.downloads_dir),
        ("runs folder", ws.runs_dir),
    ):
        if not folder.is_dir():
            continue
        stale = [p for pattern in STALE_PATTERNS for p in folder.rglob(pattern) if p.is_file()]
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        if stale:
            findings.append(
                Finding(
                    f"cache: {name}",
                    "warning",
                    f"{folder}: {len(stale)} unfinished temporary files (e.g. {stale[0].name}); {_mb(size)} in all",
                    "Safe to delete them while nothing runs; caches are rebuilt when needed.",
                )
            )
        else:
            findings.append(Finding(f"cache: {name}", "ok", f"{folder}: {_mb(size)}, nothing stale"))
    return findings


def _check_disk(ws: Workspace) -> Finding:
    usage = shutil.disk_usage(ws.root if ws.root.exists() else ws.root.parent)
    text = f"{ws.root}: {_mb(usage.free)} free of {_mb(usage.total)}"
    if usage.free < MIN_FREE_BYTES:
        return Finding(
            "disk", "warning", text, "Free some space: imports and training runs need room to write."
        )
    return Finding("disk", "ok", text)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"
