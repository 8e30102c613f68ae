"""The training queue: runs wait in FIFO order and start when fewer than ``max_running`` run."""

from __future__ import annotations

from typing import Protocol

from fashion_core.runs.files import RunDir, get_run
from fashion_core.store import LabelStore, utc_now
from fashion_core.training.ending import finish_run, opened
from fashion_core.workspace import Workspace


class Runner(Protocol):
    """Starts a claimed run somewhere (a process, this thread, ...)."""

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None: ...


def advance(workspace: Workspace, runner: Runner, trainer: str, max_running: int) -> str | None:
    """Claim the oldest queued run if fewer than ``max_running`` run, and start it; return its id."""
    with opened(workspace) as store:
        run_id = claim_next(store, max_running)
        if run_id is None:
            return None
        run_dir = RunDir(get_run(store, run_id).run_dir)
        try:
            runner.start(workspace, run_id, trainer)
        except Exception as exc:  # the run cannot start: say why on the run itself, try the next
            finish_run(store, run_dir, "failed", error=f"could not start: {type(exc).__name__}: {exc}")
            return advance(workspace, runner, trainer, max_running)
    return run_id


def claim_next(store: LabelStore, max_running: int) -> str | None:
    """Mark the next queued run running (if one may run) and say so in its status.json."""
    run_id = store.claim_next_run(max_running)
    if run_id is not None:
        RunDir(get_run(store, run_id).run_dir).write_status(
            state="running", phase="starting", message="starting", claimed_at=utc_now()
        )
    return run_id


def cancel_queued(store: LabelStore, run_id: str) -> bool:
    """Cancel a run that has not started; False if it already has (or ended)."""
    if not store.cancel_queued_run(run_id):
        return False
    RunDir(get_run(store, run_id).run_dir).write_status(
        state="cancelled", finished_at=utc_now(), message="cancelled before it started"
    )
    return True


def queue_positions(store: LabelStore) -> dict[str, int]:
    """1-based place in the queue of every queued run."""
    return {run_id: i for i, run_id in enumerate(store.queued_run_ids(), start=1)}
