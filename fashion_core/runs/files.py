"""Training runs on disk and in the store: run folders, status files, history, model hashes.

A run folder (``<workspace>/runs/<run_id>/``) holds: ``config.json``, ``schema.json``,
``label_map.json``, ``split.csv``, ``status.json`` (live state, rewritten atomically),
``history.csv`` (one row per epoch), ``metrics.json``, ``model.keras`` (best checkpoint),
``log.txt`` and, to ask a running job to stop, a ``cancel`` flag file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fashion_core.errors import JobError, ModelError
from fashion_core.store import LabelStore, utc_now

_STATUS_LOCK = threading.Lock()

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261123-114501-3fa2``."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temporary file and ``os.replace``, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except json.JSONDecodeError as exc:
        raise JobError(f"{path}: not valid JSON ({exc})") from exc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class RunDir:
    """Paths and small file operations of one run folder."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    config = property(lambda self: self.path / "config.json")
    schema = property(lambda self: self.path / "schema.json")
    label_map = property(lambda self: self.path / "label_map.json")
    split = property(lambda self: self.path / "split.csv")
    status_file = property(lambda self: self.path / "status.json")
    history = property(lambda self: self.path / "history.csv")
    metrics = property(lambda self: self.path / "metrics.json")
    model = property(lambda self: self.path / "model.keras")
    log = property(lambda self: self.path / "log.txt")
    cancel_flag = property(lambda self: self.path / "cancel")

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json (atomically) and return the new status.

        A finished run's status is final: once ``finished_at`` is set, only another write with
        ``finished_at`` changes it, so a stuck trainer thread still reporting progress after
        its watchdog recorded the end cannot overwrite that record.
        """
        with _STATUS_LOCK:  # read-modify-write: the trainer and the watchdog thread both write
            status = self.read_status()
            if status.get("finished_at") and "finished_at" not in fields:
                return status
            status.update(fields, run=self.run_id, updated_at=utc_now())
            write_json_atomic(self.status_file, status)
            return status

    def read_status(self) -> dict[str, Any]:
        return read_json(self.status_file, default={}) or {}

    def append_history(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to history.csv (columns grow if a new key appears)."""
        rows = self.read_history()
        rows.append({k: row[k] for k in row})
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".history.", suffix=".tmp")
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.history)

    def read_history(self) -> list[dict[str, Any]]:
        if not self.history.exists():
            return []
        with open(self.history, newline="", encoding="utf-8") as f:
            return [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]

    def request_cancel(self) -> None:
        self.cancel_flag.touch()

    def cancel_requested(self) -> bool:
        return self.cancel_flag.exists()


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# -- the runs table ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """A run's row in the store."""

    id: str
    dataset: str | None
    status: str
    run_dir: Path
    config: dict[str, Any]
    metrics: dict[str, Any] | None
    model_sha256: str | None
    error: str | None
    created_at: str
    updated_at: str


def register_run(store: LabelStore, run_dir: RunDir, dataset: str, config: dict[str, Any]) -> RunRecord:
    """Record a new run (state ``queued``) in the store and write its config and status."""
    info = store.dataset(dataset)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir.config, config)
    run_dir.write_status(state="queued")
    now = utc_now()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO runs(id, dataset_id, status, run_dir, config_json, created_at, updated_at)"
            " VALUES (?, ?, 'queued', ?, ?, ?, ?)",
            (run_dir.run_id, info.id, str(run_dir.path), json.dumps(config, default=str), now, now),
        )
    return get_run(store, run_dir.run_id)


def update_run(store: LabelStore, run_id: str, **fields: Any) -> None:
    """Update status, metrics (dict), model_sha256 or error of a run."""
    allowed = {"status", "metrics", "model_sha256", "error"}
    if set(fields) - allowed:
        raise JobError(f"Cannot update run fields {sorted(set(fields) - allowed)}")
    if "status" in fields and fields["status"] not in STATES:
        raise JobError(f"Unknown run state {fields['status']!r}; expected one of {STATES}")
    cols = {("metrics_json" if k == "metrics" else k): (json.dumps(v) if k == "metrics" else v) for k, v in fields.items()}
    sets = ", ".join(f"{k} = ?" for k in cols)
    with store.transaction() as conn:
        conn.execute(f"UPDATE runs SET {sets}, updated_at = ? WHERE id = ?", (*cols.values(), utc_now(), run_id))


def get_run(store: LabelStore, run_id: str) -> RunRecord:
    row = store.conn.execute(
        "SELECT r.*, d.name AS dataset FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id WHERE r.id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        raise JobError(f"No run with id {run_id!r}")
    return _record(row)


def list_runs(store: LabelStore, dataset: str | None = None) -> list[RunRecord]:
    """Runs, newest first; optionally only those of one dataset."""
    sql = "SELECT r.*, d.name AS dataset FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id"
    params: tuple = ()
    if dataset is not None:
        sql += " WHERE d.name = ?"
        params = (dataset,)
    return [_record(r) for r in store.conn.execute(sql + " ORDER BY r.rowid DESC", params)]


def verified_model_path(store: LabelStore, run_id: str) -> Path:
    """The run's model file, only if the studio produced it and its SHA-256 still matches.

    Keras model files are programs; loading only files whose hash we recorded at save time
    keeps a swapped-in file from running.
    """
    run = get_run(store, run_id)
    path = RunDir(run.run_dir).model
    if not run.model_sha256:
        raise ModelError(f"Run {run_id} has no recorded model (state: {run.status}).")
    if not path.exists():
        raise ModelError(f"Model file of run {run_id} is missing: {path}")
    actual = sha256_file(path)
    if actual != run.model_sha256:
        raise ModelError(
            f"Model file {path} does not match the SHA-256 recorded when run {run_id} saved it;"
            " refusing to load it."
        )
    return path


def _record(row) -> RunRecord:
    return RunRecord(
        id=row["id"], dataset=row["dataset"], status=row["status"], run_dir=Path(row["run_dir"]),
        config=json.loads(row["config_json"]),
        metrics=json.loads(row["metrics_json"]) if row["metrics_json"] else None,
        model_sha256=row["model_sha256"], error=row["error"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )
