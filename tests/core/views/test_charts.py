"""Tests of the distribution tables and figures: counts, shares, imbalance, rare values, co-occurrence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion_core.labels import label_view
from fashion_core.schema import Category, Kind, Schema
from fashion_core.store import AnnotationRecord, ImageRecord
from fashion_core.views import charts

SIZE = Category("size", ("S", "M", "L", "XL"), Kind.SINGLE)
STYLE = Category("style", ("s1", "s10", "s2"), Kind.MULTI)
SCHEMA = Schema("toy", (SIZE, STYLE))


def _labels(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["image_id", "category", "value"])


@pytest.fixture
def labels() -> pd.DataFrame:
    # size: S x1, M x4, L x2, XL x0.  style: s1 in 3 images, s10 in 2, s2 in 1, one image with none.
    size = (
        [(1, "size", "S")] + [(i, "size", "M") for i in (2, 3, 4, 5)] + [(6, "size", "L"), (7, "size", "L")]
    )
    style = [(1, "style", "s1|s10"), (2, "style", "s1"), (3, "style", "s1|s10|s2"), (4, "style", "")]
    return _labels(size + style)


def test_counts_table_counts_and_shares(labels):
    table = charts.counts_table(SCHEMA, labels)
    assert list(table.columns) == charts.COUNT_COLUMNS
    size = table[table["category"] == "size"]
    assert size["value"].tolist() == ["S", "M", "L", "XL"]
    assert size["count"].tolist() == [1, 4, 2, 0]
    assert size["share"].sum() == pytest.approx(1.0) and size["images"].unique().tolist() == [7]
    style = table[table["category"] == "style"].set_index("value")
    assert style["count"].to_dict() == {"s1": 3, "s10": 2, "s2": 1}
    assert style.loc["s1", "share"] == pytest.approx(3 / 4)  # of the 4 images labelled in style


def test_category_counts_orders(labels):
    table = charts.counts_table(SCHEMA, labels)
    assert charts.category_counts(table, "size")["value"].tolist() == ["S", "M", "L", "XL"]
    assert charts.category_counts(table, "size", order="count")["value"].tolist() == ["M", "L", "S", "XL"]
    tie = charts.counts_table(SCHEMA, _labels([(1, "size", "L"), (2, "size", "S")]))
    assert charts.category_counts(tie, "size", order="count")["value"].tolist() == ["S", "L", "M", "XL"]
    with pytest.raises(ValueError, match="order="):
        charts.category_counts(table, "size", order="random")


def test_imbalance_leaves_zeros_out_of_the_ratio(labels):
    rows = charts.category_counts(charts.counts_table(SCHEMA, labels), "size", order="count")
    imb = charts.imbalance(rows)
    assert imb.ratio == pytest.approx(4.0)
    assert (imb.largest, imb.largest_count, imb.smallest, imb.smallest_count) == ("M", 4, "S", 1)
    assert imb.zero_values == ("XL",)
    empty = charts.imbalance(charts.category_counts(charts.counts_table(SCHEMA, _labels([])), "size"))
    assert empty.ratio is None and empty.zero_values == ("S", "M", "L", "XL")


def test_rare_values_and_flags(labels):
    table = charts.counts_table(SCHEMA, labels)
    rows = charts.category_counts(table, "size")
    assert charts.rare_values(rows, 2)["value"].tolist() == ["XL", "S"]  # fewest first
    assert charts.rare_values(rows, 0).empty
    assert charts.flag_rare(table, 2).set_index(["category", "value"])["rare"].sum() == 3  # XL, S, s2
    with pytest.raises(ValueError, match="min_count"):
        charts.rare_values(rows, -1)


def test_summary_table(labels):
    summary = charts.summary_table(SCHEMA, charts.counts_table(SCHEMA, labels), min_count=2).set_index(
        "category"
    )
    assert summary.loc["size", "images"] == 7 and summary.loc["size", "imbalance_ratio"] == 4.0
    assert summary.loc["size", "largest"] == "M (4)" and summary.loc["size", "zero_values"] == 1
    assert summary.loc["size", "rare_values"] == "XL (0), S (1)"
    assert summary.loc["style", "imbalance_ratio"] == 3.0 and summary.loc["style", "kind"] == "multi"


def test_counts_figure_bars_colours_and_threshold(labels):
    rows = charts.category_counts(charts.counts_table(SCHEMA, labels), "size", order="count")
    fig = charts.counts_figure(rows, min_count=2)
    bar = fig.data[0]
    assert list(bar.x) == ["M", "L", "S", "XL"] and list(bar.y) == [4, 2, 1, 0]
    assert list(bar.marker.color) == [
        charts.BAR_COLOR,
        charts.BAR_COLOR,
        charts.RARE_COLOR,
        charts.RARE_COLOR,
    ]
    assert any(s.type == "line" and s.y0 == 2 for s in fig.layout.shapes)
    assert fig.layout.title.text == "size"
    shares = charts.counts_figure(rows, metric="share")
    assert list(shares.data[0].y) == pytest.approx([4 / 7, 2 / 7, 1 / 7, 0.0])
    assert not shares.layout.shapes
    with pytest.raises(ValueError, match="metric="):
        charts.counts_figure(rows, metric="mean")


def test_cooccurrence_matrix_and_figure(labels):
    matrix = charts.cooccurrence_matrix(STYLE, labels)
    assert matrix.index.tolist() == ["s1", "s10", "s2"]
    assert np.array_equal(matrix.to_numpy(), [[3, 2, 1], [2, 2, 1], [1, 1, 1]])  # s1 never confused with s10
    assert (matrix.to_numpy() == matrix.to_numpy().T).all()
    fig = charts.cooccurrence_figure(matrix, normalize="row")
    z = np.array(fig.data[0].z)
    assert np.allclose(np.diag(z), 1.0) and z[0, 1] == pytest.approx(2 / 3)
    counts = charts.cooccurrence_figure(matrix)
    assert np.array(counts.data[0].z).tolist() == matrix.to_numpy().tolist()
    with pytest.raises(ValueError, match="normalize="):
        charts.cooccurrence_figure(matrix, normalize="column")


def test_counts_follow_edits_through_the_label_view(store):
    store.create_dataset("toy", SCHEMA, Path("/nowhere"), "test")
    store.add_images("toy", [ImageRecord(f"{i}.jpg") for i in range(3)])
    store.add_annotations("toy", [AnnotationRecord(f"{i}.jpg", "size", "M") for i in range(3)])
    ids = store.image_ids("toy")
    store.edit_label("toy", ids["0.jpg"], "size", "XL", annotator="t")
    store.edit_label("toy", ids["1.jpg"], "size", None, annotator="t")
    view = label_view(store, "toy")
    size = charts.counts_table(view.schema, view.labels).query("category == 'size'").set_index("value")
    assert size["count"].to_dict() == {"S": 0, "M": 1, "L": 0, "XL": 1}
    assert size["images"].iloc[0] == 2


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([20, 30, 40, 0, 6], 12),  # small data set: half the median of the non-empty values
        ([4000, 5000, 900, 3000], 50),  # large: capped at the usual rule of thumb
        ([2, 3, 4], 5),  # tiny: never below the floor
        ([0, 0], 5),  # no labels at all
    ],
)
def test_default_minimum_follows_the_data(counts: list[int], expected: int) -> None:
    table = pd.DataFrame({"category": "c", "value": [f"v{i}" for i in range(len(counts))], "count": counts})
    assert charts.default_min_count(table) == expected


def test_before_after_figure_groups_the_two_counts() -> None:
    table = pd.DataFrame({"value": ["a", "b", "ab"], "before": [3, 2, 0], "after": [0, 0, 5]})
    fig = charts.before_after_figure(table, "sleeve")
    assert [t.name for t in fig.data] == ["before", "after"]
    assert list(fig.data[0].y) == [3, 2, 0] and list(fig.data[1].y) == [0, 0, 5]
    assert list(fig.data[1].x) == ["a", "b", "ab"] and fig.layout.barmode == "group"
    assert fig.layout.title.text == "sleeve: before and after the draft map"
