"""Run views: history parsing, curve figures, progress text, run tables and comparisons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fashion_core.ingest import import_labels
from fashion_core.labels import ACTIVE, NO_MAP
from fashion_core.runs import RunDir
from fashion_core.store import LabelStore
from fashion_core.training import JobStatus
from fashion_core.views import (
    comparison_figure,
    comparison_frame,
    curves_figure,
    format_duration,
    history_frame,
    run_progress,
    runs_table,
    trainable_categories,
    val_accuracy,
)
from fashion_core.views.runs import finetune_start, head_keys, history_long
from tests.conftest import write_image

A, AB = "sleeve", "sleeve_length"  # "sleeve_length_loss" must not be read as head "sleeve"


def _history() -> pd.DataFrame:
    return pd.DataFrame({
        "epoch": [1, 2],
        "loss": [2.0, 1.5], "val_loss": [2.2, 1.9],
        f"{A}_loss": [1.0, 0.8], f"{A}_accuracy": [0.5, 0.6],
        f"{AB}_loss": [1.0, 0.7], f"{AB}_accuracy": [0.4, 0.7], f"{AB}_auc": [0.6, 0.8],
        f"val_{A}_loss": [1.1, 0.9], f"val_{A}_accuracy": [0.45, 0.55],
        f"val_{AB}_loss": [1.2, 1.0], f"val_{AB}_accuracy": [0.35, 0.65],
        "learning_rate": [1e-3, 1e-3], "seconds": [3.0, 2.9],
    })


def test_head_keys_come_from_loss_columns_in_order() -> None:
    assert head_keys(_history().columns) == [A, AB]
    assert head_keys(["loss", "val_loss", "accuracy"]) == []


def test_history_long_assigns_columns_to_the_longest_matching_head() -> None:
    long = history_long(_history())
    assert set(long["head"]) == {"all", A, AB}
    ab = long[(long["head"] == AB) & (long["split"] == "train")]
    assert sorted(ab["metric"].unique()) == ["accuracy", "auc", "loss"]
    row = long[(long["head"] == AB) & (long["metric"] == "accuracy") & (long["split"] == "val") & (long["epoch"] == 2)]
    assert row["value"].tolist() == [0.65]
    assert long[(long["head"] == "all") & (long["split"] == "val")]["value"].tolist() == [2.2, 1.9]
    assert "learning_rate" not in set(long["metric"]) and "seconds" not in set(long["metric"])
    assert len(long) == 2 * (2 + 2 + 3 + 2 + 2)  # epochs x (loss pair, A train, AB train, val A, val AB)


def test_trainer_means_and_phases_are_understood() -> None:
    h = pd.DataFrame({"epoch": [1, 2, 3], "phase": ["heads", "heads", "finetune"], "mean_accuracy": [0.5, 0.6, 0.7],
                      "val_mean_accuracy": [0.4, 0.5, 0.6], f"{A}_loss": [1.0, 0.9, 0.8]})
    long = history_long(h)
    assert long[(long["head"] == "all") & (long["metric"] == "accuracy")]["split"].tolist() == ["train"] * 3 + ["val"] * 3
    assert "phase" not in set(long["metric"])
    assert finetune_start(h) == 3 and finetune_start(h.iloc[:2]) is None
    assert finetune_start(h.assign(phase="finetune")) is None
    fig = curves_figure(h)
    assert any(getattr(s, "x0", None) == 2.5 for s in fig.layout.shapes)


def test_history_long_skips_empty_cells() -> None:
    h = pd.DataFrame({"epoch": [1, 2], f"{A}_loss": [1.0, None]})
    assert history_long(h)["value"].tolist() == [1.0]


def test_curves_figure_has_a_row_per_metric_and_dashed_validation() -> None:
    fig = curves_figure(_history())
    titles = sorted(a.text for a in fig.layout.annotations)
    assert titles == ["accuracy", "auc", "loss"]
    val_traces = [t for t in fig.data if "val" in t.name]
    assert val_traces and all(t.line.dash not in (None, "solid") for t in val_traces)
    names = {t.name.split(",")[0] for t in fig.data}
    assert names == {"all", A, AB}


def test_curves_figure_without_epochs_says_so() -> None:
    fig = curves_figure(pd.DataFrame({"epoch": []}))
    assert not fig.data and "No finished epoch" in fig.layout.title.text


def test_history_frame_reads_history_csv_and_numbers_epochs(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    assert history_frame(rd).empty
    rd.append_history({"loss": 1.0, f"{A}_accuracy": 0.5})
    rd.append_history({"loss": 0.5, f"{A}_accuracy": 0.75})
    frame = history_frame(rd.path)
    assert frame["epoch"].tolist() == [1, 2]
    assert frame[f"{A}_accuracy"].tolist() == [0.5, 0.75]


@pytest.mark.parametrize(
    ("status", "fraction", "epoch_text", "batch_text"),
    [
        ({"state": "running", "epoch": 1, "epochs": 4, "batch": 5, "batches": 10}, 0.125, "Epoch 1 of 4", "batch 5 of 10"),
        ({"state": "running", "epoch": 3, "epochs": 4, "batch": 10, "batches": 10}, 0.75, "Epoch 3 of 4", "batch 10 of 10"),
        ({"state": "running", "epoch": 9, "epochs": 4}, 1.0, "Epoch 9 of 4", ""),
        ({"state": "running", "phase": "starting"}, 0.0, "", ""),
        ({"state": "done", "epoch": 2, "epochs": 4}, 1.0, "Epoch 2 of 4", ""),
    ],
)
def test_run_progress(status: dict, fraction: float, epoch_text: str, batch_text: str) -> None:
    p = run_progress(JobStatus.from_dict(status))
    assert p.fraction == pytest.approx(fraction)
    assert (p.epoch_text, p.batch_text) == (epoch_text, batch_text)


def test_run_progress_times() -> None:
    p = run_progress(JobStatus(state="running", seconds_per_epoch=65.4, eta_seconds=3725))
    assert (p.per_epoch_text, p.eta_text) == ("1 min 05 s", "1 h 02 min")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (59.4, "59 s"), (60, "1 min 00 s"), (None, ""),
                                               (-1, ""), (float("nan"), ""), ("soon", "")])
def test_format_duration(seconds: object, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "metrics",
    [
        {"val_accuracy": {"a": 0.9, "b": 0.5}},
        {"a": {"val_accuracy": 0.9, "val_loss": 0.3}, "b": {"val_accuracy": 0.5}},
        {"categories": {"a": {"val_accuracy": 0.9}, "b": {"accuracy": 0.5}}, "best_epoch": 3},
        {"val_a_accuracy": 0.9, "val_b_accuracy": 0.5, "val_loss": 1.0, "a_accuracy": 0.99},
    ],
)
def test_val_accuracy_reads_every_nesting(metrics: dict) -> None:
    assert val_accuracy(metrics) == {"a": 0.9, "b": 0.5}


def test_val_accuracy_of_nothing_is_empty() -> None:
    assert val_accuracy(None) == {} and val_accuracy({"best_epoch": 2}) == {}


def _jobs() -> list[JobStatus]:
    cfg = {"backbone": "efficientnet_lite0", "image_size": 128, "epochs": 3, "quick": False,
           "imbalance": {"scheme": "focal"}, "learning_rate": 0.001}
    return [JobStatus.from_dict(job) for job in [
        {"run": "r3", "dataset": "d", "state": "running", "epoch": 2, "epochs": 5, "config": cfg,
         "cancel_requested": True},
        {"run": "r2", "dataset": "d", "state": "done", "config": {**cfg, "image_size": 96},
         "metrics": {"a": {"val_accuracy": 0.8}, "b": {"val_accuracy": 0.6}}},
        {"run": "r1", "dataset": "d", "state": "failed", "config": cfg, "error": "ValueError: bad\ntraceback"},
        {"run": "r0", "dataset": "d", "state": "cancelled", "config": cfg, "metrics": {"a": {"val_accuracy": 0.7}}},
        {"run": "q", "dataset": "d", "state": "queued", "queue_position": 1, "config": cfg},
    ]]


def test_runs_table_one_row_per_run() -> None:
    table = runs_table(_jobs())
    assert table["run"].tolist() == ["r3", "r2", "r1", "r0", "q"]
    assert table["state"].tolist() == ["running (cancelling)", "done", "failed", "cancelled", "queued (#1)"]
    assert table["progress"].tolist()[0] == "Epoch 2 of 5"
    assert table["mean val accuracy"].tolist()[1] == pytest.approx(0.7)
    assert table["error"].tolist()[2] == "ValueError: bad"
    assert runs_table([]).empty


def test_comparison_frame_keeps_finished_runs_with_metrics() -> None:
    frame = comparison_frame(_jobs())
    assert frame["run"].tolist() == ["r2", "r0"]
    assert frame["image_size"].tolist() == [96, 128]
    assert frame["imbalance.scheme"].tolist() == ["focal", "focal"]
    assert frame["val acc: a"].tolist() == [0.8, 0.7]
    assert frame["val acc: b"].iloc[0] == 0.6 and pd.isna(frame["val acc: b"].iloc[1])
    assert comparison_frame(_jobs()[2:3]).empty


def test_comparison_figure_groups_bars_by_category() -> None:
    fig = comparison_figure(comparison_frame(_jobs()))
    by_run = {t.name: (list(t.x), list(t.y)) for t in fig.data}
    assert by_run == {"r2": (["a", "b"], [0.8, 0.6]), "r0": (["a"], [0.7])}
    assert fig.layout.barmode == "group"


def test_trainable_categories_follow_labels(tmp_path: Path) -> None:
    root = tmp_path / "img"
    for i in range(3):
        write_image(root / f"{i}.jpg", seed=i)
    (tmp_path / "label.csv").write_text(
        "0.jpg,sleeve_length_labels,ynnnnnnnn\n1.jpg,collar_design_labels,nynnn\n2.jpg,sleeve_length_labels,nynnnnnnn\n"
    )
    store = LabelStore.open(tmp_path / "ws")
    import_labels(store, dataset="d", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    assert trainable_categories(store, "d", ACTIVE) == ["collar_design_labels", "sleeve_length_labels"]
    assert trainable_categories(store, "d", NO_MAP) == ["collar_design_labels", "sleeve_length_labels"]
    store.close()
