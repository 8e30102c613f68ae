"""Tests for the per-image label table, its masked targets, class counts and the stratified split."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from fashion_core.errors import SchemaError
from fashion_core.labels import NO_MAP, label_view
from fashion_core.modeling import build_label_table, stratified_split
from fashion_core.modeling.table import MASKED, write_split
from fashion_core.store import LabelStore
from tests.core.modeling._tiny_data import make_dataset


def _table(store: LabelStore, root: Path, **kwargs):
    view = label_view(store, "tiny", NO_MAP)
    return build_label_table(view, root, **kwargs)


def test_one_row_per_image_with_masked_targets(store: LabelStore, tmp_path: Path) -> None:
    rows = make_dataset(store, tmp_path / "data", n=12, categories=("colour", "size", "tags"))
    table = _table(store, tmp_path / "data")

    assert len(table) == 12
    assert [h.name for h in table.heads] == ["colour", "size", "tags"]
    targets = table.targets()
    by_path = {Path(p).name: i for i, p in enumerate(table.paths)}
    for row in rows:
        i = by_path[Path(row["path"]).name]
        if row["category"] == "colour":
            assert targets["colour"][i] == ["red", "green", "blue"].index(row["value"])
        if row["category"] == "size":
            assert targets["size"][i] == ["small", "large"].index(row["value"])
            assert targets["colour"][i] == MASKED
        if row["category"] == "tags":
            expected = [1.0, 1.0 if "stripes" in row["value"] else 0.0]
            assert targets["tags"][i].tolist() == expected
    unlabelled_tags = [i for i in range(12) if Path(table.paths[i]).name not in
                       {Path(r["path"]).name for r in rows if r["category"] == "tags"}]
    assert unlabelled_tags and (targets["tags"][unlabelled_tags] == MASKED).all()
    assert targets["colour"].dtype == np.int32 and targets["tags"].dtype == np.float32


def test_counts_follow_the_labels(store: LabelStore, tmp_path: Path) -> None:
    make_dataset(store, tmp_path / "data", n=12, categories=("colour", "size"))
    table = _table(store, tmp_path / "data")

    counts = table.value_counts()
    # Even images carry colour (i % 3 cycles red/green/blue), odd ones size.
    assert counts["colour"].tolist() == [2, 2, 2]
    assert counts["size"].sum() == 6
    assert table.labelled_counts() == {"colour": 6, "size": 6}


def test_choosing_one_category_keeps_only_its_images(store: LabelStore, tmp_path: Path) -> None:
    make_dataset(store, tmp_path / "data", n=12, categories=("colour", "size"))
    table = _table(store, tmp_path / "data", categories=["size"])

    assert [h.name for h in table.heads] == ["size"]
    assert len(table) == 6
    assert (table.targets()["size"] >= 0).all()
    with pytest.raises(SchemaError, match="nope"):
        _table(store, tmp_path / "data", categories=["nope"])


def test_missing_files_are_reported_not_silently_dropped(store: LabelStore, tmp_path: Path) -> None:
    make_dataset(store, tmp_path / "data", n=6, categories=("colour",))
    (tmp_path / "data" / "img" / "002.jpg").unlink()

    table = _table(store, tmp_path / "data")

    assert len(table) == 5
    assert [(Path(p.path).name, p.reason) for p in table.problems] == [("002.jpg", "image file is missing")]


def test_split_is_stratified_seeded_and_survives_tiny_classes() -> None:
    strata = ["a=x"] * 50 + ["a=y"] * 10 + ["b=z"] * 1

    first = stratified_split(strata, 0.2, seed=3)
    again = stratified_split(strata, 0.2, seed=3)
    other = stratified_split(strata, 0.2, seed=4)

    assert (first == again).all() and not (first == other).all()
    assert first[:50].sum() == 10 and first[50:60].sum() == 2
    assert not first[60]  # a class of one stays in training


def test_split_file_lists_every_image_once(store: LabelStore, tmp_path: Path) -> None:
    make_dataset(store, tmp_path / "data", n=12, categories=("colour", "size"))
    table = _table(store, tmp_path / "data")
    is_val = stratified_split(table.frame["stratum"].tolist(), 0.34, seed=0)

    write_split(tmp_path / "split.csv", table, is_val)

    with open(tmp_path / "split.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["image_id"]) for r in rows) == sorted(table.frame["image_id"].tolist())
    assert sum(r["subset"] == "val" for r in rows) == int(is_val.sum()) > 0
    assert {r["stratum"].split("=")[0] for r in rows} == {"colour", "size"}
