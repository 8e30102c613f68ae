"""Evaluation of a tiny trained run: figures match ones counted by hand from the model's own outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion_core.analysis import (
    EVALUATION_FILE,
    EvaluationReport,
    evaluable_runs,
    evaluate_run,
    load_evaluation,
    metrics,
    tune_thresholds,
)
from fashion_core.analysis.evaluation import THRESHOLDS_FILE, EvaluationError
from fashion_core.runs import RunDir, register_run
from fashion_core.schema import split_value
from fashion_core.store import LabelStore
from fashion_core.views import confusion_figure
from fashion_core.workspace import Workspace
from tests.core.modeling._tiny_data import SIDE, TINY_SCHEMA, TinyRun, make_dataset, train_tiny_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    made = train_tiny_run(tmp_path_factory.mktemp("evaluation"))
    yield made
    made.store.close()


def _by_hand(tiny: TinyRun) -> tuple[dict[int, dict[str, np.ndarray]], pd.DataFrame]:
    """The model's outputs on every validation image, computed here without evaluation.py.

    Through the engine that serves predictions (the run's Predictor), fed by the training
    pipeline's decoder: evaluation must report what prediction does.
    """
    from fashion_core.modeling import load_images
    from fashion_core.serving import Predictor

    split = pd.read_csv(RunDir(tiny.workspace.runs_dir / tiny.run_id).split)
    val = split[split["subset"] == "val"]
    outputs = Predictor.from_run(tiny.store, tiny.run_id).forward(load_images(val["path"].tolist(), SIDE))
    per_image = {int(i): {k: np.asarray(v)[r] for k, v in outputs.items()} for r, i in enumerate(val["image_id"])}
    return per_image, tiny.store.current_labels("tiny")


# -- numbers ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_single_choice_figures_match_counts_by_hand(tiny: TinyRun) -> None:
    report = evaluate_run(tiny.store, tiny.run_id, refresh=True)
    outputs, labels = _by_hand(tiny)
    for name in ("colour", "size"):
        values = list(TINY_SCHEMA.category(name).values)
        mine = labels[(labels["category"] == name) & labels["image_id"].isin(outputs)]
        matrix = np.zeros((len(values), len(values)), dtype=int)
        for image_id, value in zip(mine["image_id"], mine["value"]):
            matrix[values.index(value), int(np.argmax(outputs[int(image_id)][name]))] += 1
        cat = report.category(name)
        assert cat["confusion"] == matrix.tolist()
        assert cat["images"] == len(mine) > 0
        assert cat["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum(), abs=1e-6)
        for k, row in enumerate(cat["per_value"]):
            predicted, support = matrix[:, k].sum(), matrix[k].sum()
            precision = matrix[k, k] / predicted if predicted else 0.0
            recall = matrix[k, k] / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            assert (row["value"], row["support"]) == (values[k], support)
            assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((precision, recall, f1), abs=1e-6)
        probs = np.stack([outputs[int(i)][name] for i in mine["image_id"]])
        truth = np.array([values.index(v) for v in mine["value"]])
        assert cat["fashionai_ap"] == pytest.approx(metrics.fashionai_ap(probs, truth), abs=1e-5)
    aps = [report.category(c)["fashionai_ap"] for c in ("colour", "size")]
    assert report.fashionai_map == pytest.approx(np.mean(aps), abs=1e-6)


@pytest.mark.slow
def test_multi_label_figures_and_thresholds_file(tiny: TinyRun) -> None:
    report = evaluate_run(tiny.store, tiny.run_id)
    outputs, labels = _by_hand(tiny)
    values = list(TINY_SCHEMA.category("tags").values)
    mine = labels[(labels["category"] == "tags") & labels["image_id"].isin(outputs)]
    y = np.array([[int(v in split_value(text)) for v in values] for text in mine["value"]])
    p = np.stack([outputs[int(i)]["tags"] for i in mine["image_id"]])
    cat = report.category("tags")
    for k, row in enumerate(cat["per_value"]):
        hot = p[:, k] >= 0.5
        tp, fp = int((hot & (y[:, k] == 1)).sum()), int((hot & (y[:, k] == 0)).sum())
        fn = int((~hot & (y[:, k] == 1)).sum())
        assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, fn)
        f2 = 5 * tp / (5 * tp + 4 * fn + fp) if tp + fn + fp else 0.0
        assert row["f2"] == pytest.approx(f2, abs=1e-6)
    expected, _ = metrics.tune_thresholds(y, p, beta=2.0)
    saved = json.loads((RunDir(tiny.workspace.runs_dir / tiny.run_id).path / THRESHOLDS_FILE).read_text())
    assert list(saved) == ["tags"] and list(saved["tags"]) == values
    assert [saved["tags"][v] for v in values] == pytest.approx(expected.tolist(), abs=1e-5)
    # The prediction side reads the same file.
    from fashion_core.serving.predictor import load_thresholds

    assert load_thresholds(RunDir(tiny.workspace.runs_dir / tiny.run_id), TINY_SCHEMA) == saved


@pytest.mark.slow
def test_tuning_for_f1_rewrites_the_thresholds(tiny: TinyRun) -> None:
    evaluate_run(tiny.store, tiny.run_id)
    saved = tune_thresholds(tiny.store, tiny.run_id, "f1")
    report = load_evaluation(tiny.store, tiny.run_id)
    pred = report.data["predictions"]["tags"]
    expected, _ = metrics.tune_thresholds(np.asarray(pred["y"]), np.asarray(pred["probs"]), beta=1.0)
    assert list(saved["tags"].values()) == pytest.approx(expected.tolist(), abs=1e-5)
    assert report.data["tuning_metric"] == "f1" and report.category("tags")["tuned"]["metric"] == "f1"
    tune_thresholds(tiny.store, tiny.run_id, "f2")  # back to the default for the other tests


@pytest.mark.slow
def test_misclassified_worst_first_and_complete(tiny: TinyRun) -> None:
    report = evaluate_run(tiny.store, tiny.run_id)
    frame = report.misclassified_frame()
    assert frame["given_prob"].is_monotonic_increasing
    assert (frame["given"] != frame["predicted"]).all()
    for name in ("colour", "size"):
        cm = np.asarray(report.category(name)["confusion"])
        assert len(report.misclassified_frame(name)) == cm.sum() - np.trace(cm)


@pytest.mark.slow
def test_saved_evaluation_reused_until_labels_change(tiny: TinyRun) -> None:
    first = evaluate_run(tiny.store, tiny.run_id)
    again = evaluate_run(tiny.store, tiny.run_id)
    assert again.cached and not again.stale and again.data["evaluated_at"] == first.data["evaluated_at"]
    pred = first.data["predictions"]["colour"]
    image_id, given = pred["image_ids"][0], TINY_SCHEMA.category("colour").values[pred["y"][0]]
    other = next(v for v in TINY_SCHEMA.category("colour").values if v != given)
    edit = tiny.store.edit_label("tiny", image_id, "colour", other, annotator="test")
    try:
        assert load_evaluation(tiny.store, tiny.run_id).stale
        fresh = evaluate_run(tiny.store, tiny.run_id)  # stale and not reused: computed again
        assert not fresh.cached and not fresh.stale
        row = fresh.data["predictions"]["colour"]["image_ids"].index(image_id)
        assert TINY_SCHEMA.category("colour").values[fresh.data["predictions"]["colour"]["y"][row]] == other
    finally:
        tiny.store.undo_edit(edit.id, annotator="test")


@pytest.mark.slow
def test_broken_validation_image_is_reported_not_fatal(tiny: TinyRun) -> None:
    split = pd.read_csv(RunDir(tiny.workspace.runs_dir / tiny.run_id).split)
    victim = Path(split.loc[split["subset"] == "val", "path"].iloc[0])
    original = victim.read_bytes()
    victim.write_bytes(b"not a jpeg at all")
    try:
        report = evaluate_run(tiny.store, tiny.run_id, refresh=True)
        reasons = [p["reason"] for p in report.data["problems"] if p["path"] == str(victim)]
        assert reasons and reasons[0].startswith("cannot decode image")
        assert report.data["images"] == (split["subset"] == "val").sum()
        evaluated = sum(c["images"] for c in report.data["categories"].values() if c["kind"] == "single")
        assert evaluated == (split["subset"] == "val").sum() - 1
    finally:
        victim.write_bytes(original)
    assert not evaluate_run(tiny.store, tiny.run_id, refresh=True).data["problems"]


@pytest.mark.slow
def test_confusion_figure_counts_and_shares(tiny: TinyRun) -> None:
    report = evaluate_run(tiny.store, tiny.run_id)
    counts = confusion_figure(report, "colour").data[0]
    assert np.asarray(counts.z).tolist() == report.category("colour")["confusion"]
    shares = np.asarray(confusion_figure(report, "colour", normalize=True).data[0].z)
    support = np.asarray(report.category("colour")["confusion"]).sum(axis=1)
    assert shares.sum(axis=1) == pytest.approx(np.where(support > 0, 1.0, 0.0))
    summary = report.summary()
    assert "predictions" not in summary and set(summary["categories"]) == {"colour", "size", "tags"}
    assert (Path(report.path).name, report.run_id) == (EVALUATION_FILE, tiny.run_id)


# -- refusals ----------------------------------------------------------------------------------------


def test_unfinished_run_and_bad_options_are_refused(store: LabelStore, workspace: Workspace, tmp_path: Path) -> None:
    make_dataset(store, tmp_path / "data", n=6)
    register_run(store, RunDir(workspace.runs_dir / "queued-1"), "tiny", {"backbone": "x"})
    with pytest.raises(EvaluationError, match="no finished model"):
        evaluate_run(store, "queued-1")
    with pytest.raises(EvaluationError, match="batch_size"):
        evaluate_run(store, "queued-1", batch_size=0)
    with pytest.raises(EvaluationError, match="tuning_metric"):
        evaluate_run(store, "queued-1", tuning_metric="f3")
    assert load_evaluation(store, "queued-1") is None
    assert evaluable_runs(store, "tiny") == []


def test_report_without_a_category_names_the_ones_it_has(tmp_path: Path) -> None:
    report = EvaluationReport({"run": "r", "categories": {"colour": {}}}, tmp_path / EVALUATION_FILE)
    with pytest.raises(EvaluationError, match=r"no evaluated category 'size'.*\['colour'\]"):
        report.category("size")


@pytest.mark.slow
def test_accuracy_equals_predicting_the_validation_images_one_by_one(tiny: TinyRun) -> None:
    from fashion_core.serving import Predictor

    report = evaluate_run(tiny.store, tiny.run_id, refresh=True)
    predictor = Predictor.from_run(tiny.store, tiny.run_id)
    labels = tiny.store.current_labels("tiny")
    root = tiny.data
    for name in ("colour", "size"):
        pred = report.data["predictions"][name]
        right = 0
        for image_id, path, y in zip(pred["image_ids"], pred["paths"], pred["y"]):
            answer = predictor.predict_bytes((root / path).read_bytes(), name=path)[name]
            given = labels[(labels["image_id"] == image_id) & (labels["category"] == name)]["value"].item()
            assert TINY_SCHEMA.category(name).values[y] == given
            right += answer.top.value == given
        assert np.trace(report.category(name)["confusion"]) == right  # the same images right, exactly
        assert report.category(name)["accuracy"] == pytest.approx(right / len(pred["y"]), abs=1e-6)  # 6 decimals saved
