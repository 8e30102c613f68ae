"""Run rows of the label store: one per training run, and the one-at-a-time queue's claims."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion_core.access import require_acting
from fashion_core.errors import JobError
from fashion_core.store.db import utc_now

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
# Fields ``update_run_row`` may change, and the column each is stored in.
UPDATABLE = {
    "status": "status",
    "metrics": "metrics_json",
    "model_sha256": "model_sha256",
    "error": "error",
    "map_name": "map_name",
    "files_sha256": "files_json",
}
_JSON_FIELDS = ("metrics", "files_sha256")
_SELECT = "SELECT r.*, d.name AS dataset FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id"


@dataclass(frozen=True)
class RunRecord:
    """A run's row in the store.

    Attributes:
        map_name: The label map the run resolved when it read its labels (None: not
            recorded yet, or no map; ``label_map.json`` in the run folder says which).
        files_sha256: SHA-256 per run file that changes what the model answers, recorded when
            the run finished (None for runs made before: only ``model_sha256`` was recorded).
    """

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
    map_name: str | None = None
    files_sha256: dict[str, str] | None = field(default=None)
    created_by: str | None = None


class RunRowsMixin:
    """Run-row methods of LabelStore (kept apart so each file has one job)."""

    def insert_run(self, run_id: str, dataset: str, run_dir: Path, config: dict[str, Any]) -> RunRecord:
        """Add a run's row in state ``queued``, recording who started it."""
        who = require_acting("train").name
        info = self.dataset(dataset)
        now = utc_now()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO runs(id, dataset_id, status, run_dir, config_json, created_at, updated_at,"
                " created_by) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (run_id, info.id, str(run_dir), json.dumps(config, default=str), now, now, who),
            )
        return self.run_row(run_id)

    def update_run_row(self, run_id: str, **fields: Any) -> None:
        """Change some of ``UPDATABLE`` of a run (dicts are stored as JSON).

        Raises:
            JobError: for another field or an unknown state.
        """
        unknown = set(fields) - set(UPDATABLE)
        if unknown:
            raise JobError(f"Cannot update run fields {sorted(unknown)}; updatable: {sorted(UPDATABLE)}")
        if "status" in fields and fields["status"] not in STATES:
            raise JobError(f"Unknown run state {fields['status']!r}; expected one of {STATES}")
        values = [json.dumps(v) if k in _JSON_FIELDS and v is not None else v for k, v in fields.items()]
        sets = ", ".join(f"{UPDATABLE[k]} = ?" for k in fields)
        with self.transaction() as conn:
            conn.execute(f"UPDATE runs SET {sets}, updated_at = ? WHERE id = ?", (*values, utc_now(), run_id))

    def run_row(self, run_id: str) -> RunRecord:
        """One run's row.

        Raises:
            JobError: for an unknown run id.
        """
        row = self.conn.execute(f"{_SELECT} WHERE r.id = ?", (run_id,)).fetchone()
        if row is None:
            raise JobError(f"No run with id {run_id!r}")
        return _record(row)

    def run_rows(self, dataset: str | None = None) -> list[RunRecord]:
        """Runs in the order they were registered, newest first; optionally one dataset's."""
        where, params = ("WHERE d.name = ?", (dataset,)) if dataset is not None else ("", ())
        return [_record(r) for r in self.conn.execute(f"{_SELECT} {where} ORDER BY r.rowid DESC", params)]

    def runs_naming_map(self, name: str) -> list[str]:
        """Ids of runs whose row or config names label map ``name`` (oldest first)."""
        rows = self.conn.execute(
            "SELECT id FROM runs WHERE map_name = :n OR json_extract(config_json, '$.map_name') = :n"
            " OR json_extract(config_json, '$.label_map') = :n OR json_extract(config_json, '$.map') = :n"
            " ORDER BY rowid",
            {"n": name},
        )
        return [r["id"] for r in rows]

    # -- the queue ------------------------------------------------------------------------

    def queued_run_ids(self) -> list[str]:
        """Queued runs, first in line first."""
        rows = self.conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY rowid")
        return [r["id"] for r in rows]

    def claim_next_run(self, max_running: int) -> str | None:
        """Mark the oldest queued run ``running`` if fewer than ``max_running`` run; return its id.

        One write transaction, so two sessions (or a finishing run and a page) never both
        start a run when only one may run.
        """
        with self.transaction() as conn:
            running = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
            if running >= max_running:
                return None
            row = conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY rowid LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("UPDATE runs SET status = 'running', updated_at = ? WHERE id = ?", (utc_now(), row["id"]))
        return str(row["id"])

    def cancel_queued_run(self, run_id: str) -> bool:
        """Cancel a run if it is still queued (in one statement: it cannot start meanwhile)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'queued'",
                (utc_now(), run_id),
            )
            return cur.rowcount == 1


def _record(row: sqlite3.Row) -> RunRecord:
    files = row["files_json"]
    return RunRecord(
        id=row["id"], dataset=row["dataset"], status=row["status"], run_dir=Path(row["run_dir"]),
        config=json.loads(row["config_json"]),
        metrics=json.loads(row["metrics_json"]) if row["metrics_json"] else None,
        model_sha256=row["model_sha256"], error=row["error"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        map_name=row["map_name"], files_sha256=json.loads(files) if files else None,
        created_by=row["created_by"],
    )
