"""Readers of a run's answer files: its schema and tuned thresholds (and the thresholds' one writer).

The label map record is read by ``RunDir.read_label_map``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fashion_core.errors import JobError, ModelError
from fashion_core.runs.files import RunDir, get_run, read_json, record_run_files, write_json_atomic
from fashion_core.schema import Schema
from fashion_core.store import LabelStore


def read_schema(run_dir: RunDir) -> Schema:
    """The schema a run was trained on (categories and values after its label map).

    Raises:
        ModelError: schema.json is missing (the run did not get that far) or malformed.
    """
    try:
        data = read_json(run_dir.schema)
    except JobError as exc:
        raise ModelError(f"{run_dir.schema}: not a valid schema ({exc})") from exc
    if data is None:
        raise ModelError(
            f"Run {run_dir.run_id} has no schema.json at {run_dir.schema}; it did not get far enough to"
            " train. Choose a finished run."
        )
    try:
        return Schema.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"{run_dir.schema}: not a valid schema ({exc})") from exc


def read_thresholds(run_dir: RunDir, schema: Schema) -> dict[str, dict[str, float]]:
    """The run's tuned multi-label thresholds (``thresholds.json``), or {} if it has none.

    Raises:
        ModelError: The file is malformed or names an unknown category or value.
    """
    try:
        data = read_json(run_dir.thresholds)
    except JobError as exc:
        raise ModelError(str(exc)) from exc
    return check_thresholds(data or {}, schema, source=str(run_dir.thresholds))


def check_thresholds(data: Any, schema: Schema, *, source: str) -> dict[str, dict[str, float]]:
    """Validate ``{category: {value: threshold in [0, 1]}}`` against a schema.

    Raises:
        ModelError: naming ``source`` and the category or value at fault.
    """
    if not isinstance(data, Mapping):
        raise ModelError(f"{source}: expected {{category: {{value: threshold}}}}, got {type(data).__name__}")
    checked: dict[str, dict[str, float]] = {}
    for category, per_value in data.items():
        if not schema.has(category):
            raise ModelError(f"{source}: unknown category {category!r}; known: {schema.category_names}")
        values = schema.category(category).values
        if not isinstance(per_value, Mapping):
            raise ModelError(f"{source}: thresholds of {category!r} must map values to numbers")
        for value, t in per_value.items():
            if value not in values:
                raise ModelError(f"{source}: {value!r} is not a value of {category!r}")
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
                raise ModelError(
                    f"{source}: threshold of {category!r}/{value!r} must be in [0, 1]; got {t!r}"
                )
        checked[category] = {v: float(t) for v, t in per_value.items()}
    return checked


def write_thresholds(store: LabelStore, run_id: str, thresholds: Mapping[str, Mapping[str, float]]) -> None:
    """Save a run's tuned thresholds ({} removes them) and record the file's new SHA-256.

    The only way thresholds.json changes: a file changed any other way is refused on load.

    Raises:
        ModelError: The thresholds do not fit the run's schema.
    """
    run_dir = RunDir(get_run(store, run_id).run_dir)
    checked = check_thresholds(thresholds, read_schema(run_dir), source=f"thresholds of run {run_id}")
    if checked:
        write_json_atomic(run_dir.thresholds, checked)
    else:
        run_dir.thresholds.unlink(missing_ok=True)
    record_run_files(store, run_id)



def read_int8_comparison(run_dir: RunDir) -> dict[str, Any] | None:
    """The INT8 model's measured cost (``quantize``: float and INT8 validation accuracy and speed), or None."""
    try:
        info = read_json(run_dir.serving_info, default={}) or {}
    except JobError:
        return None
    comparison = (info.get("int8") or {}).get("comparison") if isinstance(info, dict) else None
    return comparison if isinstance(comparison, dict) and "float" in comparison and "int8" in comparison else None
