"""CLI ``evaluate``, ``suspicious`` and ``suggest-merges``: JSON shapes on a tiny trained run, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fashion_core.cli import main
from tests.core.modeling._tiny_data import TinyRun, train_tiny_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    made = train_tiny_run(tmp_path_factory.mktemp("cli_evaluate"), quick=True)
    yield made
    made.store.close()


def _json(capsys: pytest.CaptureFixture[str], tiny: TinyRun, *args: str) -> dict:
    assert main(["--home", str(tiny.workspace.root), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_evaluate_json_shape(tiny: TinyRun, capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, tiny, "evaluate", "--run", tiny.run_id)
    assert out["run"] == tiny.run_id and out["images"] > 0
    assert set(out["categories"]) == {"colour", "size", "tags"}
    for cat in out["categories"].values():
        k = len(cat["values"])
        assert 0.0 <= cat["accuracy"] <= 1.0
        assert [row["value"] for row in cat["per_value"]] == cat["values"]
        for row in cat["per_value"]:
            assert {"precision", "recall", "f1", "support"} <= set(row)
        if cat["kind"] == "single":
            matrix = cat["confusion"]
            assert len(matrix) == k and all(len(r) == k for r in matrix)
            assert sum(map(sum, matrix)) == cat["images"]
            assert [sum(r) for r in matrix] == [row["support"] for row in cat["per_value"]]
        else:  # one 2x2 table per value: [[tn, fp], [fn, tp]]
            assert set(cat["confusion"]) == set(cat["values"])
            assert all(sum(map(sum, t)) == cat["images"] for t in cat["confusion"].values())
            assert all("threshold" in row and "f2" in row for row in cat["per_value"])
    assert 0.0 <= out["fashionai_map"] <= 1.0 and "predictions" not in out
    # Plain text names every category.
    assert main(["--home", str(tiny.workspace.root), "evaluate", "--run", tiny.run_id]) == 0
    text = capsys.readouterr().out
    assert all(f"{c} (" in text for c in ("colour", "size", "tags"))


@pytest.mark.slow
def test_suspicious_json_shape(tiny: TinyRun, capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, tiny, "suspicious", "--run", tiny.run_id, "--top", "3", "--folds", "3")
    assert out["run"] == tiny.run_id and out["folds"] == 3 and len(out["top"]) == 3
    assert [r["rank"] for r in out["top"]] == [1, 2, 3]
    assert {"image_id", "path", "category", "given", "suggested", "self_confidence", "flagged"} <= set(out["top"][0])
    assert out["wrong_label_hits"] == {}  # the tiny data set plants none
    assert out["rows"] >= out["flagged"] >= 0


@pytest.mark.slow
def test_suggest_merges_json_shape(tiny: TinyRun, capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, tiny, "suggest-merges", "--run", tiny.run_id, "--top", "5")
    assert out["run"] == tiny.run_id and isinstance(out["suggestions"], list) and len(out["suggestions"]) <= 5
    for s in out["suggestions"]:
        assert s["category"] in ("colour", "size") and s["first_as_second"] >= 1 and s["second_as_first"] >= 1


def test_unknown_run_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("evaluate", "suspicious", "suggest-merges"):
        assert main(["--home", str(tmp_path / "ws"), command, "--run", "nope", "--json"]) == 1
        assert "No run with id 'nope'" in capsys.readouterr().err
