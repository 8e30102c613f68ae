"""Active learning: least margin with a diversity reward picks unsure and different images."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_core.analysis import rank_queue, select_batch
from fashion_core.analysis.active_learning import (
    ActiveLearningError,
    diverse_margin_greedy,
    margins,
    unit_rows,
)


def test_margins_are_top_two_gaps() -> None:
    probs = np.array([[0.5, 0.4, 0.1], [0.9, 0.05, 0.05], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(margins(probs), [0.1, 0.85, 1.0])
    np.testing.assert_allclose(margins(np.ones((2, 1))), [1.0, 1.0])
    with pytest.raises(ActiveLearningError, match="shape"):
        margins(np.ones(3))


def test_diversity_rewards_distance_but_the_margin_leads() -> None:
    # Row 0 is labelled; row 1 is its near-copy and the least sure; row 2 points elsewhere and is
    # a little surer; row 3 points elsewhere too but the model is almost sure of it.
    unit = unit_rows(np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.1, 1.0]]))
    margin = np.array([0.0, 0.10, 0.15, 0.90])
    assert diverse_margin_greedy(margin, unit, np.array([1, 2, 3]), np.array([0]), 2, 0.5).tolist() == [2, 1]
    assert diverse_margin_greedy(margin, unit, np.array([1, 2, 3]), np.array([0]), 2, 0.0).tolist() == [1, 2]
    # A pick covers its near-copies too: after row 2, row 3 (beside it) no longer beats row 1.
    assert diverse_margin_greedy(np.array([0.0, 0.09, 0.1, 0.1]), unit, np.array([1, 2, 3]), np.array([0]), 2,
                                 0.5).tolist()[1] == 1
    assert len(diverse_margin_greedy(margin, unit, np.array([1, 2]), np.zeros(0, np.int64), 5, 0.5)) == 2


def test_label_next_is_unsure_and_diverse() -> None:
    rng = np.random.default_rng(1)
    n = 60
    # Rows 0-19 are near-copies the model is unsure of; rows 20-29 unsure but spread out.
    near = rng.normal(0, 0.01, (20, 4)) + [3.0, 0.0, 0.0, 0.0]
    x = np.vstack([near, rng.normal(0, 3.0, (10, 4)), rng.normal(0, 3.0, (30, 4))])
    probs = np.tile([0.95, 0.05], (n, 1))
    probs[:30] = [0.51, 0.49]
    labelled = np.zeros(n, bool)
    labelled[50:] = True
    plain = select_batch(probs, x, labelled, 6, strategy="margin")
    diverse = select_batch(probs, x, labelled, 6, strategy="label_next", pool_size=30)
    assert set(diverse) <= set(range(30))  # all unsure
    assert len(set(diverse) & set(range(20))) <= 2  # not six near-copies
    assert all(not labelled[i] for i in plain)
    rand = select_batch(probs, x, labelled, 6, strategy="random", seed=3)
    assert len(set(rand)) == 6 and not labelled[rand].any()


def test_rank_queue_covers_every_unlabelled_row_once() -> None:
    rng = np.random.default_rng(2)
    x, probs = rng.normal(size=(40, 3)), rng.dirichlet([1, 1, 1], size=40)
    labelled = np.zeros(40, bool)
    labelled[:5] = True
    queue = rank_queue(probs, x, labelled)
    assert sorted(queue.tolist()) == list(range(5, 40))
    assert len(rank_queue(probs, x, labelled, limit=10)) == 10


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ActiveLearningError, match="strategy"):
        select_batch(np.ones((2, 2)), np.ones((2, 2)), np.zeros(2, bool), 1, strategy="best")
    with pytest.raises(ActiveLearningError, match="rows"):
        select_batch(np.ones((2, 2)), np.ones((3, 2)), np.zeros(2, bool), 1)
    with pytest.raises(ActiveLearningError, match="diversity"):
        select_batch(np.ones((2, 2)), np.ones((2, 2)), np.zeros(2, bool), 1, diversity=-1.0)


def test_excluded_rows_are_never_picked_and_cover_nothing() -> None:
    x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])  # directions: label_next compares angles
    probs = np.tile([0.5, 0.5], (4, 1))
    labelled = np.array([True, False, False, False])
    exclude = np.array([False, False, False, True])
    picked = select_batch(probs, x, labelled, 1, strategy="label_next", pool_size=3, exclude=exclude)
    assert picked.tolist() == [2]  # far from the labelled row; row 3 beside it is excluded, not a center
    assert sorted(rank_queue(probs, x, labelled, exclude=exclude).tolist()) == [1, 2]


def test_label_next_compares_directions_not_lengths() -> None:
    # Row 1 points the labelled row's way but is ten times longer; row 2 points elsewhere.
    x = np.array([[1.0, 0.0], [10.0, 0.5], [0.5, 1.0]])
    probs = np.tile([0.5, 0.5], (3, 1))
    labelled = np.array([True, False, False])
    assert select_batch(probs, x, labelled, 1, pool_size=2).tolist() == [2]
    np.testing.assert_allclose(np.linalg.norm(unit_rows(x), axis=1), 1.0, rtol=1e-6)
    assert not unit_rows(np.zeros((1, 3))).any()
