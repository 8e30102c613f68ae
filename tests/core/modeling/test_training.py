"""Tests for train_run: the run folder's files, the saved split, quick mode's embedding cache."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from fashion_core.errors import LabelMapError, ModelError
from fashion_core.labels import NO_MAP, Op, Step, activate_map, deactivate_map, delete_map, label_view
from fashion_core.labels.maps import add_steps
from fashion_core.modeling import (
    Imbalance,
    TrainConfig,
    build_label_table,
    load_run_model,
    stratified_split,
    train_run,
)
from fashion_core.modeling.training import default_run_dir
from fashion_core.runs import RunDir, get_run, new_run_id, register_run, sha256_file
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace
from tests.core.modeling._legacy_keras import loads_in_part
from tests.core.modeling._tiny_data import make_dataset

pytestmark = pytest.mark.slow  # every test here trains a (tiny) model

TINY = {
    "dataset": "tiny",
    "backbone": "mobilenet_v3_small",
    "weights": "none",
    "image_size": 32,
    "batch_size": 8,
    "epochs": 1,
    "finetune_epochs": 1,  # the default (14) is for the demo; one epoch exercises the phase
    "val_fraction": 0.25,
}


def _train(store: LabelStore, workspace: Workspace, **changes: object) -> tuple[RunDir, dict]:
    config = TrainConfig(**{**TINY, **changes})
    run_dir = default_run_dir(workspace, new_run_id())
    register_run(store, run_dir, config.dataset, config.to_dict())
    return run_dir, train_run(store, workspace, config, run_dir)


def _split_rows(run_dir: RunDir) -> list[dict[str, str]]:
    with open(run_dir.split, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_run_writes_every_file_and_records_its_model(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=24, categories=("colour", "size"))

    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        run_dir, metrics = _train(
            store,
            workspace,
            schedule="heads_then_finetune",
            finetune_epochs=1,
            imbalance=Imbalance(scheme="focal", focal_gamma=1.5),
            seed=5,
        )
    # Keras's input warnings would reach the trainer's stderr (the Train page's log): none of them.
    noisy = [str(w.message) for w in raised if "ran out of data" in str(w.message) or "shuffle" in str(w.message)]
    assert not noisy

    assert metrics["state"] == "done" and get_run(store, run_dir.run_id).status == "done"
    assert set(metrics["val_accuracy"]) == {"colour", "size"}
    assert all(0.0 <= v <= 1.0 for v in metrics["val_accuracy"].values())
    assert metrics["imbalance"]["scheme"] == "focal" and metrics["imbalance"]["focal_gamma"] == 1.5
    assert json.loads(run_dir.metrics.read_text()) == metrics
    assert TrainConfig.from_dict(json.loads(run_dir.config.read_text())).seed == 5
    schema = json.loads(run_dir.schema.read_text())
    assert [c["name"] for c in schema["categories"]] == ["colour", "size"]
    assert json.loads(run_dir.label_map.read_text())["name"] is None  # no map was active
    history = run_dir.read_history()
    assert [r["phase"] for r in history] == ["heads", "finetune"]
    assert {"loss", "val_colour_accuracy", "val_size_accuracy", "val_mean_accuracy"} <= set(history[0])
    recorded = get_run(store, run_dir.run_id).model_sha256
    assert recorded == sha256_file(run_dir.model) == metrics["model_sha256"]
    model = load_run_model(store, run_dir.run_id)
    assert set(model.output_names) == {"colour", "size"}
    log = run_dir.log.read_text()
    assert "phase heads" in log and "phase finetune" in log


def test_the_split_is_stratified_seeded_and_saved_with_the_run(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=24, categories=("colour", "size"))
    run_dir, _ = _train(store, workspace, schedule="heads", seed=7)

    rows = _split_rows(run_dir)
    table = build_label_table(label_view(store, "tiny", NO_MAP), tmp_path / "data")
    expected = stratified_split(table.frame["stratum"].tolist(), 0.25, seed=7)

    by_id = {int(r["image_id"]): r["subset"] for r in rows}
    assert len(rows) == len(by_id) == 24
    assert [by_id[int(i)] == "val" for i in table.frame["image_id"]] == expected.tolist()
    for stratum in {r["stratum"] for r in rows}:  # every value is in both subsets, a quarter held out
        subsets = [r["subset"] for r in rows if r["stratum"] == stratum]
        assert subsets.count("val") == round(len(subsets) * 0.25) and "train" in subsets


def test_a_second_quick_run_reads_every_embedding_from_the_cache(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=24, categories=("colour", "size"))

    first_dir, first = _train(store, workspace, quick=True, epochs=2)
    second_dir, second = _train(store, workspace, quick=True, epochs=2)

    assert first["embeddings"]["misses"] == 24 and first["embeddings"]["hits"] == 0
    assert second["embeddings"]["hits"] == 24 and second["embeddings"]["misses"] == 0
    assert second["schedule"] == "heads" and second["quick"] is True
    assert set(second["val_accuracy"]) == {"colour", "size"}
    model = load_run_model(store, second_dir.run_id)  # heads on the backbone: a full image model
    assert model.input_shape == (None, 32, 32, 3)
    out = model.predict_on_batch(np.zeros((1, 32, 32, 3), np.float32))
    assert out["colour"].shape == (1, 3) and out["size"].shape == (1, 2)


def test_a_run_model_that_loads_only_in_part_is_refused(
    store: LabelStore, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    make_dataset(store, tmp_path / "data", n=16, categories=("colour", "size"))
    run_dir, _ = _train(store, workspace, quick=True, epochs=1)
    monkeypatch.setattr(keras.saving, "load_model", loads_in_part(keras.saving.load_model))
    with pytest.raises(ModelError, match=rf"model of run {run_dir.run_id} .* fits only in part: .*Train the run again"):
        load_run_model(store, run_dir.run_id)


def test_a_single_category_trains_alone_with_per_category_figures(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=24, categories=("colour", "size"))

    run_dir, metrics = _train(store, workspace, quick=True, epochs=2, categories=("size",))

    assert metrics["categories"] == ["size"] and set(metrics["val_accuracy"]) == {"size"}
    assert metrics["images"]["train"] + metrics["images"]["val"] == 12  # only images labelled in size
    history = run_dir.read_history()
    assert {"size_accuracy", "val_size_accuracy", "val_size_loss", "val_mean_accuracy"} <= set(history[-1])
    assert "val_accuracy" not in history[-1]
    assert metrics["val_mean_accuracy"] == max(r["val_mean_accuracy"] for r in history)


def test_the_active_label_map_is_frozen_into_the_run(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=24, categories=("colour", "size"))
    merge = Step(Op.MERGE, "colour", ("green", "blue"), "cool")
    activate_map(store, "tiny", add_steps(store, "cool_colours", [merge]).name)

    run_dir, metrics = _train(store, workspace, quick=True, epochs=1)
    add_steps(
        store, "cool_colours", [Step(Op.RENAME, "size", ("small",), "little")]
    )  # a later edit of the map

    frozen = json.loads(run_dir.label_map.read_text())
    schema = json.loads(run_dir.schema.read_text())
    assert (
        (frozen["name"], frozen["version"])
        == ("cool_colours", 1)
        == (metrics["map"]["name"], metrics["map"]["version"])
    )
    assert frozen["map"]["steps"] == [{"category": "colour", "merge": ["green", "blue"], "into": "cool"}]
    colour = next(c for c in schema["categories"] if c["name"] == "colour")
    assert colour["values"] == ["red", "cool"]
    model = load_run_model(store, run_dir.run_id)
    out = model.predict_on_batch(np.zeros((1, 32, 32, 3), np.float32))
    assert out["colour"].shape == (1, 2)  # red and cool
    # The run resolved "the active map" to this one and recorded it: the map outlives deactivation.
    run = get_run(store, run_dir.run_id)
    assert run.config["map_name"] is None and run.map_name == "cool_colours"
    # a quick run serves the shared backbone (serving.tflite) with its own heads file
    assert set(run.files_sha256) == {"model.keras", "schema.json", "label_map.json", "serving.tflite",
                                     "serving-heads.npz"}
    deactivate_map(store, "tiny")
    with pytest.raises(LabelMapError, match=f"used by run\\(s\\) {run_dir.run_id}"):
        delete_map(store, "cool_colours")
