"""Background training runs: submit, status, cancel, list, and a one-run-at-a-time queue.

A run goes ``queued`` -> ``running`` -> ``done`` / ``failed`` / ``cancelled``. The store's
``runs`` row holds the state; the run folder holds the live details (status.json, written
by the trainer). Nothing lives only in memory, so a reloaded page or a restarted app finds
every run again, and ``reconcile`` notices runs whose process died.

A trainer is any ``fn(store, workspace, config, run_dir) -> dict`` (default: the real
``fashion_core.modeling.training.train_run``). It is passed around as a ``"module:function"``
spec, so a spawned process imports it itself and the app never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psutil

from fashion_core.errors import FashionCoreError, JobError
from fashion_core.runs.files import (
    FINISHED,
    RunDir,
    RunRecord,
    get_run,
    list_runs,
    new_run_id,
    read_json,
    register_run,
    sha256_file,
    update_run,
)
from fashion_core.store import LabelStore, utc_now
from fashion_core.workspace import Workspace, resolve_home

Trainer = Callable[[LabelStore, Workspace, Any, RunDir], "dict[str, Any] | None"]

TRAINER_ENV = "FASHION_STUDIO_TRAINER"  # "module:function"; lets e2e tests run a fast trainer
REAL_TRAINER = "fashion_core.modeling.training:train_run"
CANCEL_GRACE_SECONDS = 30.0  # how long a cancelled run may take to stop on its own
START_GRACE_SECONDS = 120.0  # a claimed run without a pid yet counts as starting this long
LOG_TAIL_LINES = 40

# Hooks for tests (set with monkeypatch): the runner and trainer used when none is passed.
DEFAULT_RUNNER: Runner | None = None
DEFAULT_TRAINER: Trainer | str | None = None

_PROCESSES: dict[str, multiprocessing.process.BaseProcess] = {}  # our own children, to reap
_FINISH_LOCK = threading.Lock()


class Runner(Protocol):
    """Starts a claimed run somewhere (a process, this thread, ...)."""

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None: ...


class InlineRunner:
    """Runs the trainer in the calling thread; ``start`` returns when the run has ended (tests)."""

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None:
        execute_run(workspace, run_id, trainer, runner=self)


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
        proc.start()
        # multiprocessing joins non-daemon children at interpreter exit, which would make the
        # app (or a finished run starting the next one) wait for the whole training run.
        multiprocessing.process._children.discard(proc)  # type: ignore[attr-defined]
        _PROCESSES[run_id] = proc


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


# -- public API ---------------------------------------------------------------------------


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
    ws = _workspace(workspace)
    dataset = config.get("dataset") if isinstance(config, dict) else getattr(config, "dataset", None)
    if not dataset:
        raise JobError(f"A training config needs a dataset. Received: dataset={dataset!r}")
    config_dict = normalize_config(config)
    spec = trainer_spec(trainer)
    with _opened(ws) as store:
        run_dir = _new_run_dir(ws)
        register_run(store, run_dir, str(dataset), config_dict)
    _advance(ws, runner or default_runner(), spec, max_running)
    return run_dir.run_id


def status(workspace: Workspace | str | Path, run_id: str) -> dict[str, Any]:
    """A run's state: status.json (phase, epoch, batch, eta, pid ...) merged with its runs row.

    The row is authoritative for ``state``, ``error``, ``metrics`` and ``model_sha256``.
    Failed runs carry ``log_tail``; queued runs their 1-based ``queue_position``.
    """
    with _opened(_workspace(workspace)) as store:
        record = get_run(store, run_id)
        queue = _queue(store)
    return _merged(record, queue)


def list_jobs(workspace: Workspace | str | Path, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every run (newest first) as ``status`` would describe it; optionally one dataset's."""
    with _opened(_workspace(workspace)) as store:
        records = list_runs(store, dataset)
        queue = _queue(store)
        # created_at has whole seconds and ids end in random hex: insertion order breaks ties.
        order = {r["id"]: i for i, r in enumerate(store.conn.execute("SELECT id FROM runs ORDER BY rowid DESC"))}
    records.sort(key=lambda r: order.get(r.id, -1))
    return [_merged(r, queue) for r in records]


def cancel(workspace: Workspace | str | Path, run_id: str, *, grace_seconds: float = CANCEL_GRACE_SECONDS,
           wait: bool = False) -> dict[str, Any]:
    """Cancel a run: a queued one at once; a running one by raising its cancel flag.

    A running trainer stops at its next check and keeps its best checkpoint. If it has not
    stopped ``grace_seconds`` after the request, ``reconcile`` (or this call with ``wait``)
    terminates the process and marks the run cancelled.

    Returns:
        The run's status after the request.
    """
    ws = _workspace(workspace)
    with _opened(ws) as store:
        record = get_run(store, run_id)
        if record.status in FINISHED:
            return _merged(record, [])
        run_dir = RunDir(record.run_dir)
        if _cancel_queued(store, run_id):
            run_dir.write_status(state="cancelled", finished_at=utc_now(), message="cancelled before it started")
            return status(ws, run_id)
    run_dir.request_cancel()
    if wait:
        deadline = time.monotonic() + grace_seconds + 10.0
        while time.monotonic() < deadline and status(ws, run_id)["state"] not in FINISHED:
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
    with _opened(ws) as store:
        for record in list_runs(store):
            if record.status == "running":
                outcome = _check_running(store, record, grace_seconds)
                if outcome:
                    changes[outcome].append(record.id)
    _reap_children()
    if start_next:
        changes["started"] = _advance(ws, runner or default_runner(), trainer_spec(trainer), max_running)
    return changes


def wait(workspace: Workspace | str | Path, run_id: str, *, timeout: float | None = None,
         poll_seconds: float = 0.5, runner: Runner | None = None, trainer: Trainer | str | None = None,
         ) -> dict[str, Any]:
    """Block until a run has finished (reconciling meanwhile) and return its status.

    Raises:
        JobError: if ``timeout`` seconds pass first.
    """
    ws = _workspace(workspace)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        reconcile(ws, runner=runner, trainer=trainer)
        current = status(ws, run_id)
        if current["state"] in FINISHED:
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"Run {run_id} is still {current['state']} after {timeout} s.")
        time.sleep(poll_seconds)


def log_tail(run_dir: RunDir, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a run's log.txt ('' if there is none)."""
    try:
        with open(run_dir.log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- trainers and configs -------------------------------------------------------------------


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


def load_trainer(spec: str) -> Trainer:
    """Import the trainer named by a ``"module:function"`` spec."""
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"Cannot load trainer {spec!r}: {exc}") from exc


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


def _config_for_trainer(config: dict[str, Any]) -> Any:
    from fashion_core.modeling.config import TrainConfig

    return TrainConfig.from_dict(config)


# -- running one run ------------------------------------------------------------------------


def execute_run(
    workspace: Workspace, run_id: str, trainer: str, *, runner: Runner, grace_seconds: float | None = None
) -> None:
    """Run one claimed run to its end in this thread, record the outcome, then start the next.

    Called by the runners. The trainer records its own end state; if it did not (or raised),
    this does: ``failed`` with the error, else ``cancelled`` if asked to stop, else ``done``.
    With ``grace_seconds`` a watchdog ends the process when a cancel is not honoured in time.
    """
    with _opened(workspace) as store:
        record = get_run(store, run_id)
        if record.status != "running":
            return  # cancelled or given up on while this process was starting
        run_dir = RunDir(record.run_dir)
        pid = os.getpid()
        run_dir.write_status(state="running", pid=pid, pid_started=_create_time(pid), started_at=utc_now())
        ending = threading.Event()
        if grace_seconds is not None:
            _start_watchdog(workspace, run_dir, trainer, runner, grace_seconds, ending)
        try:
            config = _config_for_trainer(read_json(run_dir.config, default={}))
            result = load_trainer(trainer)(store, workspace, config, run_dir)
        except Exception as exc:  # recorded as the run's failure reason, with the traceback in log.txt
            ending.set()
            _append_log(run_dir, traceback.format_exc())
            _finish(store, run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        else:
            ending.set()
            state = "cancelled" if run_dir.cancel_requested() else "done"
            _finish(store, run_dir, state, result=result)
    _advance(workspace, runner, trainer, 1)


def _child_main(root: str, run_id: str, trainer: str, grace_seconds: float) -> None:
    """Entry point of a spawned run process."""
    if hasattr(os, "setsid"):
        try:
            os.setsid()  # its own session: terminal signals to the app do not stop training
        except OSError:
            pass  # already a session leader
    workspace = Workspace(Path(root))
    with _opened(workspace) as store:
        run_dir = RunDir(get_run(store, run_id).run_dir)
    _redirect_output(run_dir.log)
    execute_run(workspace, run_id, trainer, runner=ProcessRunner(grace_seconds), grace_seconds=grace_seconds)


def _start_watchdog(
    workspace: Workspace, run_dir: RunDir, trainer: str, runner: Runner, grace: float, ending: threading.Event
) -> None:
    def watch() -> None:
        while not ending.wait(0.5):
            if _cancel_overdue(run_dir, grace):
                with _opened(workspace) as store:
                    _finish(store, run_dir, "cancelled", note=f"stopped: did not honour the cancel within {grace:g} s")
                _advance(workspace, runner, trainer, 1)
                os._exit(1)  # the trainer is stuck; its thread cannot be stopped any other way

    threading.Thread(target=watch, name=f"cancel-watchdog-{run_dir.run_id}", daemon=True).start()


def _finish(store: LabelStore, run_dir: RunDir, state: str, *, error: str | None = None, result: Any = None,
            note: str | None = None) -> bool:
    """Record a run's end unless it is already recorded; return whether this call did."""
    with _FINISH_LOCK:
        record = get_run(store, run_dir.run_id)
        if record.status in FINISHED:  # the trainer recorded its end; make the file agree
            current = run_dir.read_status()
            if current.get("state") != record.status or not current.get("finished_at"):
                run_dir.write_status(state=record.status, finished_at=current.get("finished_at") or utc_now())
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


# -- the queue and process checks -----------------------------------------------------------


def _advance(workspace: Workspace, runner: Runner, trainer: str, max_running: int) -> str | None:
    """Claim the oldest queued run if fewer than ``max_running`` run, and start it."""
    with _opened(workspace) as store:
        run_id = _claim_next(store, max_running)
        if run_id is None:
            return None
        run_dir = RunDir(get_run(store, run_id).run_dir)
        try:
            runner.start(workspace, run_id, trainer)
        except Exception as exc:  # the run cannot start: say why on the run itself, try the next
            _finish(store, run_dir, "failed", error=f"could not start: {type(exc).__name__}: {exc}")
            return _advance(workspace, runner, trainer, max_running)
    return run_id


def _claim_next(store: LabelStore, max_running: int) -> str | None:
    # One write transaction, so two sessions (or a finishing run and a page) never both
    # start a run when only one may run.
    with store.transaction() as conn:
        running = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
        if running >= max_running:
            return None
        row = conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY rowid LIMIT 1").fetchone()
        if row is None:
            return None
        conn.execute("UPDATE runs SET status = 'running', updated_at = ? WHERE id = ?", (utc_now(), row["id"]))
    run_dir = RunDir(get_run(store, row["id"]).run_dir)
    run_dir.write_status(state="running", phase="starting", message="starting", claimed_at=utc_now())
    return row["id"]


def _cancel_queued(store: LabelStore, run_id: str) -> bool:
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE runs SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'queued'",
            (utc_now(), run_id),
        )
        return cur.rowcount == 1


def _queue(store: LabelStore) -> list[str]:
    return [r["id"] for r in store.conn.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY rowid")]


def _check_running(store: LabelStore, record: RunRecord, grace: float) -> str | None:
    """Fail a run whose process is gone, terminate one that ignored its cancel; say which."""
    run_dir = RunDir(record.run_dir)
    current = _read_status(run_dir)
    if _run_alive(record.id, current):
        if not _cancel_overdue(run_dir, grace):
            return None
        _terminate(record.id, current)
        done = _finish(store, run_dir, "cancelled", note=f"terminated: did not stop within {grace:g} s of the cancel")
        return "cancelled" if done else None
    tail = log_tail(run_dir)
    proc = _PROCESSES.get(record.id)
    code = f" (exit code {proc.exitcode})" if proc is not None and proc.exitcode is not None else ""
    error = f"process exited unexpectedly{code}" + (f"; last lines of log.txt:\n{tail}" if tail else " (log.txt is empty)")
    return "failed" if _finish(store, run_dir, "failed", error=error) else None


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


def _terminate(run_id: str, current: dict[str, Any]) -> None:
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


def _reap_children() -> None:
    for run_id, proc in list(_PROCESSES.items()):
        if not proc.is_alive():  # also collects the exit status, so no zombie stays
            _PROCESSES.pop(run_id, None)  # pop: two sessions may reap at once


def _cancel_overdue(run_dir: RunDir, grace: float) -> bool:
    try:
        return time.time() - run_dir.cancel_flag.stat().st_mtime > grace
    except FileNotFoundError:
        return False


# -- small helpers ------------------------------------------------------------------------


def _merged(record: RunRecord, queue: list[str]) -> dict[str, Any]:
    run_dir = RunDir(record.run_dir)
    merged = _read_status(run_dir)
    merged.update(
        run=record.id, dataset=record.dataset, state=record.status, error=record.error,
        config=record.config, metrics=record.metrics, model_sha256=record.model_sha256,
        created_at=record.created_at, updated_at=record.updated_at, run_dir=str(record.run_dir),
        cancel_requested=run_dir.cancel_requested(),
    )
    if record.status == "queued" and record.id in queue:
        merged["queue_position"] = queue.index(record.id) + 1
    if record.status == "failed":
        merged["log_tail"] = log_tail(run_dir)
    return merged


def _read_status(run_dir: RunDir) -> dict[str, Any]:
    try:
        return run_dir.read_status()
    except JobError as exc:  # one broken file must not hide the other runs
        return {"status_error": str(exc)}


def _new_run_dir(ws: Workspace) -> RunDir:
    while True:
        run_dir = RunDir(ws.runs_dir / new_run_id())
        if not run_dir.path.exists():
            return run_dir


def _workspace(workspace: Workspace | str | Path | None) -> Workspace:
    if isinstance(workspace, Workspace):
        return workspace
    return resolve_home(workspace).ensure()


@contextmanager
def _opened(workspace: Workspace) -> Iterator[LabelStore]:
    store = LabelStore.open(workspace)
    try:
        yield store
    finally:
        store.close()


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


def _append_log(run_dir: RunDir, text: str) -> None:
    with open(run_dir.log, "a", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def _redirect_output(log: Path) -> None:
    """Send this process's stdout and stderr (Python's and native code's) to log.txt."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
