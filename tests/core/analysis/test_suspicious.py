"""Suspicious labels: out-of-sample confident learning puts planted wrong labels at the top; the review queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fashion_core.analysis import (
    find_suspicious_labels,
    pending_review,
    planted_wrong_labels,
    read_wrong_labels,
    review_label,
    wrong_label_hits,
)
from fashion_core.analysis.confident_learning import (
    SuspiciousError,
    confident_issues,
    out_of_sample_probs,
    rank_rows,
)
from fashion_core.analysis.suspicious import KEEP_REASON, RELABEL_REASON
from fashion_core.errors import LabelFileError
from fashion_core.modeling.backbones import BACKBONE_LAYER
from fashion_core.modeling.training import load_run_model
from tests.core.modeling._tiny_data import TinyRun, train_tiny_run

# -- the ranking on synthetic features -------------------------------------------------------------


def _toy(seed: int = 0, per_class: int = 40, wrong: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three Gaussian clusters in 8-D with ``wrong`` labels flipped to another class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(3, 8))
    y = np.repeat(np.arange(3), per_class)
    x = centres[y] + rng.normal(0, 1, size=(len(y), 8))
    planted = rng.choice(len(y), size=wrong, replace=False)
    given = y.copy()
    given[planted] = (y[planted] + rng.integers(1, 3, size=wrong)) % 3
    return x, given, planted


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_wrong_labels_rank_at_the_top(seed: int) -> None:
    x, given, planted = _toy(seed)
    probs = out_of_sample_probs(x, given, 3, folds=5, seed=seed)
    assert probs.shape == (len(given), 3) and np.allclose(probs.sum(axis=1), 1.0)
    issues = confident_issues(probs, given)
    order = rank_rows(issues)
    assert set(order[: len(planted)]) == set(planted)  # every planted label, and nothing else, on top
    assert issues.flagged[planted].sum() >= len(planted) - 1  # flagged: confidently another value
    assert issues.flagged.sum() <= len(planted) + 2  # few false alarms on clean clusters


def test_confident_issues_by_hand() -> None:
    # Thresholds: value 0 -> mean p0 of rows labelled 0 = 0.85; value 1 -> (0.7 + 0.8 + 0.1) / 3.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.9, 0.1]])
    given = np.array([0, 0, 1, 1, 1])
    issues = confident_issues(probs, given)
    assert issues.flagged.tolist() == [False, False, False, False, True]
    assert issues.suggested.tolist() == [1, 1, 0, 0, 0]
    assert issues.self_confidence == pytest.approx([0.9, 0.8, 0.7, 0.8, 0.1])
    assert issues.margin == pytest.approx([0.8, 0.6, 0.4, 0.6, -0.8])
    assert rank_rows(issues).tolist() == [4, 2, 1, 3, 0]
    assert rank_rows(issues, "normalized_margin").tolist() == [4, 2, 1, 3, 0]


def test_bad_options_are_refused() -> None:
    with pytest.raises(SuspiciousError, match="at least 2 rows"):
        out_of_sample_probs(np.zeros((1, 3)), np.array([0]), 2)
    with pytest.raises(SuspiciousError, match="rank_by"):
        rank_rows(confident_issues(np.array([[0.5, 0.5]]), np.array([0])), "loss")


def test_wrong_labels_file_names_its_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "wrong_labels.csv"
    path.write_text("image_path,category,drawn_value,labelled_value\nImages/a.jpg,c,x,y\nImages/b.jpg,c,,y\n")
    with pytest.raises(LabelFileError, match=r"wrong_labels.csv:3"):
        read_wrong_labels(path)
    path.write_text("path,value\n")
    with pytest.raises(LabelFileError, match=r"wrong_labels.csv:1: expected columns"):
        read_wrong_labels(path)


# -- end to end on the tiny data set ------------------------------------------------------------------

# Image index -> wrong label: even images are labelled in colour, and 0, 6 and 12 are red squares.
PLANTED = {0: "blue", 6: "green", 12: "blue"}
N_IMAGES = 96


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyRun]:
    """A quick-mode tiny run whose data set has three wrong colour labels, listed in wrong_labels.csv."""
    # Two categories: a run with a single head records no model (reported to the training engine).
    tiny = _planted(train_tiny_run(tmp_path_factory.mktemp("suspicious"), n=N_IMAGES, quick=True,
                                   categories=("colour", "size")))
    yield tiny
    tiny.store.close()


def _planted(tiny: TinyRun) -> TinyRun:
    """Plant ``PLANTED`` in the tiny run's data set, listed in its wrong_labels.csv."""
    ids = tiny.store.image_ids("tiny")
    lines = ["image_path,category,drawn_value,labelled_value"]
    for index, wrong in PLANTED.items():
        path = f"img/{index:03d}.jpg"
        tiny.store.edit_label("tiny", ids[path], "colour", wrong, annotator="planter")
        lines.append(f"{path},colour,red,{wrong}")
    (tiny.data / "wrong_labels.csv").write_text("\n".join(lines) + "\n")
    return tiny


@pytest.mark.slow
def test_end_to_end_finds_the_planted_labels_and_reviews_them(planted: TinyRun) -> None:
    steps: list[str] = []
    report = find_suspicious_labels(planted.store, planted.workspace, planted.run_id, folds=4,
                                    on_progress=lambda stage, frac: steps.append(stage))
    assert steps[-1] == "done" and report.facts["embeddings"]["source"] == "the run's model"
    assert len(report.table) == N_IMAGES and report.table["rank"].tolist() == list(range(1, N_IMAGES + 1))
    hits = wrong_label_hits(report, planted_wrong_labels(planted.store, planted.run_id), k=len(PLANTED) * 2)
    assert hits.planted == len(PLANTED) and hits.found == len(PLANTED)
    assert find_suspicious_labels(planted.store, planted.workspace, planted.run_id, folds=4).cached

    queue = pending_review(planted.store, report)
    top = queue.iloc[0]
    assert top["path"] in {f"img/{i:03d}.jpg" for i in PLANTED} and top["suggested"] == "red"
    edit = review_label(planted.store, "tiny", int(top["image_id"]), "colour", action="relabel",
                        annotator="reviewer", value=top["suggested"])
    assert (edit.old_value, edit.new_value, edit.reason) == (top["given"], "red", RELABEL_REASON)
    second = report.table.iloc[1]  # the queue holds only flagged rows; any row can be reviewed
    kept = review_label(planted.store, "tiny", int(second["image_id"]), second["category"], action="keep",
                        annotator="reviewer")
    assert kept.old_value == kept.new_value == second["given"] and kept.reason == KEEP_REASON
    reviewed = {(int(top["image_id"]), "colour"), (int(second["image_id"]), second["category"])}
    left = pending_review(planted.store, report)
    expected = [(int(i), c) for i, c in zip(queue["image_id"], queue["category"]) if (int(i), c) not in reviewed]
    assert list(zip(left["image_id"].astype(int), left["category"])) == expected
    # The fixed label is no longer a planted wrong one, and a new analysis sees the edits.
    fresh = find_suspicious_labels(planted.store, planted.workspace, planted.run_id, folds=4)
    assert not fresh.cached
    assert wrong_label_hits(fresh, planted_wrong_labels(planted.store, planted.run_id), k=10).planted == len(PLANTED) - 1

    with pytest.raises(SuspiciousError, match="action"):
        review_label(planted.store, "tiny", int(top["image_id"]), "colour", action="delete", annotator="x")
    with pytest.raises(SuspiciousError, match="only through the run's label map"):
        review_label(planted.store, "tiny", int(top["image_id"]), "colour", action="relabel", annotator="x",
                     value="crimson")
    with pytest.raises(SuspiciousError, match="folds"):
        find_suspicious_labels(planted.store, planted.workspace, planted.run_id, folds=1)


@pytest.mark.slow
def test_a_fine_tuned_run_ranks_on_its_own_and_the_pretrained_features_side_by_side(tmp_path: Path) -> None:
    # A fine-tuned backbone has also learnt the wrong training labels; the pretrained one has not.
    tiny = _planted(train_tiny_run(tmp_path, n=N_IMAGES, categories=("colour", "size"), schedule="finetune"))
    try:
        report = find_suspicious_labels(tiny.store, tiny.workspace, tiny.run_id, folds=4)
        facts = report.facts["embeddings"]
        assert facts["fine_tuned"] and facts["source"] == "the run's model and its pretrained backbone"
        assert find_suspicious_labels(tiny.store, tiny.workspace, tiny.run_id, folds=4).cached  # saved, read back
        width = load_run_model(tiny.store, tiny.run_id).get_layer(BACKBONE_LAYER).output.shape[-1]
        assert report.facts["features"] == 2 * width
        hits = wrong_label_hits(report, planted_wrong_labels(tiny.store, tiny.run_id), k=len(PLANTED) * 2)
        assert hits.found == len(PLANTED)
    finally:
        tiny.store.close()
