"""Tests for quick mode's loop: NumPy metrics agree with the Keras masked metrics; it learns."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fashion_core.modeling import Imbalance, make_heads
from fashion_core.modeling import model as modelling
from fashion_core.modeling.head_fit import fit_heads, head_metrics
from fashion_core.modeling.table import MASKED
from tests.core.modeling._tiny_data import TINY_SCHEMA

HEADS = make_heads(TINY_SCHEMA.categories)  # colour (3, single), size (2, single), tags (2, multi)


def test_head_metrics_agree_with_the_keras_masked_metrics() -> None:
    colour = HEADS[0]
    y = np.array([0, MASKED, 1, 2, MASKED])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [1, 0, 0]], np.float32)
    keras_acc = modelling.MaskedSparseAccuracy()
    keras_acc.update_state(y, tf.constant(p))
    assert head_metrics(colour, y, p)["accuracy"] == pytest.approx(float(keras_acc.result())) == pytest.approx(2 / 3)

    tags = HEADS[2]
    y = np.array([[1.0, 0.0], [MASKED, MASKED], [0.0, 0.0]], np.float32)
    p = np.array([[0.9, 0.7], [0.9, 0.9], [0.2, 0.1]], np.float32)
    keras_bin = modelling.MaskedBinaryAccuracy()
    keras_bin.update_state(y, tf.constant(p))
    got = head_metrics(tags, y, p)
    assert got["accuracy"] == pytest.approx(float(keras_bin.result())) == pytest.approx(3 / 4)
    assert got["auc"] == pytest.approx(1.0)  # the one positive outranks every negative
    assert head_metrics(colour, np.array([MASKED, MASKED]), p[:2, :1].repeat(3, 1)) == {}


class _Seen(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[dict] = []
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epochs.append(dict(logs))


def test_fit_heads_learns_separable_features_and_reports_like_fit() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 3, 120).astype(np.int32)
    features = (np.eye(3)[colour] * 3 + rng.normal(0, 0.3, (120, 3))).astype(np.float32)
    size = np.where(rng.random(120) < 0.5, MASKED, colour % 2).astype(np.int32)  # half unlabelled
    tags = np.full((120, 2), MASKED, np.float32)  # no tag labels at all: that head adds nothing
    targets = {"colour": colour, "size": size, "tags": tags}
    model = modelling.build_head_model(3, HEADS, dropout=0.0)
    losses, _ = modelling.make_losses(HEADS, {h.key: np.ones(h.size) for h in HEADS}, {h.key: 1 for h in HEADS},
                                      Imbalance(scheme="none"))
    seen = _Seen()
    train = (features[:90], {k: v[:90] for k, v in targets.items()})
    val = (features[90:], {k: v[90:] for k, v in targets.items()})
    history = fit_heads(model, HEADS, losses, {}, train, val, epochs=15, batch_size=32, learning_rate=0.05,
                        callbacks=[seen], seed=0)
    assert len(history) == 15 and seen.batches == 15 * 3  # 90 rows in batches of 32
    first, last = history[0], history[-1]
    assert last["loss"] < first["loss"] and last["val_colour_accuracy"] == 1.0
    assert seen.epochs[-1] == last and "val_size_accuracy" in last and "val_tags_accuracy" not in last
    assert last["loss"] == pytest.approx(last["colour_loss"] + last["size_loss"] + last["tags_loss"], rel=1e-5)
    assert last["tags_loss"] == 0.0
