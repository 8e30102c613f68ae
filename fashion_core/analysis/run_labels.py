"""The labels a run is judged against: current labels through the run's own frozen label map and schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashion_core.errors import FashionCoreError
from fashion_core.runs.files import RunDir, RunRecord, get_run
from fashion_core.runs.readers import read_schema
from fashion_core.schema import Kind, Schema, split_value
from fashion_core.store import LabelStore


class EvaluationError(FashionCoreError, RuntimeError):
    """A run cannot be evaluated (not finished, no model, files missing)."""


@dataclass(frozen=True)
class RunLabels:
    """A run's frozen schema and the labels to judge it against.

    Current labels, not the ones frozen at training: a label fixed since (for instance from
    the suspicious-label queue) should count as the truth. Through the run's own frozen
    label map, not today's active one: the model's heads speak that map's values.

    Attributes:
        run: The run's record.
        run_dir: Its folder.
        schema: The run's schema (``schema.json``): one head per category.
        labels: Columns image_id, path (relative to ``images_root``), category, value, maybe,
            edited; only the run's categories and values they know.
        images_root: The dataset's images root.
        problems: Labels left out, each ``{image_id, path, category, reason}``.
    """

    run: RunRecord
    run_dir: RunDir
    schema: Schema
    labels: pd.DataFrame
    images_root: Path
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return str(self.run.dataset)


def run_labels(store: LabelStore, run_id: str) -> RunLabels:
    """The run's schema and the current labels through its label map (see ``RunLabels``).

    Raises:
        EvaluationError: The run's schema or label-map record is missing, or its map cannot
            be read.
    """
    run = get_run(store, run_id)
    run_dir = RunDir(run.run_dir)
    if run.dataset is None:
        raise EvaluationError(f"Run {run_id} has no dataset any more (it was deleted); it cannot be evaluated.")
    schema = read_schema(run_dir)  # ModelError naming schema.json if it is missing or malformed
    info = store.dataset(run.dataset)
    labels = map_run_labels(store, run_dir, info.schema, store.current_labels(run.dataset))
    labels, problems = _known_labels(schema, labels)
    return RunLabels(run, run_dir, schema, labels, info.images_root, problems)


def map_run_labels(store: LabelStore, run_dir: RunDir, base: Schema, labels: pd.DataFrame) -> pd.DataFrame:
    """Labels (in the dataset's schema ``base``) through the label map a run was trained with.

    Raises:
        EvaluationError: The run's map cannot be read.
    """
    from fashion_core.labels.apply_map import apply_label_map
    from fashion_core.labels.label_map import LabelMap
    from fashion_core.labels.maps import load_map

    record = run_dir.read_label_map()
    if not record.get("name"):
        return labels
    try:
        label_map = (LabelMap.from_dict(record["map"], str(run_dir.label_map)) if record.get("map")
                     else load_map(store, record["name"], record.get("version")))
    except FashionCoreError as exc:
        raise EvaluationError(f"Cannot read the label map run {run_dir.run_id} used ({record['name']}): {exc}") from exc
    return apply_label_map(label_map, base, labels)[1]


def _known_labels(schema: Schema, labels: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    labels = labels[labels["category"].isin(schema.category_names)]
    keep, problems = [], []
    for row in labels.itertuples(index=False):
        cat = schema.category(row.category)
        names = split_value(row.value)
        ok = all(n in cat.values for n in names) and (cat.kind is Kind.MULTI or len(names) == 1)
        keep.append(ok)
        if not ok:
            problems.append({"image_id": int(row.image_id), "path": row.path, "category": row.category,
                             "reason": f"value {row.value!r} is not a value of {row.category!r} in this run"})
    return labels[np.array(keep, dtype=bool)].reset_index(drop=True), problems
