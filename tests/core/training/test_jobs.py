"""Background runs: submit, observe, queue order, cancel, failures, reconcile, a real spawned process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from fashion_core.errors import JobError, UnknownDatasetError
from fashion_core.ingest import import_labels
from fashion_core.runs import RunDir, get_run, list_runs, register_run, sha256_file, update_run
from fashion_core.store import LabelStore
from fashion_core.training import jobs
from fashion_core.workspace import Workspace
from tests.conftest import write_image

DATASET = "tiny"
SLEEVE = "sleeve_length_labels"
COLLAR = "collar_design_labels"


# -- fake trainers: module-level so a spawned process can import them -----------------------


def _cfg(config: Any) -> dict[str, Any]:
    return dict(config.to_dict()) if hasattr(config, "to_dict") else dict(config)


def _train(store: LabelStore, config: Any, run_dir: RunDir, *, batch_sleep: float, record: bool,
           honour_cancel: bool = True) -> dict[str, Any]:
    """Write status, history, metrics and a checkpoint the way the real trainer does."""
    cfg = _cfg(config)
    epochs, batches = int(cfg.get("epochs") or 2), 3
    heads = list(cfg.get("categories") or [SLEEVE])
    metrics: dict[str, Any] = {}
    state = "done"
    for epoch in range(1, epochs + 1):
        for batch in range(1, batches + 1):
            if honour_cancel and run_dir.cancel_requested():
                state = "cancelled"
                break
            time.sleep(batch_sleep)
            run_dir.write_status(state="running", phase="training", epoch=epoch, epochs=epochs, batch=batch,
                                 batches=batches, eta_seconds=1.0, seconds_per_epoch=batches * batch_sleep,
                                 message=f"epoch {epoch}")
        if state == "cancelled":
            break
        row: dict[str, Any] = {"epoch": epoch, "loss": 1.0 / epoch, "val_loss": 1.2 / epoch}
        for h in heads:
            row.update({f"{h}_loss": 1.0 / epoch, f"{h}_accuracy": 0.5 + 0.1 * epoch,
                        f"val_{h}_loss": 1.1 / epoch, f"val_{h}_accuracy": 0.4 + 0.1 * epoch})
            metrics[h] = {"val_accuracy": 0.4 + 0.1 * epoch}
        run_dir.append_history(row)
        run_dir.model.write_bytes(f"checkpoint after epoch {epoch}".encode())
        print(f"fake trainer finished epoch {epoch}", flush=True)
    if record:
        run_dir.write_status(state=state)
        fields: dict[str, Any] = {"status": state, "metrics": metrics}
        if run_dir.model.exists():
            fields["model_sha256"] = sha256_file(run_dir.model)
        update_run(store, run_dir.run_id, **fields)
    return {"run": run_dir.run_id, "metrics": metrics}


def fast_trainer(store: LabelStore, workspace: Workspace, config: Any, run_dir: RunDir) -> dict[str, Any]:
    return _train(store, config, run_dir, batch_sleep=0.0, record=True)


def slow_trainer(store: LabelStore, workspace: Workspace, config: Any, run_dir: RunDir) -> dict[str, Any]:
    return _train(store, config, run_dir, batch_sleep=0.05, record=True)


def bare_trainer(store: LabelStore, workspace: Workspace, config: Any, run_dir: RunDir) -> dict[str, Any]:
    """Returns metrics but records nothing in the store: jobs must record the end itself."""
    return _train(store, config, run_dir, batch_sleep=0.0, record=False)


def failing_trainer(store: LabelStore, workspace: Workspace, config: Any, run_dir: RunDir) -> dict[str, Any]:
    run_dir.write_status(state="running", phase="loading data")
    raise ValueError("no image of category 'hat' could be read")


def stubborn_trainer(store: LabelStore, workspace: Workspace, config: Any, run_dir: RunDir) -> dict[str, Any]:
    """Never looks at the cancel flag: only terminating the process stops it."""
    return _train(store, config, run_dir, batch_sleep=0.2, record=True, honour_cancel=False)


class StepRunner:
    """A runner that only queues starts; the test runs them one by one with ``step``."""

    def __init__(self) -> None:
        self.pending: list[tuple[Workspace, str, str]] = []

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None:
        self.pending.append((workspace, run_id, trainer))

    def step(self) -> str:
        workspace, run_id, trainer = self.pending.pop(0)
        jobs.run_to_end(workspace, run_id, trainer, runner=self)
        return run_id


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace with a dataset of 8 tiny images labelled in two categories."""
    workspace = Workspace(tmp_path / "ws").ensure()
    root = tmp_path / "images"
    lines = []
    for i in range(8):
        name = f"Images/{i}.jpg"
        write_image(root / name, size=(32, 32), seed=i)
        cat, code = (SLEEVE, "nnnnnnnny" if i % 2 else "ynnnnnnnn") if i < 4 else (COLLAR, "nynnn")
        lines.append(f"{name},{cat},{code}")
    (tmp_path / "label.csv").write_text("\n".join(lines) + "\n")
    store = LabelStore.open(workspace)
    import_labels(store, dataset=DATASET, fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    store.close()
    return workspace


def config(**overrides: Any) -> dict[str, Any]:
    base = {"dataset": DATASET, "categories": [SLEEVE, COLLAR], "epochs": 2, "image_size": 32, "weights": "none"}
    return {**base, **overrides}


def _poll(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# -- inline runs ---------------------------------------------------------------------------------


def test_submit_runs_and_status_merges_run_folder_and_store(ws: Workspace) -> None:
    run_id = jobs.submit(ws, config(epochs=3), runner=jobs.InlineRunner(), trainer=fast_trainer)
    st = jobs.status(ws, run_id)
    assert st.run == run_id and st.dataset == DATASET
    assert st.state == "done"
    assert (st.epoch, st.epochs, st.batch, st.batches) == (3, 3, 3, 3)
    assert st.pid == os.getpid() and st.started_at and st.finished_at
    assert st.metrics[SLEEVE]["val_accuracy"] == pytest.approx(0.7)
    run_dir = RunDir(Path(st.run_dir))
    assert st.model_sha256 == sha256_file(run_dir.model)
    assert [r["epoch"] for r in run_dir.read_history()] == [1, 2, 3]
    assert st.config["epochs"] == 3


def test_trainer_that_records_nothing_gets_its_end_recorded(ws: Workspace) -> None:
    run_id = jobs.submit(ws, config(), runner=jobs.InlineRunner(), trainer=bare_trainer)
    st = jobs.status(ws, run_id)
    assert st.state == "done"
    assert st.metrics[COLLAR]["val_accuracy"] == pytest.approx(0.6)
    assert st.model_sha256 == sha256_file(RunDir(Path(st.run_dir)).model)


def test_queue_runs_one_at_a_time_in_submission_order(ws: Workspace) -> None:
    runner = StepRunner()
    ids = [jobs.submit(ws, config(epochs=1), runner=runner, trainer=fast_trainer) for _ in range(3)]
    states = lambda: [jobs.status(ws, i).state for i in ids]  # noqa: E731
    assert states() == ["running", "queued", "queued"]
    assert [jobs.status(ws, i).queue_position for i in ids] == [None, 1, 2]
    assert [p[1] for p in runner.pending] == [ids[0]]  # only the first was started
    assert [j.run for j in jobs.list_jobs(ws)] == ids[::-1]  # newest first, even within one second

    assert runner.step() == ids[0]
    assert states() == ["done", "running", "queued"]
    assert jobs.status(ws, ids[2]).queue_position == 1
    assert runner.step() == ids[1]
    assert states() == ["done", "done", "running"]
    assert runner.step() == ids[2]
    assert states() == ["done", "done", "done"] and not runner.pending


def test_cancel_queued_run_is_cancelled_at_once_and_never_starts(ws: Workspace) -> None:
    runner = StepRunner()
    first = jobs.submit(ws, config(), runner=runner, trainer=fast_trainer)
    second = jobs.submit(ws, config(), runner=runner, trainer=fast_trainer)
    st = jobs.cancel(ws, second)
    assert st.state == "cancelled" and st.message == "cancelled before it started"
    runner.step()
    assert jobs.status(ws, first).state == "done"
    assert jobs.status(ws, second).state == "cancelled"
    assert not runner.pending and not RunDir(Path(st.run_dir)).history.exists()


def test_cancel_running_run_stops_it_gracefully_and_keeps_the_checkpoint(ws: Workspace) -> None:
    ids: list[str] = []
    worker = threading.Thread(
        target=lambda: ids.append(jobs.submit(ws, config(epochs=100), runner=jobs.InlineRunner(), trainer=slow_trainer))
    )
    worker.start()
    _poll(lambda: any((r.epoch or 0) >= 2 for r in jobs.list_jobs(ws)))
    run_id = jobs.list_jobs(ws)[0].run
    st = jobs.cancel(ws, run_id)
    assert st.cancel_requested and st.state in ("running", "cancelled")
    worker.join(30)
    assert not worker.is_alive() and ids == [run_id]
    st = jobs.status(ws, run_id)
    assert st.state == "cancelled"
    run_dir = RunDir(Path(st.run_dir))
    assert 1 <= len(run_dir.read_history()) < 100
    assert st.model_sha256 == sha256_file(run_dir.model)


def test_failed_run_shows_the_error_and_the_log_tail(ws: Workspace) -> None:
    run_id = jobs.submit(ws, config(), runner=jobs.InlineRunner(), trainer=failing_trainer)
    st = jobs.status(ws, run_id)
    assert st.state == "failed"
    assert st.error == "ValueError: no image of category 'hat' could be read"
    assert "Traceback" in st.log_tail and "failing_trainer" in st.log_tail
    assert st.phase == "loading data"  # the last live status stays visible


def test_failed_run_lets_the_queue_advance(ws: Workspace) -> None:
    runner = StepRunner()
    bad = jobs.submit(ws, config(), runner=runner, trainer=failing_trainer)
    good = jobs.submit(ws, config(), runner=runner, trainer=fast_trainer)
    runner.step()
    # The queue continues with the trainer of whoever advances it (here: the failing one's).
    assert jobs.status(ws, bad).state == "failed"
    assert jobs.status(ws, good).state == "running"


def test_runs_are_found_again_by_a_fresh_store_and_fresh_calls(ws: Workspace) -> None:
    run_id = jobs.submit(ws, config(), runner=jobs.InlineRunner(), trainer=fast_trainer)
    fresh = LabelStore.open(ws.root)
    assert [r.id for r in list_runs(fresh, DATASET)] == [run_id]
    assert get_run(fresh, run_id).status == "done"
    fresh.close()
    listed = jobs.list_jobs(str(ws.root), dataset=DATASET)
    assert [j.run for j in listed] == [run_id] and listed[0].epoch == 2
    assert jobs.list_jobs(ws, dataset="other") == []


def test_reconcile_fails_a_run_whose_process_died_and_starts_the_next(ws: Workspace) -> None:
    # As after an app restart: the store says running, the process is long gone.
    store = LabelStore.open(ws)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = RunDir(ws.runs_dir / "orphan")
    register_run(store, orphan, DATASET, config())
    update_run(store, "orphan", status="running")
    orphan.write_status(state="running", pid=dead.pid, pid_started=time.time() - 5, epoch=1)
    orphan.log.write_text("epoch 1\nKilled by the OOM killer\n")
    store.close()
    waiting = jobs.submit(ws, config(epochs=1), runner=StepRunner(), trainer=fast_trainer)
    assert jobs.status(ws, waiting).state == "queued"

    runner = StepRunner()
    changes = jobs.reconcile(ws, runner=runner, trainer=fast_trainer)
    assert changes == {"failed": ["orphan"], "cancelled": [], "started": waiting}
    st = jobs.status(ws, "orphan")
    assert st.state == "failed"
    assert st.error.startswith("process exited unexpectedly") and "OOM killer" in st.error
    runner.step()
    assert jobs.status(ws, waiting).state == "done"
    assert jobs.reconcile(ws, runner=runner, trainer=fast_trainer) == {"failed": [], "cancelled": [], "started": None}


def test_reconcile_leaves_a_live_run_alone(ws: Workspace) -> None:
    runner = StepRunner()
    run_id = jobs.submit(ws, config(), runner=runner, trainer=fast_trainer)
    # Claimed a moment ago, process not up yet: still starting, not dead.
    assert jobs.reconcile(ws, runner=runner, trainer=fast_trainer)["failed"] == []
    RunDir(ws.runs_dir / run_id).write_status(pid=os.getpid(), pid_started=psutil.Process().create_time())
    assert jobs.reconcile(ws, runner=runner, trainer=fast_trainer)["failed"] == []
    assert jobs.status(ws, run_id).state == "running"


def test_overdue_cancel_of_an_inline_run_is_marked_cancelled(ws: Workspace) -> None:
    runner = StepRunner()
    run_id = jobs.submit(ws, config(), runner=runner, trainer=stubborn_trainer)
    RunDir(ws.runs_dir / run_id).write_status(pid=os.getpid(), pid_started=psutil.Process().create_time())
    jobs.cancel(ws, run_id, grace_seconds=60)
    assert jobs.reconcile(ws, grace_seconds=60, start_next=False)["cancelled"] == []
    os.utime(RunDir(ws.runs_dir / run_id).cancel_flag, (time.time() - 5, time.time() - 5))
    assert jobs.reconcile(ws, grace_seconds=1, start_next=False)["cancelled"] == [run_id]
    assert jobs.status(ws, run_id).state == "cancelled"


def test_bad_submissions_are_refused_with_clear_errors(ws: Workspace) -> None:
    with pytest.raises(JobError, match="needs a dataset"):
        jobs.submit(ws, {"epochs": 1}, runner=jobs.InlineRunner(), trainer=fast_trainer)
    with pytest.raises(UnknownDatasetError, match="nope"):
        jobs.submit(ws, config(dataset="nope"), runner=jobs.InlineRunner(), trainer=fast_trainer)
    with pytest.raises(JobError, match="module-level function"):
        jobs.submit(ws, config(), runner=jobs.InlineRunner(), trainer=lambda *a: None)
    with pytest.raises(JobError, match="module:function"):
        jobs.trainer_spec("no_colon_here")
    with pytest.raises(JobError, match="No run with id"):
        jobs.status(ws, "missing")
    assert jobs.list_jobs(ws) == []


def test_unloadable_trainer_fails_the_run_with_the_reason(ws: Workspace) -> None:
    run_id = jobs.submit(ws, config(), runner=jobs.InlineRunner(), trainer="tests.core.training.test_jobs:no_such_trainer")
    st = jobs.status(ws, run_id)
    assert st.state == "failed" and "Cannot load trainer" in st.error


def test_default_trainer_comes_from_hook_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jobs.trainer_spec() == jobs.REAL_TRAINER
    monkeypatch.setenv(jobs.TRAINER_ENV, "tests.core.training.test_jobs:slow_trainer")
    assert jobs.trainer_spec() == "tests.core.training.test_jobs:slow_trainer"
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", fast_trainer)
    assert jobs.trainer_spec() == "tests.core.training.test_jobs:fast_trainer"
    assert isinstance(jobs.default_runner(), jobs.ProcessRunner)


# -- real processes --------------------------------------------------------------------------


def test_process_run_is_observed_cancelled_and_found_again(ws: Workspace) -> None:
    runner = jobs.ProcessRunner(grace_seconds=30)
    run_id = jobs.submit(ws, config(epochs=500), runner=runner, trainer=slow_trainer)
    _poll(lambda: (jobs.status(ws, run_id).epoch or 0) >= 2)
    st = jobs.status(ws, run_id)
    assert st.state == "running" and st.phase == "training"
    pid = st.pid
    assert pid != os.getpid() and psutil.pid_exists(pid)
    assert psutil.Process(pid).cmdline()[0] == sys.executable  # a spawned interpreter, not a fork
    assert jobs.reconcile(ws, runner=runner, trainer=slow_trainer)["failed"] == []

    jobs.cancel(ws, run_id)
    final = jobs.wait(ws, run_id, timeout=60, runner=runner, trainer=slow_trainer)
    assert final.state == "cancelled"
    run_dir = RunDir(Path(final.run_dir))
    assert final.model_sha256 == sha256_file(run_dir.model)
    assert "fake trainer finished epoch 1" in run_dir.log.read_text()  # child output goes to log.txt
    _poll(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 30)

    fresh = LabelStore.open(ws.root)  # as after an app restart
    assert get_run(fresh, run_id).status == "cancelled"
    fresh.close()
    again = jobs.list_jobs(str(ws.root))
    assert [(j.run, j.state) for j in again] == [(run_id, "cancelled")]
    assert 1 <= len(run_dir.read_history()) < 500


def test_process_that_ignores_cancel_is_terminated_after_the_grace_period(ws: Workspace) -> None:
    runner = jobs.ProcessRunner(grace_seconds=600)  # the child's own watchdog stays out of it
    run_id = jobs.submit(ws, config(epochs=500), runner=runner, trainer=stubborn_trainer)
    _poll(lambda: (jobs.status(ws, run_id).epoch or 0) >= 1)
    pid = jobs.status(ws, run_id).pid
    t0 = time.monotonic()
    st = jobs.cancel(ws, run_id, grace_seconds=1.0, wait=True)
    assert st.state == "cancelled" and "terminated" in st.message
    assert time.monotonic() - t0 < 15
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_child_watchdog_ends_a_stuck_run_and_the_queue_advances_without_a_page(ws: Workspace) -> None:
    runner = jobs.ProcessRunner(grace_seconds=0.5)
    stuck = jobs.submit(ws, config(epochs=500), runner=runner, trainer=stubborn_trainer)
    queued = jobs.submit(ws, config(epochs=1), runner=runner, trainer=stubborn_trainer)
    _poll(lambda: (jobs.status(ws, stuck).epoch or 0) >= 1)
    assert jobs.status(ws, queued).state == "queued"
    jobs.cancel(ws, stuck)
    # Nobody reconciles here: the child's own watchdog and queue hand-over do the work.
    _poll(lambda: jobs.status(ws, queued).state == "done")
    st = jobs.status(ws, stuck)
    assert st.state == "cancelled" and "did not honour the cancel" in st.message
    assert jobs.status(ws, queued).pid not in (os.getpid(), st.pid)


def test_a_finished_status_is_final_against_late_progress(tmp_path: Path) -> None:
    # A stuck trainer thread keeps reporting after its watchdog recorded the end.
    run_dir = RunDir(tmp_path / "run")
    run_dir.path.mkdir()
    run_dir.write_status(state="running", epoch=3, message="epoch 3")
    run_dir.write_status(state="cancelled", finished_at="2026-11-23T10:00:00Z", message="stopped")
    run_dir.write_status(state="running", epoch=4, message="epoch 4")
    st = run_dir.read_status()
    assert (st["state"], st["epoch"], st["message"]) == ("cancelled", 3, "stopped")
    run_dir.write_status(state="cancelled", finished_at="2026-11-23T10:00:01Z")  # a finish may restate it
    assert run_dir.read_status()["finished_at"] == "2026-11-23T10:00:01Z"


# -- the runs CLI ----------------------------------------------------------------------------------


def _cli(ws: Workspace, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from fashion_core.cli import main

    code = main(["--home", str(ws.root), "runs", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_submit_list_show_wait(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    monkeypatch.setattr(jobs, "DEFAULT_RUNNER", jobs.InlineRunner())
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", fast_trainer)
    code, out, _ = _cli(ws, "submit", "--dataset", DATASET, "--epochs", "2", "--image-size", "32",
                        "--weights", "none", "--categories", SLEEVE, "--no-augmentation", "--imbalance", "focal",
                        "--json", capsys=capsys)
    assert code == 0
    run_id = json.loads(out.splitlines()[-1])["run"]  # the inline fake trainer prints too
    cfg = jobs.status(ws, run_id).config
    assert (cfg["epochs"], cfg["image_size"], cfg["weights"], cfg["categories"]) == (2, 32, "none", [SLEEVE])
    assert cfg["augmentation"]["flip"] is False and cfg["imbalance"]["scheme"] == "focal"

    code, out, _ = _cli(ws, "list", "--json", capsys=capsys)
    assert code == 0 and [r["run"] for r in json.loads(out)["runs"]] == [run_id]
    code, out, _ = _cli(ws, "list", capsys=capsys)
    assert run_id in out and "done" in out
    code, out, _ = _cli(ws, "show", run_id, capsys=capsys)
    assert code == 0 and "done" in out and f"val accuracy {SLEEVE}: 0.600" in out
    code, out, _ = _cli(ws, "wait", run_id, "--timeout", "5", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["state"] == "done"
    code, out, _ = _cli(ws, "cancel", run_id, capsys=capsys)
    assert code == 0 and "done" in out


def test_cli_reports_failures_and_bad_options(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(jobs, "DEFAULT_RUNNER", jobs.InlineRunner())
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", failing_trainer)
    code, out, _ = _cli(ws, "submit", "--dataset", DATASET, capsys=capsys)
    assert code == 0 and "Run " in out
    run_id = out.split("Run ", 1)[1].split(":")[0]
    code, out, err = _cli(ws, "wait", run_id, capsys=capsys)
    assert code == 1 and "failed" in out and "no image of category 'hat'" in err and "Traceback" in err
    code, _, err = _cli(ws, "submit", "--dataset", DATASET, "--epochs", "0", capsys=capsys)
    assert code == 1 and "epochs" in err
    code, _, err = _cli(ws, "show", "nope", capsys=capsys)
    assert code == 1 and "No run with id 'nope'" in err


def test_cli_submitted_run_outlives_the_cli_process(ws: Workspace) -> None:
    import json

    env = {**os.environ, jobs.TRAINER_ENV: "tests.core.training.test_jobs:slow_trainer"}
    done = subprocess.run(
        [sys.executable, "-m", "fashion_core", "--home", str(ws.root), "runs", "submit", "--dataset", DATASET,
         "--epochs", "10", "--json"],
        cwd=Path(__file__).resolve().parents[3], env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run"]
    assert jobs.status(ws, run_id).state == "running"  # the CLI has exited, the run goes on
    final = jobs.wait(ws, run_id, timeout=90, trainer="tests.core.training.test_jobs:slow_trainer")
    assert final.state == "done" and final.epoch == 10
    assert final.pid != os.getpid()


# -- the real trainer ------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_training_run_in_the_background_end_to_end(tmp_path: Path) -> None:
    from fashion_core.runs import verified_model_path
    from fashion_core.views import comparison_frame, curves_figure, history_frame, val_accuracy

    workspace = Workspace(tmp_path / "ws").ensure()
    lines = []
    for i in range(16):
        write_image(tmp_path / "img" / f"{i}.jpg", size=(32, 32), seed=i)
        cat, codes = (SLEEVE, ("ynnnnnnnn", "nynnnnnnn")) if i < 8 else (COLLAR, ("ynnnn", "nynnn"))
        lines.append(f"{i}.jpg,{cat},{codes[i % 2]}")
    (tmp_path / "label.csv").write_text("\n".join(lines) + "\n")
    store = LabelStore.open(workspace)
    import_labels(store, dataset=DATASET, fmt="fashionai", files=[tmp_path / "label.csv"], images_root=tmp_path / "img")
    store.close()
    cfg = {"dataset": DATASET, "backbone": "efficientnet_lite0", "weights": "none", "image_size": 32, "epochs": 1,
           "schedule": "heads", "batch_size": 4, "val_fraction": 0.25, "early_stopping_patience": 0,
           "distribute": "none"}

    run_id = jobs.submit(workspace, cfg, runner=jobs.ProcessRunner())  # the real train_run, spawned
    _poll(lambda: jobs.status(workspace, run_id).pid is not None, 120)
    assert jobs.status(workspace, run_id).pid != os.getpid()
    final = jobs.wait(workspace, run_id, timeout=600)
    assert final.state == "done", final.get("error")
    assert set(val_accuracy(final.metrics)) == {SLEEVE, COLLAR}
    assert (final.epoch, final.epochs) == (1, 1)

    fresh = LabelStore.open(workspace.root)  # found again, as after an app restart
    assert verified_model_path(fresh, run_id).name == "model.keras"
    fresh.close()
    listed = jobs.list_jobs(str(workspace.root))
    assert [j.state for j in listed] == ["done"]
    history = history_frame(final.run_dir)
    assert history["epoch"].tolist() == [1]
    heads = {t.name.split(",")[0] for t in curves_figure(history).data}
    assert heads == {"all", SLEEVE, COLLAR}
    assert comparison_frame(listed)["backbone"].tolist() == ["efficientnet_lite0"]


def test_jobs_and_the_train_page_imports_stay_free_of_tensorflow() -> None:
    code = (
        "import sys\n"
        "import fashion_core.training.jobs, fashion_core.views.runs, fashion_core.cli.runs\n"
        "import fashion_core.modeling.config, fashion_core.modeling.backbones, fashion_core.labels.maps\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[3],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


class BrokenRunner:
    """A runner whose start fails (say, the machine cannot start a process)."""

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None:
        raise OSError("cannot fork: resource temporarily unavailable")


def test_a_run_that_cannot_start_fails_with_the_reason_and_the_queue_moves_on(ws: Workspace) -> None:
    parked = StepRunner()
    first = jobs.submit(ws, config(), runner=parked, trainer=fast_trainer)
    second = jobs.submit(ws, config(), runner=parked, trainer=fast_trainer)
    third = jobs.submit(ws, config(), runner=parked, trainer=fast_trainer)
    store = LabelStore.open(ws)
    update_run(store, first, status="done")  # the first ends; then the page advances the queue
    store.close()
    assert jobs.reconcile(ws, runner=BrokenRunner(), trainer=fast_trainer)["started"] is None
    st = jobs.status(ws, second)
    assert st.state == "failed" and st.error == "could not start: OSError: cannot fork: resource temporarily unavailable"
    assert jobs.status(ws, third).state == "failed"


def test_a_foreground_run_is_live_to_a_reconcile_and_never_claimed_by_the_queue(ws: Workspace) -> None:
    # `python -m fashion_core train` starts its run like this, then trains for minutes.
    code = (
        "import sys, time\nfrom pathlib import Path\n"
        "from fashion_core.store import LabelStore\n"
        "from fashion_core.training.process import start_here\n"
        "from fashion_core.workspace import Workspace\n"
        "ws = Workspace(Path(sys.argv[1]))\n"
        f"run = start_here(LabelStore.open(ws), ws, {config()!r})\n"
        "print(run.run_id, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(ws.root)], cwd=Path(__file__).resolve().parents[3],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = child.stdout.readline().strip()
        assert run_id, child.stderr.read()
        runner = StepRunner()
        assert jobs.reconcile(ws, runner=runner, trainer=fast_trainer) == {"failed": [], "cancelled": [], "started": None}
        assert jobs.status(ws, run_id).state == "running" and jobs.status(ws, run_id).pid == child.pid
    finally:
        child.kill()
        child.wait()
    assert jobs.reconcile(ws, runner=StepRunner(), trainer=fast_trainer)["failed"] == [run_id]  # now it is gone


def test_a_run_process_does_not_run_the_parents_main_script_again(tmp_path: Path, monkeypatch) -> None:
    """Under Streamlit, ``__main__`` is the page that pressed Start: spawn must not re-run it."""
    import types
    from multiprocessing import spawn

    from fashion_core.training.process import main_module_hidden

    page = types.ModuleType("__main__")
    page.__file__ = str(tmp_path / "train_page.py")  # what Streamlit leaves in sys.modules
    page.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", page)
    assert spawn.get_preparation_data("x")["init_main_from_path"] == page.__file__  # the hazard
    with main_module_hidden():
        data = spawn.get_preparation_data("x")
    assert "init_main_from_path" not in data and "init_main_from_name" not in data
    assert sys.modules["__main__"] is page  # put back
