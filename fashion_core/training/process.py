"""Where a background run lives: runners (a spawned process, or this thread), carrying a run to its
end, the cancel watchdog, and checks that a run's process is still alive."""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from fashion_core.errors import JobError
from fashion_core.runs.files import (
    RunDir,
    RunRecord,
    get_run,
    new_run_id,
    read_json,
    register_run,
    update_run,
)
from fashion_core.store import LabelStore, utc_now
from fashion_core.training.ending import append_log, finish_run, log_tail, opened
from fashion_core.training.queue import Runner, advance
from fashion_core.workspace import Workspace

Trainer = Callable[[LabelStore, Workspace, Any, RunDir], "dict[str, Any] | None"]

CANCEL_GRACE_SECONDS = 30.0  # how long a cancelled run may take to stop on its own
START_GRACE_SECONDS = 120.0  # a claimed run without a pid yet counts as starting this long

_PROCESSES: dict[str, multiprocessing.process.BaseProcess] = {}  # our own children, to reap


def read_status(run_dir: RunDir) -> dict[str, Any]:
    """status.json, or ``{"status_error": why}``: one broken file must not hide the other runs."""
    try:
        return run_dir.read_status()
    except JobError as exc:
        return {"status_error": str(exc)}


class InlineRunner:
    """Runs the trainer in the calling thread; ``start`` returns when the run has ended (tests)."""

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None:
        run_to_end(workspace, run_id, trainer, runner=self)


class ProcessRunner:
    """Runs each run in its own ``spawn`` process (TensorFlow and ``fork`` do not mix).

    The process outlives Streamlit reruns and app restarts: it gets its own session (a Ctrl-C
    in the app's terminal does not reach it) and is not joined when the app exits.
    """

    def __init__(self, grace_seconds: float = CANCEL_GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None:
        _start_resource_tracker_quietly()
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(
            target=_child_main,
            args=(str(workspace.root), run_id, trainer, self.grace_seconds),
            name=f"fashion-run-{run_id}",
        )
        with main_module_hidden():
            proc.start()
        # multiprocessing joins non-daemon children at interpreter exit, which would make the
        # app (or a finished run starting the next one) wait for the whole training run.
        multiprocessing.process._children.discard(proc)  # type: ignore[attr-defined]
        _PROCESSES[run_id] = proc


@contextlib.contextmanager
def main_module_hidden() -> Iterator[None]:
    """Start children without re-running the parent's ``__main__`` in them.

    ``spawn`` imports the parent's main module in the child first. Under Streamlit that module
    is the page script that pressed Start (it would run again, bare, in the training process);
    the child needs only ``_child_main``, which it imports by its module path.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _start_resource_tracker_quietly() -> None:
    """Start multiprocessing's resource tracker with stdout/stderr on /dev/null.

    Spawning starts that helper once per process, and it lives as long as the run. Left to
    itself it inherits our stdout/stderr, so ``runs submit --json | jq`` would wait for the
    whole training run before seeing end-of-file.
    """
    from multiprocessing import resource_tracker

    if getattr(resource_tracker._resource_tracker, "_fd", None) is not None:  # type: ignore[attr-defined]
        return  # already running
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def load_trainer(spec: str) -> Trainer:
    """Import the trainer named by a ``"module:function"`` spec."""
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"Cannot load trainer {spec!r}: {exc}") from exc


def _config_for_trainer(config: dict[str, Any]) -> Any:
    from fashion_core.modeling.config import TrainConfig

    return TrainConfig.from_dict(config)


# -- running one run ------------------------------------------------------------------------


def run_to_end(
    workspace: Workspace, run_id: str, trainer: str, *, runner: Runner, grace_seconds: float | None = None
) -> None:
    """Run one claimed run to its end in this thread, record the outcome, then start the next.

    Called by the runners. The trainer records its own end state; if it did not (or raised),
    this does: ``failed`` with the error, else ``cancelled`` if asked to stop, else ``done``.
    With ``grace_seconds`` a watchdog ends the process when a cancel is not honoured in time.
    """
    with opened(workspace) as store:
        record = get_run(store, run_id)
        if record.status != "running":
            return  # cancelled or given up on while this process was starting
        run_dir = RunDir(record.run_dir)
        mark_running_here(run_dir)
        ending = threading.Event()
        if grace_seconds is not None:
            _start_watchdog(workspace, run_dir, trainer, runner, grace_seconds, ending)
        try:
            config = _config_for_trainer(read_json(run_dir.config, default={}))
            result = load_trainer(trainer)(store, workspace, config, run_dir)
        except Exception as exc:  # recorded as the run's failure reason, with the traceback in log.txt
            ending.set()
            append_log(run_dir, traceback.format_exc())
            finish_run(store, run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        else:
            ending.set()
            state = "cancelled" if run_dir.cancel_requested() else "done"
            finish_run(store, run_dir, state, result=result)
    advance(workspace, runner, trainer, 1)


def _child_main(root: str, run_id: str, trainer: str, grace_seconds: float) -> None:
    """Entry point of a spawned run process."""
    if hasattr(os, "setsid"):
        try:
            os.setsid()  # its own session: terminal signals to the app do not stop training
        except OSError:
            pass  # already a session leader
    workspace = Workspace(Path(root))
    with opened(workspace) as store:
        run_dir = RunDir(get_run(store, run_id).run_dir)
    _redirect_output(run_dir.log)
    run_to_end(workspace, run_id, trainer, runner=ProcessRunner(grace_seconds), grace_seconds=grace_seconds)


def _start_watchdog(
    workspace: Workspace, run_dir: RunDir, trainer: str, runner: Runner, grace: float, ending: threading.Event
) -> None:
    def watch() -> None:
        while not ending.wait(0.5):
            if cancel_overdue(run_dir, grace):
                with opened(workspace) as store:
                    finish_run(store, run_dir, "cancelled", note=f"stopped: did not honour the cancel within {grace:g} s")
                advance(workspace, runner, trainer, 1)
                os._exit(1)  # the trainer is stuck; its thread cannot be stopped any other way

    threading.Thread(target=watch, name=f"cancel-watchdog-{run_dir.run_id}", daemon=True).start()


# -- is it alive? ---------------------------------------------------------------------------


def check_running(store: LabelStore, record: RunRecord, grace: float) -> str | None:
    """Fail a run whose process is gone, terminate one that ignored its cancel; say which."""
    run_dir = RunDir(record.run_dir)
    current = read_status(run_dir)
    if _run_alive(record.id, current):
        if not cancel_overdue(run_dir, grace):
            return None
        terminate(record.id, current)
        done = finish_run(store, run_dir, "cancelled", note=f"terminated: did not stop within {grace:g} s of the cancel")
        return "cancelled" if done else None
    tail = log_tail(run_dir)
    proc = _PROCESSES.get(record.id)
    code = f" (exit code {proc.exitcode})" if proc is not None and proc.exitcode is not None else ""
    error = f"process exited unexpectedly{code}" + (f"; last lines of log.txt:\n{tail}" if tail else " (log.txt is empty)")
    return "failed" if finish_run(store, run_dir, "failed", error=error) else None


def _run_alive(run_id: str, current: dict[str, Any]) -> bool:
    pid = current.get("pid")
    proc = _PROCESSES.get(run_id)
    if proc is not None and pid in (None, proc.pid):
        return proc.is_alive()  # our own child: exact, and it reaps the exit status
    if pid is None:  # claimed, process not up yet
        claimed = current.get("claimed_at")
        return claimed is not None and _age_seconds(claimed) < START_GRACE_SECONDS
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = current.get("pid_started")
        # A recycled pid belongs to another process with another start time.
        return started is None or abs(proc.create_time() - float(started)) < 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # it exists; it is just not ours to inspect


def terminate(run_id: str, current: dict[str, Any]) -> None:
    pid = current.get("pid")
    if pid is None or int(pid) == os.getpid():
        return  # an inline run in this process cannot be killed; it is only marked
    proc = _PROCESSES.pop(run_id, None)
    if proc is not None and proc.pid == int(pid):
        proc.terminate()
        proc.join(5)
        if proc.exitcode is None:
            proc.kill()
            proc.join(5)
        return
    try:
        victim = psutil.Process(int(pid))
        victim.terminate()
        try:
            victim.wait(5)
        except psutil.TimeoutExpired:
            victim.kill()
    except psutil.NoSuchProcess:
        pass  # it ended on its own meanwhile


def reap_children() -> None:
    for run_id, proc in list(_PROCESSES.items()):
        if not proc.is_alive():  # also collects the exit status, so no zombie stays
            _PROCESSES.pop(run_id, None)  # pop: two sessions may reap at once


def cancel_overdue(run_dir: RunDir, grace: float) -> bool:
    try:
        return time.time() - run_dir.cancel_flag.stat().st_mtime > grace
    except FileNotFoundError:
        return False


def start_here(store: LabelStore, workspace: Workspace, config: dict[str, Any]) -> RunDir:
    """Register a run that this process trains now, in the foreground (``python -m fashion_core train``).

    It is recorded as running with this process's pid at once: the background queue must not
    claim it, and a reconcile (the Train page, ``runs list``) sees a live process, not a lost run.
    """
    run_dir = RunDir(workspace.runs_dir / new_run_id())
    register_run(store, run_dir, config["dataset"], config)
    update_run(store, run_dir.run_id, status="running")
    mark_running_here(run_dir)
    return run_dir


def mark_running_here(run_dir: RunDir) -> None:
    """Record that this process runs ``run_dir`` (its pid and start time), so a reconcile that
    finds the run ``running`` checks this process instead of calling the run lost."""
    pid = os.getpid()
    run_dir.write_status(state="running", pid=pid, pid_started=_create_time(pid), started_at=utc_now())


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _age_seconds(iso: str) -> float:
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return float("inf")
    return (datetime.now(then.tzinfo) - then).total_seconds()


def _redirect_output(log: Path) -> None:
    """Send this process's stdout and stderr (Python's and native code's) to log.txt."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
