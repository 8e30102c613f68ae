"""Merge suggestions: a value pair confused both ways is found, one-way confusion is not; the step fits the map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion_core.analysis import EVALUATION_FILE, EvaluationReport, suggest_merges
from fashion_core.analysis.merge_suggestions import MergeSuggestionError, confused_pairs
from fashion_core.labels import LabelMap, apply_label_map
from fashion_core.schema import Category, Kind, Schema

VALUES = ["Short", "Cup", "Long", "Elbow", "Invisible"]
# Rows: label, columns: prediction. Short <-> Cup confused both ways (the planted pair); Long is
# called Elbow often but never the other way round; Invisible is clean.
PLANTED = np.array([
    [30, 10, 0, 0, 0],
    [6, 12, 0, 0, 0],
    [0, 0, 20, 9, 0],
    [0, 0, 0, 25, 0],
    [0, 0, 0, 0, 8],
])


def _report(tmp_path: Path, **extra: np.ndarray) -> EvaluationReport:
    categories = {"sleeve": {"kind": "single", "values": VALUES, "confusion": PLANTED.tolist()},
                  "tags": {"kind": "multi", "values": ["a", "b"], "confusion": {"a": [[1, 1], [1, 1]]}}}
    for name, matrix in extra.items():
        categories[name] = {"kind": "single", "values": [f"v{i}" for i in range(len(matrix))],
                            "confusion": matrix.tolist()}
    return EvaluationReport({"run": "r1", "categories": categories}, tmp_path / EVALUATION_FILE)


def test_the_planted_pair_is_found_and_one_way_confusion_is_not() -> None:
    found = confused_pairs("sleeve", VALUES, PLANTED)
    assert len(found) == 1
    s = found[0]
    assert (s.first, s.second) == ("Short", "Cup")  # the more common value keeps its name
    assert (s.first_as_second, s.second_as_first, s.first_support, s.second_support) == (10, 6, 40, 18)
    assert s.score == pytest.approx(min(10 / 40, 6 / 18))
    assert s.step().describe() == "sleeve: merge 'Short', 'Cup' -> 'Short'"
    assert s.to_dict()["values"] == ["Short", "Cup"]


def test_ranking_min_count_and_top(tmp_path: Path) -> None:
    weak = np.array([[50, 1], [1, 50]])  # confused both ways, but rarely
    report = _report(tmp_path, weak=weak)
    found = suggest_merges(report)
    assert [(s.category, s.values) for s in found] == [("sleeve", ("Short", "Cup")), ("weak", ("v0", "v1"))]
    assert suggest_merges(report, min_count=2) == found[:1]
    assert suggest_merges(report, top=1) == found[:1]
    assert suggest_merges(report, categories=["weak"]) == found[1:]
    assert suggest_merges(report, categories=["tags"]) == []  # multi-label: no confusion between values


def test_bad_options(tmp_path: Path) -> None:
    report = _report(tmp_path)
    with pytest.raises(MergeSuggestionError, match="min_count"):
        suggest_merges(report, min_count=0)
    with pytest.raises(MergeSuggestionError, match="top"):
        suggest_merges(report, top=0)
    with pytest.raises(MergeSuggestionError, match=r"no evaluated category \['coat'\]"):
        suggest_merges(report, categories=["coat"])
    with pytest.raises(MergeSuggestionError, match="does not fit"):
        confused_pairs("sleeve", VALUES[:3], PLANTED)


def test_the_suggested_step_merges_the_labels() -> None:
    schema = Schema("s", (Category("sleeve", tuple(VALUES), Kind.SINGLE),))
    labels = pd.DataFrame({"image_id": [1, 2, 3], "path": ["a", "b", "c"], "category": "sleeve",
                           "value": ["Short", "Cup", "Long"], "maybe": ""})
    step = confused_pairs("sleeve", VALUES, PLANTED)[0].step()
    new_schema, mapped = apply_label_map(LabelMap("m", (step,)), schema, labels)
    assert mapped["value"].tolist() == ["Short", "Short", "Long"]
    assert "Cup" not in new_schema.category("sleeve").values
