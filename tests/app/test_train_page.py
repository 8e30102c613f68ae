"""Train page (AppTest): defaults, starting a run, the live panel, failures, queue and cancel."""

from __future__ import annotations

from typing import Any

import pytest

from fashion_core.runs import RunDir, get_run, list_runs, sha256_file, update_run
from fashion_core.store import LabelStore
from fashion_core.training import jobs
from fashion_core.workspace import Workspace
from tests.app.conftest import Studio
from tests.conftest import shown

PAGE = "pages/train.py"
SLEEVE, COAT, PANT = "sleeve_length_labels", "coat_length_labels", "pant_length_labels"


def page_trainer(store: LabelStore, workspace: Workspace, config: Any, run_dir: RunDir) -> dict[str, Any]:
    """A fast stand-in for train_run: two epochs of history, metrics, a checkpoint."""
    heads = list(config.categories or [SLEEVE])
    metrics: dict[str, Any] = {"val_accuracy": {}}
    for epoch in (1, 2):
        row: dict[str, Any] = {"epoch": epoch, "phase": "heads", "loss": 1.0 / epoch, "val_loss": 1.5 / epoch}
        for h in heads:
            row.update({f"{h}_loss": 1.0 / epoch, f"{h}_accuracy": 0.4 * epoch,
                        f"val_{h}_loss": 1.2 / epoch, f"val_{h}_accuracy": 0.35 * epoch})
            metrics["val_accuracy"][h] = 0.35 * epoch
        run_dir.append_history(row)
        run_dir.write_status(state="running", phase="heads", epoch=epoch, epochs=2, batch=4, batches=4)
    run_dir.model.write_bytes(b"fake model")
    update_run(store, run_dir.run_id, status="done", metrics=metrics, model_sha256=sha256_file(run_dir.model))
    run_dir.write_status(state="done")
    return metrics


def broken_trainer(store: LabelStore, workspace: Workspace, config: Any, run_dir: RunDir) -> dict[str, Any]:
    raise RuntimeError("images folder vanished")


class ParkedRunner:
    """Claims runs but never executes them: they stay 'running' (as if training elsewhere)."""

    def start(self, workspace: Workspace, run_id: str, trainer: str) -> None:
        RunDir(workspace.runs_dir / run_id).write_status(phase="heads", epoch=2, epochs=5, batch=3, batches=10,
                                                         eta_seconds=95, seconds_per_epoch=30)


@pytest.fixture
def inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "DEFAULT_RUNNER", jobs.InlineRunner())
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", page_trainer)


def _texts(elements) -> str:
    return "\n".join(shown(e.value) for e in elements)


def _frame(at, first_column: str, second_column: str):
    """The shown dataframe whose first columns are these (AppTest keeps no key for dataframes)."""
    for d in at.dataframe:
        if list(d.value.columns[:2]) == [first_column, second_column]:
            return d.value
    raise AssertionError(f"no dataframe with columns {first_column}, {second_column}")


def test_page_renders_with_defaults_from_train_config(studio: Studio, open_page, inline: None) -> None:
    at = open_page(PAGE)
    assert not at.exception
    assert at.title[0].value == "Train"
    assert at.multiselect(key="train_categories_None").value == [COAT, PANT, SLEEVE]  # all labelled, schema order
    assert at.selectbox(key="train_backbone").value == "efficientnet_lite0"
    assert at.selectbox(key="train_weights").value == "bundled"
    assert at.number_input(key="train_image_size").value == 128
    assert at.toggle(key="train_quick").value is False
    assert "trades away augmentation and fine-tuning" in _texts(at.caption)
    assert "No runs of this dataset yet" in _texts(at.info)


def test_start_submits_a_run_that_appears_in_the_list(studio: Studio, open_page, inline: None) -> None:
    at = open_page(PAGE)
    at.multiselect(key="train_categories_None").set_value([SLEEVE])
    at.selectbox(key="train_weights").set_value("none")
    at.number_input(key="train_epochs").set_value(2)
    at.number_input(key="train_image_size").set_value(32)
    at.selectbox(key="train_imbalance").set_value("focal")
    at.checkbox(key="train_aug_rotation").uncheck()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception

    runs = list_runs(studio.store, studio.dataset)
    assert len(runs) == 1
    run = get_run(studio.store, runs[0].id)
    assert run.status == "done"
    cfg = run.config
    assert (cfg["categories"], cfg["weights"], cfg["epochs"], cfg["image_size"]) == ([SLEEVE], "none", 2, 32)
    assert cfg["imbalance"]["scheme"] == "focal" and cfg["augmentation"]["rotation"] is False
    table = _frame(at, "run", "dataset")
    assert table["run"].tolist() == [run.id] and table["state"].tolist() == ["done"]
    assert "Run done. Best checkpoint kept." in _texts(at.success)
    assert at.session_state["train_selected_run"] == run.id
    compare = _frame(at, "run", "state")
    assert compare[f"val acc: {SLEEVE}"].tolist() == [pytest.approx(0.7)]
    assert len(at.get("plotly_chart")) == 2  # the run's curves and the comparison chart


def test_a_failed_run_shows_why(studio: Studio, open_page, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "DEFAULT_RUNNER", jobs.InlineRunner())
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", broken_trainer)
    at = open_page(PAGE)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "The run failed: RuntimeError: images folder vanished" in _texts(at.error)
    assert "Traceback" in _texts(at.code)


def test_bad_options_show_an_error_and_start_nothing(studio: Studio, open_page, inline: None) -> None:
    at = open_page(PAGE)
    at.selectbox(key="train_weights").set_value("file")
    at.text_input(key="train_weights_file").input("/tmp/weights.bin")
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "weights" in _texts(at.error) and ".pth" in _texts(at.error)
    assert list_runs(studio.store) == []


def test_running_run_shows_progress_queue_and_cancel(studio: Studio, open_page,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "DEFAULT_RUNNER", ParkedRunner())
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", page_trainer)
    at = open_page(PAGE)
    at.button(key="train_start").click().run()
    at.button(key="train_start").click().run()
    assert not at.exception
    second, first = [j.run for j in jobs.list_jobs(studio.workspace)]  # newest first
    assert _frame(at, "run", "dataset")["state"].tolist() == ["queued (#1)", "running"]

    at.selectbox(key="train_run_pick").set_value(first).run()
    bars = [p.value for p in at.get("progress")]  # percent
    assert bars == [26, 30]  # the run: (epoch 2 - 1 + batch 3/10) of 5 epochs; the epoch: 3 of 10 batches
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Time left"] == "1 min 35 s" and metrics["Time per epoch"] == "30 s"
    at.button(key=f"train_cancel_{first}").click().run()
    assert not at.exception
    assert RunDir(studio.workspace.runs_dir / first).cancel_requested()
    assert "Cancel requested" in _texts(at.warning)

    at.selectbox(key="train_run_pick").set_value(second).run()
    assert "Waiting in the queue (position 1)" in _texts(at.info)
    at.button(key=f"train_cancel_{second}").click().run()
    assert not at.exception
    assert get_run(studio.store, second).status == "cancelled"


def test_before_the_first_epoch_the_panel_says_what_it_is_doing(studio: Studio, open_page,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "DEFAULT_RUNNER", ParkedRunner())
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", page_trainer)
    at = open_page(PAGE)
    at.button(key="train_start").click().run()
    (run,) = [j.run for j in jobs.list_jobs(studio.workspace)]
    RunDir(studio.workspace.runs_dir / run).write_status(
        state="running", phase="embeddings", epoch=None, epochs=None, batch=3, batches=8
    )
    at.run()
    assert not at.exception
    (bar,) = at.get("progress")
    assert bar.value == 37  # 3 of 8 batches of the feature pass
    assert "Preparing: computing backbone features" in bar.proto.text and "batch 3 of 8" in bar.proto.text
    assert "Time per epoch" not in {m.label for m in at.metric}
