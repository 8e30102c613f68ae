"""The demo data's planted wrong labels: how many of them the suspicious-label queue finds near its top."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fashion_core.analysis.run_labels import map_run_labels
from fashion_core.analysis.suspicious import SuspiciousReport
from fashion_core.runs.files import RunDir, get_run
from fashion_core.store import LabelStore

WRONG_LABELS_FILE = "wrong_labels.csv"  # written by the demo data generator beside its images


@dataclass(frozen=True)
class WrongLabelHits:
    """How many known wrong labels are in the top ``k`` of the queue."""

    k: int
    planted: int  # known wrong labels among the analysed rows (still wrong now)
    found: int

    @property
    def precision(self) -> float:
        return self.found / self.k if self.k else 0.0

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"k": self.k, "planted": self.planted, "found": self.found,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4)}


def wrong_labels_file(store: LabelStore, dataset: str) -> Path | None:
    """The demo generator's ``wrong_labels.csv`` beside a dataset's images, if there is one."""
    path = store.dataset(dataset).images_root / WRONG_LABELS_FILE
    return path if path.is_file() else None


def read_wrong_labels(path: Path) -> pd.DataFrame:
    """Rows ``image_path, category, drawn_value, labelled_value``; a malformed file names its line."""
    from fashion_core.errors import LabelFileError

    need = ["image_path", "category", "drawn_value", "labelled_value"]
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not set(need) <= set(reader.fieldnames):
            raise LabelFileError(str(path), f"expected columns {need}; got {reader.fieldnames}", line=1)
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        if any(not row.get(k) for k in need):
            raise LabelFileError(str(path), f"empty field in {row}", line=line)
    return pd.DataFrame(rows, columns=need)


def planted_wrong_labels(store: LabelStore, run_id: str) -> pd.DataFrame | None:
    """The demo's planted wrong labels of a run's dataset, the drawn value seen through the run's map.

    Returns:
        Columns ``path``, ``category``, ``drawn`` (None where the map dropped the drawn
        value), or None when the dataset has no ``wrong_labels.csv``.
    """
    run = get_run(store, run_id)
    path = wrong_labels_file(store, run.dataset) if run.dataset else None
    if path is None:
        return None
    wrong = read_wrong_labels(path)
    base = store.dataset(run.dataset).schema
    frame = pd.DataFrame({"path": wrong["image_path"], "category": wrong["category"], "value": wrong["drawn_value"],
                          "row": np.arange(len(wrong))})
    frame = frame[frame["category"].isin(base.category_names)]
    mapped = map_run_labels(store, RunDir(run.run_dir), base, frame)
    drawn = dict(zip(mapped["row"], mapped["value"]))
    return pd.DataFrame({"path": frame["path"].tolist(), "category": frame["category"].tolist(),
                         "drawn": [drawn.get(r) for r in frame["row"]]})


def wrong_label_hits(report: SuspiciousReport, planted: pd.DataFrame, k: int) -> WrongLabelHits:
    """Planted wrong labels (still wrong: the given value is not the drawn one) in the top ``k`` rows.

    Args:
        report: The ranked queue.
        planted: ``planted_wrong_labels`` output (columns path, category, drawn).
        k: How many top rows to look at.
    """
    drawn = {(p, c): d for p, c, d in zip(planted["path"], planted["category"], planted["drawn"])}
    table = report.table
    is_wrong = np.array([(p, c) in drawn and g != drawn[(p, c)]
                         for p, c, g in zip(table["path"], table["category"], table["given"])], dtype=bool)
    k = max(0, min(int(k), len(table)))
    return WrongLabelHits(k, int(is_wrong.sum()), int(is_wrong[:k].sum()))
