"""AppTest of the Distribution page: counts, shares, order, rare values, edits, multi-label co-occurrence."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from fashion_core.schema import FASHIONAI
from tests.app.conftest import STYLE, TINY_ROWS, add_multilabel_dataset, image_ids

PAGE = "pages/distribution.py"
COAT, SLEEVE = "coat_length_labels", "sleeve_length_labels"


def expected_counts(category: str) -> list[int]:
    """Counts per value in schema order, straight from the rows the label file was written from."""
    got = Counter(value for _, cat, value, _ in TINY_ROWS if cat == category)
    return [got[v] for v in FASHIONAI.category(category).values]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def bars(at: AppTest) -> tuple[list, list]:
    bar = figures(at)[0]["data"][0]
    return bar["x"], bar["y"]


def test_charts_carry_the_right_counts(studio, open_page):
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert at.selectbox(key="dist_category").value == COAT
    x, y = bars(at)
    assert x == list(FASHIONAI.category(COAT).values) and y == expected_counts(COAT)
    at.selectbox(key="dist_category").set_value(SLEEVE).run()
    x, y = bars(at)
    assert y == expected_counts(SLEEVE)
    at.segmented_control(key="dist_order").set_value("count").run()
    x, y = bars(at)
    assert x[:3] == ["Long Sleeves", "Short Sleeves", "Invisible"] and y == sorted(y, reverse=True)
    at.segmented_control(key="dist_metric").set_value("share").run()
    x, y = bars(at)
    assert y[:3] == pytest.approx([3 / 6, 2 / 6, 1 / 6])
    assert not at.exception


def test_imbalance_and_rare_values(studio, open_page):
    at = open_page(PAGE)
    summary = at.dataframe[1].value.set_index("category")  # the Table tab's frame comes first
    assert summary.loc[COAT, "imbalance_ratio"] == 2.0  # Regular Length 2 / Long Length 1
    assert summary.loc[COAT, "zero_values"] == expected_counts(COAT).count(0)
    assert summary.loc[SLEEVE, "imbalance_ratio"] == 3.0
    at.number_input(key="dist_min_count").set_value(2).run()
    warning = at.warning[0].value
    assert "Long Length** (1)" in warning and "Regular Length" not in warning
    colors = figures(at)[0]["data"][0]["marker"]["color"]
    assert [c == "#e45756" for c in colors] == [n < 2 for n in expected_counts(COAT)]
    at.number_input(key="dist_min_count").set_value(0).run()
    assert "at least 0" in at.success[0].value
    table = at.dataframe[0].value
    assert table["count"].tolist() == expected_counts(COAT) and not table["rare"].any()
    assert {b.key for b in at.download_button} == {"dist_csv_category", "dist_csv_all"}
    assert not at.exception


def test_counts_follow_a_relabel(studio, open_page):
    at = open_page(PAGE)
    c3 = image_ids(studio)["Images/coat_length_labels/c3.jpg"]
    studio.store.edit_label(studio.dataset, c3, COAT, "Regular Length", annotator="t")
    at.run()
    want = expected_counts(COAT)
    values = FASHIONAI.category(COAT).values
    want[values.index("Long Length")] -= 1
    want[values.index("Regular Length")] += 1
    assert bars(at)[1] == want
    assert not at.exception


def test_multi_label_positives_and_cooccurrence(studio, open_page, tmp_path):
    add_multilabel_dataset(studio.store, tmp_path / "styles")  # formal 1, casual 3, sporty 1
    at = open_page(PAGE, dataset="styles")
    assert not at.exception and not at.error
    counts, heatmap = figures(at)
    assert counts["data"][0]["x"] == list(STYLE.values) and counts["data"][0]["y"] == [1, 3, 1]
    assert "positives per class" in counts["layout"]["title"]["text"]
    assert heatmap["data"][0]["z"] == [[1, 1, 0], [1, 3, 1], [0, 1, 1]]
    at.segmented_control(key="dist_co_normalize").set_value("row").run()
    z = figures(at)[1]["data"][0]["z"]
    assert z[1] == pytest.approx([1 / 3, 1.0, 1 / 3])
    assert not at.exception
