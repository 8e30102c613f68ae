"""The per-image label table a run trains on, its targets, counts and stratified split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fashion_core.csv_cells import SafeWriter
from fashion_core.errors import SchemaError
from fashion_core.labels.view import LabelView
from fashion_core.modeling.heads import Head, make_heads
from fashion_core.schema import Category, Kind, split_value

MASKED = -1  # target of a single-choice head without a label; multi-label rows are all -1


@dataclass(frozen=True)
class Problem:
    """An image or label left out of training, and why (reported, never dropped silently)."""

    path: str
    category: str | None
    reason: str

    def to_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "category": self.category, "reason": self.reason}


@dataclass(frozen=True)
class LabelTable:
    """One row per image with at least one label in the chosen categories.

    Attributes:
        heads: One head per chosen category, in order.
        frame: Columns ``image_id``, ``path`` (absolute), ``stratum`` and one column per
            head key holding the stored label text (None where the image has no label).
        problems: Images and labels left out, with reasons.
    """

    heads: tuple[Head, ...]
    frame: pd.DataFrame
    problems: tuple[Problem, ...]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def paths(self) -> list[str]:
        return self.frame["path"].tolist()

    def targets(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Training targets per head key for the given row positions (default all).

        Single-choice: int32 value index, ``MASKED`` (-1) without a label.
        Multi-label: float32 multi-hot vector; all -1 without a label.
        """
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return {h.key: _encode(h.category, _texts(frame[h.key])) for h in self.heads}

    def value_counts(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Labelled images per value (multi-label: positives per value) for each head key."""
        counts = {}
        for key, target in self.targets(rows).items():
            if target.ndim == 1:
                labelled = target[target >= 0]
                size = next(h.size for h in self.heads if h.key == key)
                counts[key] = np.bincount(labelled, minlength=size).astype(np.int64)
            else:
                counts[key] = target[target[:, 0] >= 0].sum(axis=0).astype(np.int64)
        return counts

    def labelled_counts(self, rows: np.ndarray | None = None) -> dict[str, int]:
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return {h.key: int(frame[h.key].notna().sum()) for h in self.heads}


def build_label_table(view: LabelView, images_root: Path, categories: Sequence[str] | None = None) -> LabelTable:
    """Turn a label view into the per-image table for the chosen categories.

    Args:
        view: Labels through the label map (``fashion_core.labels.view.label_view``).
        images_root: The dataset's images root; label paths are relative to it.
        categories: Category names to train; None = every category that has labels.

    Raises:
        SchemaError: An unknown category, or no labelled image at all.
    """
    chosen = _choose_categories(view, categories)
    heads = make_heads(chosen)
    labels = view.labels[view.labels["category"].isin([c.name for c in chosen])]
    problems: list[Problem] = []
    labels = _drop_unknown_values(labels, chosen, problems)
    if labels.empty:
        raise SchemaError(f"No labelled images in categories {[c.name for c in chosen]}")
    wide = labels.pivot(index=["image_id", "path"], columns="category", values="value").reset_index()
    frame = pd.DataFrame({"image_id": wide["image_id"].astype("int64"),
                          "path": [str(Path(images_root) / p) for p in wide["path"]]})
    for head in heads:
        column = wide[head.name] if head.name in wide else pd.Series([None] * len(wide))
        frame[head.key] = [None if pd.isna(v) else str(v) for v in column]
    frame["stratum"] = _strata(frame, heads)
    frame = _drop_missing_files(frame, problems)
    return LabelTable(heads, frame.reset_index(drop=True), tuple(problems))


def _choose_categories(view: LabelView, categories: Sequence[str] | None) -> list[Category]:
    if categories is not None:
        return [view.schema.category(name) for name in categories]
    present = set(view.labels["category"].unique())
    chosen = [c for c in view.schema.categories if c.name in present]
    if not chosen:
        raise SchemaError(f"Schema {view.schema.name!r} has no category with labels to train on")
    return chosen


def _drop_unknown_values(labels: pd.DataFrame, chosen: list[Category], problems: list[Problem]) -> pd.DataFrame:
    """Leave out (and report) labels whose value is not in the category after the map."""
    keep = np.ones(len(labels), dtype=bool)
    by_name = {c.name: c for c in chosen}
    for i, (path, cat, value) in enumerate(zip(labels["path"], labels["category"], labels["value"])):
        category = by_name[cat]
        names = split_value(value)
        bad = [n for n in names if n not in category.values]
        if bad or (category.kind is Kind.SINGLE and len(names) != 1):
            keep[i] = False
            problems.append(Problem(str(path), cat, f"value {value!r} is not a value of {cat!r}"))
    return labels[keep]


def _drop_missing_files(frame: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    exists = np.array([Path(p).is_file() for p in frame["path"]], dtype=bool)
    for path in frame.loc[~exists, "path"]:
        problems.append(Problem(path, None, "image file is missing"))
    return frame[exists]


def _strata(frame: pd.DataFrame, heads: Sequence[Head]) -> list[str]:
    """The (category, value) of each image's first labelled category: what the split balances."""
    strata = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for head in heads:
        column = frame[head.key]
        todo = strata.isna() & column.notna()
        strata[todo] = [f"{head.name}={(split_value(v) or [''])[0]}" for v in column[todo]]
    return strata.tolist()


def _texts(column: pd.Series) -> list[str | None]:
    """Label texts with None for "no label" (pandas may hold those as NaN)."""
    return [None if pd.isna(v) else str(v) for v in column]


def _encode(category: Category, values: list[str | None]) -> np.ndarray:
    if category.kind is Kind.SINGLE:
        index = {v: i for i, v in enumerate(category.values)}
        return np.array([MASKED if v is None else index[v] for v in values], dtype=np.int32)
    out = np.zeros((len(values), len(category.values)), dtype=np.float32)
    for row, value in enumerate(values):
        if value is None:
            out[row] = MASKED
        else:
            for name in split_value(value):
                out[row, category.values.index(name)] = 1.0
    return out


def stratified_split(strata: Sequence[str], val_fraction: float, seed: int) -> np.ndarray:
    """A seeded stratified split: True marks a validation row.

    Each stratum sends ``round(n * val_fraction)`` rows to validation but keeps at least
    one for training, so a class with a single image never crashes the split.
    """
    strata = np.asarray(strata, dtype=object)
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(strata), dtype=bool)
    for stratum in sorted(set(strata.tolist())):
        rows = np.flatnonzero(strata == stratum)
        rng.shuffle(rows)
        n_val = min(int(round(len(rows) * val_fraction)), len(rows) - 1)
        is_val[rows[:n_val]] = True
    return is_val


def write_split(path: Path, table: LabelTable, is_val: np.ndarray) -> None:
    """Save the split as CSV: image_id, path, subset (train/val), stratum."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = SafeWriter(f)
        writer.writerow(["image_id", "path", "subset", "stratum"])
        for image_id, p, val, stratum in zip(table.frame["image_id"], table.frame["path"], is_val,
                                              table.frame["stratum"]):
            writer.writerow([int(image_id), p, "val" if val else "train", stratum])
