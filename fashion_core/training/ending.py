"""Recording how a background run ended (once, whoever notices first), and its log file."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fashion_core.errors import JobError
from fashion_core.runs.files import (
    FINISHED,
    RunDir,
    get_run,
    read_json,
    record_run_files,
    sha256_file,
    update_run,
)
from fashion_core.store import LabelStore, utc_now
from fashion_core.workspace import Workspace

LOG_TAIL_LINES = 40

_FINISH_LOCK = threading.Lock()


def finish_run(store: LabelStore, run_dir: RunDir, state: str, *, error: str | None = None, result: Any = None,
               note: str | None = None) -> bool:
    """Record a run's end unless it is already recorded; return whether this call did.

    The trainer, the runner around it, a watchdog and ``reconcile`` may all try: the first
    wins, and status.json is made to agree with the store's row. A run that ends with a model
    gets the hashes of its answer files recorded (unless its trainer did that).
    """
    with _FINISH_LOCK:
        record = get_run(store, run_dir.run_id)
        if record.status in FINISHED:  # the trainer recorded its end; make the file agree
            current = run_dir.read_status()
            if current.get("state") != record.status or not current.get("finished_at"):
                run_dir.write_status(state=record.status, finished_at=current.get("finished_at") or utc_now())
            if record.model_sha256 and record.files_sha256 is None:
                record_run_files(store, record.id)
            return False
        fields: dict[str, Any] = {"status": state}
        if error:
            fields["error"] = error
        metrics = _result_metrics(result, run_dir)
        if metrics is not None:
            fields["metrics"] = metrics
        if state != "failed" and record.model_sha256 is None and run_dir.model.exists():
            fields["model_sha256"] = sha256_file(run_dir.model)
        extra = {"message": note} if note else {}
        run_dir.write_status(state=state, finished_at=utc_now(), error=error, **extra)
        update_run(store, run_dir.run_id, **fields)
        if state != "failed":
            record_run_files(store, run_dir.run_id)
        return True


def _result_metrics(result: Any, run_dir: RunDir) -> dict[str, Any] | None:
    """The trainer's metrics: its return value (``train_run`` returns them; a ``{"run", "metrics"}``
    summary works too), else metrics.json."""
    if isinstance(result, dict) and result:
        inner = result.get("metrics")
        return inner if isinstance(inner, dict) else result
    try:
        metrics = read_json(run_dir.metrics)
    except JobError:
        return None
    return metrics if isinstance(metrics, dict) else None


@contextmanager
def opened(workspace: Workspace) -> Iterator[LabelStore]:
    """The workspace's store, closed afterwards (runs open their own: they live in other processes)."""
    store = LabelStore.open(workspace)
    try:
        yield store
    finally:
        store.close()


def log_tail(run_dir: RunDir, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a run's log.txt ('' if there is none)."""
    try:
        with open(run_dir.log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def append_log(run_dir: RunDir, text: str) -> None:
    with open(run_dir.log, "a", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")
