"""A background run's status as one typed record: its store row merged with its live status.json."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from fashion_core.store.runs import FINISHED, RunRecord

# Keys of the record that come from the store row (authoritative over status.json).
ROW_KEYS = ("run", "dataset", "state", "error", "config", "metrics", "model_sha256", "created_at", "updated_at",
            "run_dir", "cancel_requested")
# Keys present only when they apply (``to_dict`` leaves them out otherwise).
OPTIONAL_KEYS = ("queue_position", "log_tail", "status_error")
_INTS = ("epoch", "epochs", "batch", "batches", "pid", "queue_position")
_FLOATS = ("eta_seconds", "seconds_per_epoch", "pid_started")


@dataclass(frozen=True)
class JobStatus:
    """What is known of a run now: ``status`` and ``list_jobs`` return these.

    Attributes:
        run: The run id.
        dataset: Its dataset (None if the dataset was deleted).
        state: ``queued``, ``running``, ``done``, ``failed`` or ``cancelled`` (the store's word).
        run_dir: The run folder.
        config: The training configuration (``TrainConfig.to_dict()``).
        metrics: The final metrics, once the run ended.
        model_sha256: The recorded hash of its best checkpoint, if any.
        error: Why it failed.
        created_at, updated_at: When the row was made and last changed (UTC, ISO 8601).
        cancel_requested: A cancel was asked for.
        phase, message: What the trainer is doing (``PHASE`` names) and its last words.
        epoch, epochs, batch, batches: Progress; ``epoch`` is the one in progress, 1-based.
        eta_seconds, seconds_per_epoch: Time estimates from the trainer.
        pid, pid_started: The process running it and that process's start time.
        claimed_at, started_at, finished_at: When the queue started it, training began, it ended.
        queue_position: 1-based place in the queue, for a queued run.
        log_tail: The last lines of log.txt, for a failed run.
        status_error: Why status.json could not be read (the row still counts).
        details: status.json as the trainer wrote it (any further keys it added).
    """

    run: str = ""
    dataset: str | None = None
    state: str = "queued"
    run_dir: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] | None = None
    model_sha256: str | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    cancel_requested: bool = False
    phase: str | None = None
    message: str | None = None
    epoch: int | None = None
    epochs: int | None = None
    batch: int | None = None
    batches: int | None = None
    eta_seconds: float | None = None
    seconds_per_epoch: float | None = None
    pid: int | None = None
    pid_started: float | None = None
    claimed_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    queue_position: int | None = None
    log_tail: str | None = None
    status_error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen all the way down: a status is a snapshot, not a handle to change the run.
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @classmethod
    def from_parts(cls, record: RunRecord, live: Mapping[str, Any], *, cancel_requested: bool,
                   queue_position: int | None = None, log_tail: str | None = None) -> JobStatus:
        """A run's row (authoritative for state, error, metrics, hashes) merged with its status.json."""
        row = {"run": record.id, "dataset": record.dataset, "state": record.status, "error": record.error,
               "config": record.config, "metrics": record.metrics, "model_sha256": record.model_sha256,
               "created_at": record.created_at, "updated_at": record.updated_at, "run_dir": str(record.run_dir),
               "cancel_requested": cancel_requested, "queue_position": queue_position, "log_tail": log_tail}
        return cls.from_dict({**live, **row})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobStatus:
        """The record of a status dict (``to_dict``'s shape); numbers that are not numbers become None."""
        names = {f.name for f in fields(cls)} - {"details"}
        typed = {k: _coerce(k, v) for k, v in data.items() if k in names}
        details = {k: v for k, v in data.items() if k not in ROW_KEYS and k not in OPTIONAL_KEYS}
        return cls(**typed, details=details)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``runs show --json``): status.json's keys overlaid with the row's, then
        ``queue_position`` / ``log_tail`` / ``status_error`` where they apply."""
        out: dict[str, Any] = dict(self.details)
        for f in fields(self):
            name = f.name
            if name == "details" or name in ROW_KEYS or name in OPTIONAL_KEYS:
                continue
            value = getattr(self, name)
            if value is not None or name in self.details:
                out[name] = self.details.get(name, value) if value is None else value
        out.update({name: getattr(self, name) for name in ROW_KEYS})
        out["config"] = dict(self.config)
        out.update({name: getattr(self, name) for name in OPTIONAL_KEYS if getattr(self, name) is not None})
        return out

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def _coerce(name: str, value: Any) -> Any:
    if name in _INTS:
        return int(value) if _is_number(value) else None
    if name in _FLOATS:
        return float(value) if _is_number(value) else None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
