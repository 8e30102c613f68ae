"""A run's files: one place for their names, readers, the hashes that guard a model, runs with a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashion_core.errors import ModelError
from fashion_core.runs import (
    RunDir,
    get_run,
    has_model,
    read_schema,
    read_thresholds,
    record_run_files,
    register_run,
    runs_with_model,
    sha256_file,
    update_run,
    verified_model_path,
    write_json_atomic,
    write_thresholds,
)
from fashion_core.schema import Category, Kind, Schema
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace

SCHEMA = Schema("t", (Category("colour", ("red", "blue"), Kind.SINGLE),
                      Category("tags", ("dots", "stripes"), Kind.MULTI)))
CHANGED = "does not match the SHA-256 recorded when run"


def _finished_run(store: LabelStore, workspace: Workspace, run_id: str = "r1", *, status: str = "done",
                  manifest: bool = True, dataset: str = "d") -> RunDir:
    """A run as the trainer leaves it: schema, label map and a (fake) model with its hash recorded."""
    if dataset not in [d.name for d in store.datasets()]:
        store.create_dataset(dataset, SCHEMA, workspace.root, "test")
    run_dir = RunDir(workspace.runs_dir / run_id)
    register_run(store, run_dir, dataset, {"map_name": None})
    write_json_atomic(run_dir.schema, SCHEMA.to_dict())
    write_json_atomic(run_dir.label_map, {"name": None, "version": None, "map": None})
    run_dir.model.write_bytes(b"not really a keras file")
    update_run(store, run_id, status=status, model_sha256=sha256_file(run_dir.model))
    if manifest:
        record_run_files(store, run_id)
    return run_dir


def test_every_file_name_is_defined_on_rundir() -> None:
    from fashion_core.analysis import EVALUATION_FILE
    from fashion_core.analysis.evaluation import THRESHOLDS_FILE as WRITTEN_BY_EVALUATION
    from fashion_core.serving.predictor import LITE_CACHE_FILE, THRESHOLDS_FILE

    assert THRESHOLDS_FILE == WRITTEN_BY_EVALUATION == RunDir.THRESHOLDS
    assert (EVALUATION_FILE, LITE_CACHE_FILE) == (RunDir.EVALUATION, RunDir.LITE_CACHE)
    run_dir = RunDir(Path("/x/r"))
    assert run_dir.thresholds == Path("/x/r/thresholds.json") and run_dir.model == Path("/x/r/model.keras")


def test_recorded_files_load_and_the_record_names_them(store: LabelStore, workspace: Workspace) -> None:
    run_dir = _finished_run(store, workspace)
    assert set(get_run(store, "r1").files_sha256) == {"model.keras", "schema.json", "label_map.json"}
    assert verified_model_path(store, "r1") == run_dir.model
    assert read_schema(run_dir) == SCHEMA


@pytest.mark.parametrize("name", ["model.keras", "schema.json", "label_map.json"])
def test_a_changed_answer_file_is_refused_like_a_changed_model(
    store: LabelStore, workspace: Workspace, name: str
) -> None:
    run_dir = _finished_run(store, workspace)
    path = run_dir.path / name
    path.write_bytes(path.read_bytes() + b"\n")  # still valid JSON: only the hash tells
    with pytest.raises(ModelError, match=f"{path}.*{CHANGED} r1 saved it; refusing to load it"):
        verified_model_path(store, "r1")


def test_thresholds_change_only_through_write_thresholds(store: LabelStore, workspace: Workspace) -> None:
    run_dir = _finished_run(store, workspace)
    write_json_atomic(run_dir.thresholds, {"tags": {"dots": 0.1}})  # dropped in by hand
    with pytest.raises(ModelError, match=f"Thresholds file .*{CHANGED} r1 saved it \\(it was added since\\)"):
        verified_model_path(store, "r1")
    write_thresholds(store, "r1", {"tags": {"dots": 0.25}})  # what the evaluation does
    assert verified_model_path(store, "r1") == run_dir.model
    assert read_thresholds(run_dir, SCHEMA) == {"tags": {"dots": 0.25}}
    write_json_atomic(run_dir.thresholds, {"tags": {"dots": 0.9}})
    with pytest.raises(ModelError, match=CHANGED):
        verified_model_path(store, "r1")
    run_dir.thresholds.unlink()
    with pytest.raises(ModelError, match="it is missing"):
        verified_model_path(store, "r1")
    write_thresholds(store, "r1", {})  # no tuned thresholds any more
    assert not run_dir.thresholds.exists() and verified_model_path(store, "r1") == run_dir.model
    with pytest.raises(ModelError, match="'spots' is not a value of 'tags'"):
        write_thresholds(store, "r1", {"tags": {"spots": 0.5}})


def test_an_old_run_with_only_a_model_hash_still_loads(store: LabelStore, workspace: Workspace) -> None:
    run_dir = _finished_run(store, workspace, manifest=False)
    assert get_run(store, "r1").files_sha256 is None
    write_json_atomic(run_dir.thresholds, {"tags": {"dots": 0.1}})  # old evaluations wrote it unrecorded
    assert verified_model_path(store, "r1") == run_dir.model
    run_dir.model.write_bytes(b"swapped")
    with pytest.raises(ModelError, match=f"Model file .*{CHANGED} r1"):
        verified_model_path(store, "r1")


def test_the_manifest_keeps_the_model_hash_recorded_at_save(store: LabelStore, workspace: Workspace) -> None:
    run_dir = _finished_run(store, workspace, manifest=False)
    run_dir.model.write_bytes(b"swapped before the files were recorded")
    record_run_files(store, "r1")
    with pytest.raises(ModelError, match=f"Model file .*{CHANGED}"):
        verified_model_path(store, "r1")


def test_schema_reader_names_the_file(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "r9")
    with pytest.raises(ModelError, match="Run r9 has no schema.json"):
        read_schema(run_dir)
    run_dir.path.mkdir()
    run_dir.schema.write_text("{not json")
    with pytest.raises(ModelError, match=r"schema.json: not a valid schema"):
        read_schema(run_dir)
    run_dir.schema.write_text(json.dumps({"name": "t"}))
    with pytest.raises(ModelError, match=r"schema.json: not a valid schema"):
        read_schema(run_dir)


def test_one_definition_of_runs_with_a_model(store: LabelStore, workspace: Workspace) -> None:
    from fashion_core.analysis import evaluable_runs
    from fashion_core.runs import finished_runs

    _finished_run(store, workspace, "done-1")
    _finished_run(store, workspace, "cancelled-1", status="cancelled")  # keeps its best checkpoint
    _finished_run(store, workspace, "failed-1", status="failed")
    register_run(store, RunDir(workspace.runs_dir / "queued-1"), "d", {})
    update_run(store, "queued-1", status="done")  # done, but no model was recorded
    expected = ["cancelled-1", "done-1"]  # newest first
    assert [r.id for r in runs_with_model(store)] == expected
    assert [r.id for r in finished_runs(store)] == [r.id for r in evaluable_runs(store, "d")] == expected
    assert [has_model(get_run(store, i)) for i in ("done-1", "failed-1", "queued-1")] == [True, False, False]
