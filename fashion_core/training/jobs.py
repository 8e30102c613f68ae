"""Background training runs: submit, status, cancel, list, and a one-run-at-a-time queue.

A run goes ``queued`` -> ``running`` -> ``done`` / ``failed`` / ``cancelled``. The store's
``runs`` row holds the state; the run folder holds the live details (status.json, written
by the trainer). Nothing lives only in memory, so a reloaded page or a restarted app finds
every run again, and ``reconcile`` notices runs whose process died. ``status`` and
``list_jobs`` describe runs as ``JobStatus`` records.

A trainer is any ``fn(store, workspace, config, run_dir) -> dict`` (default: the real one,
``fashion_core.analysis.trainer.train_and_calibrate``: ``modeling.training.train_run``, then
calibration). It is passed around as a ``"module:function"`` spec, so a spawned process imports it itself and the app never imports TensorFlow.

This module is the public API; ``queue.py`` holds the queue, ``process.py`` the runners and
process checks, ``ending.py`` the recording of a run's end, ``status.py`` the status record.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from fashion_core.access import require_acting
from fashion_core.errors import FashionCoreError, JobError
from fashion_core.runs.files import FINISHED, RunDir, RunRecord, get_run, list_runs, new_run_id, register_run
from fashion_core.training.ending import LOG_TAIL_LINES, log_tail, opened
from fashion_core.training.process import (
    CANCEL_GRACE_SECONDS,
    START_GRACE_SECONDS,
    InlineRunner,
    ProcessRunner,
    Trainer,
    check_running,
    load_trainer,
    read_status,
    reap_children,
    run_to_end,
)
from fashion_core.training.queue import Runner, advance, cancel_queued, queue_positions
from fashion_core.training.status import JobStatus
from fashion_core.workspace import Workspace, resolve_home

__all__ = [  # the public API, including names defined beside it in training/
    "CANCEL_GRACE_SECONDS", "DEFAULT_RUNNER", "DEFAULT_TRAINER", "LOG_TAIL_LINES", "REAL_TRAINER",
    "START_GRACE_SECONDS", "TRAINER_ENV", "InlineRunner", "JobStatus", "ProcessRunner", "Runner", "Trainer",
    "cancel", "default_runner", "list_jobs", "load_trainer", "log_tail", "normalize_config", "reconcile",
    "run_to_end", "status", "submit", "trainer_spec", "wait",
]

TRAINER_ENV = "FASHION_STUDIO_TRAINER"  # "module:function"; lets e2e tests run a fast trainer
# The real trainer trains, then calibrates (``analysis.trainer``): named, never imported here, since
# calibration loads the run through ``serving``, a layer ``training`` must not import.
REAL_TRAINER = "fashion_core.analysis.trainer:train_and_calibrate"

# Hooks for tests (set with monkeypatch): the runner and trainer used when none is passed.
DEFAULT_RUNNER: Runner | None = None
DEFAULT_TRAINER: Trainer | str | None = None


def submit(workspace: Workspace | str | Path, config: Any, *, runner: Runner | None = None,
           trainer: Trainer | str | None = None, max_running: int = 1) -> str:
    """Register a run as ``queued`` and start it unless ``max_running`` runs are running.

    Args:
        workspace: The workspace (or its folder).
        config: A ``TrainConfig`` or its dict form; it must name a ``dataset``.
        runner: Where runs start (default: ``DEFAULT_RUNNER`` or a ``ProcessRunner``).
        trainer: The training function or its ``"module:function"`` spec (default: the real one).
        max_running: How many runs may run at once; later ones wait in FIFO order.

    Returns:
        The new run's id.

    Raises:
        JobError: if the config or trainer is unusable. UnknownDatasetError for a bad dataset.
    """
    require_acting("train")  # before anything is written
    ws = _workspace(workspace)
    dataset = config.get("dataset") if isinstance(config, dict) else getattr(config, "dataset", None)
    if not dataset:
        raise JobError(f"A training config needs a dataset. Received: dataset={dataset!r}")
    config_dict = normalize_config(config)
    spec = trainer_spec(trainer)
    with opened(ws) as store:
        run_dir = _new_run_dir(ws)
        register_run(store, run_dir, str(dataset), config_dict)
    advance(ws, runner or default_runner(), spec, max_running)
    return run_dir.run_id


def status(workspace: Workspace | str | Path, run_id: str) -> JobStatus:
    """A run's state: status.json (phase, epoch, batch, eta, pid ...) merged with its runs row.

    The row is authoritative for ``state``, ``error``, ``metrics`` and ``model_sha256``.
    Failed runs carry ``log_tail``; queued runs their 1-based ``queue_position``.

    Raises:
        JobError: for an unknown run id.
    """
    with opened(_workspace(workspace)) as store:
        record = get_run(store, run_id)
        positions = queue_positions(store)
    return _status_of(record, positions)


def list_jobs(workspace: Workspace | str | Path, dataset: str | None = None) -> list[JobStatus]:
    """Every run (newest first, in the order they were submitted) as ``status`` would describe it;
    optionally one dataset's."""
    with opened(_workspace(workspace)) as store:
        records = list_runs(store, dataset)
        positions = queue_positions(store)
    return [_status_of(r, positions) for r in records]


def cancel(workspace: Workspace | str | Path, run_id: str, *, grace_seconds: float = CANCEL_GRACE_SECONDS,
           wait: bool = False) -> JobStatus:
    """Cancel a run: a queued one at once; a running one by raising its cancel flag.

    A running trainer stops at its next check and keeps its best checkpoint. If it has not
    stopped ``grace_seconds`` after the request, ``reconcile`` (or this call with ``wait``)
    terminates the process and marks the run cancelled.

    Returns:
        The run's status after the request.
    """
    ws = _workspace(workspace)
    with opened(ws) as store:
        record = get_run(store, run_id)
        if record.status in FINISHED:
            return _status_of(record, {})
        run_dir = RunDir(record.run_dir)
        if cancel_queued(store, run_id):
            return status(ws, run_id)
    run_dir.request_cancel()
    if wait:
        deadline = time.monotonic() + grace_seconds + 10.0
        while time.monotonic() < deadline and not status(ws, run_id).finished:
            reconcile(ws, grace_seconds=grace_seconds, start_next=False)
            time.sleep(0.2)
    return status(ws, run_id)


def reconcile(workspace: Workspace | str | Path, *, runner: Runner | None = None,
              trainer: Trainer | str | None = None, grace_seconds: float = CANCEL_GRACE_SECONDS,
              max_running: int = 1, start_next: bool = True) -> dict[str, Any]:
    """Bring the store in line with reality; called on page load, by the poller and by ``wait``.

    A run marked running whose process is gone becomes ``failed`` ("process exited
    unexpectedly", with the tail of log.txt); one whose cancel grace period has passed is
    terminated and becomes ``cancelled``. Then the next queued run starts if none is running.

    Returns:
        ``{"failed": [ids], "cancelled": [ids], "started": id or None}``.
    """
    ws = _workspace(workspace)
    changes: dict[str, Any] = {"failed": [], "cancelled": [], "started": None}
    with opened(ws) as store:
        for record in list_runs(store):
            if record.status == "running":
                outcome = check_running(store, record, grace_seconds)
                if outcome:
                    changes[outcome].append(record.id)
    reap_children()
    if start_next:
        changes["started"] = advance(ws, runner or default_runner(), trainer_spec(trainer), max_running)
    return changes


def wait(workspace: Workspace | str | Path, run_id: str, *, timeout: float | None = None,
         poll_seconds: float = 0.5, runner: Runner | None = None, trainer: Trainer | str | None = None,
         ) -> JobStatus:
    """Block until a run has finished (reconciling meanwhile) and return its status.

    Raises:
        JobError: if ``timeout`` seconds pass first.
    """
    ws = _workspace(workspace)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        reconcile(ws, runner=runner, trainer=trainer)
        current = status(ws, run_id)
        if current.finished:
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"Run {run_id} is still {current.state} after {timeout} s.")
        time.sleep(poll_seconds)


def default_runner() -> Runner:
    return DEFAULT_RUNNER if DEFAULT_RUNNER is not None else ProcessRunner()


def trainer_spec(trainer: Trainer | str | None = None) -> str:
    """The ``"module:function"`` spec of a trainer (default: hook, then $FASHION_STUDIO_TRAINER, then real).

    Raises:
        JobError: if a callable is not a module-level function another process can import.
    """
    chosen = trainer or DEFAULT_TRAINER or os.environ.get(TRAINER_ENV) or REAL_TRAINER
    if isinstance(chosen, str):
        module, sep, name = chosen.partition(":")
        if not (module and sep and name):
            raise JobError(f"A trainer spec must look like 'module:function'. Received: {chosen!r}")
        return chosen
    spec = f"{getattr(chosen, '__module__', '')}:{getattr(chosen, '__qualname__', '')}"
    if "<" in spec or load_trainer(spec) is not chosen:
        raise JobError(
            f"A trainer must be a module-level function so a separate process can import it."
            f" Received: {chosen!r}"
        )
    return spec


def normalize_config(config: Any) -> dict[str, Any]:
    """The dict form of a config, validated (and completed with defaults) by ``TrainConfig``.

    Raises:
        TrainConfigError: for an option out of range; JobError for anything else unusable.
    """
    from fashion_core.modeling.config import TrainConfig  # light: no TensorFlow behind it

    if isinstance(config, TrainConfig):
        return config.to_dict()
    if not isinstance(config, dict):
        raise JobError(f"A training config must be a TrainConfig or a dict. Received: {type(config).__name__}")
    try:
        return TrainConfig.from_dict(config).to_dict()
    except FashionCoreError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise JobError(f"Invalid training config: {exc}") from exc


# -- helpers ------------------------------------------------------------------------------


def _status_of(record: RunRecord, positions: dict[str, int]) -> JobStatus:
    run_dir = RunDir(record.run_dir)
    return JobStatus.from_parts(
        record,
        read_status(run_dir),
        cancel_requested=run_dir.cancel_requested(),
        queue_position=positions.get(record.id) if record.status == "queued" else None,
        log_tail=log_tail(run_dir) if record.status == "failed" else None,
    )


def _new_run_dir(ws: Workspace) -> RunDir:
    while True:
        run_dir = RunDir(ws.runs_dir / new_run_id())
        if not run_dir.path.exists():
            return run_dir


def _workspace(workspace: Workspace | str | Path | None) -> Workspace:
    if isinstance(workspace, Workspace):
        return workspace
    return resolve_home(workspace).ensure()
