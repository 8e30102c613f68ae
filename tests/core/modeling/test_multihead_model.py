"""Tests for the multi-head model: masked losses and metrics, class weights, one epoch of training."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from fashion_core.labels import NO_MAP, label_view
from fashion_core.modeling import Imbalance, build_backbone, build_label_table, image_dataset, make_heads
from fashion_core.modeling import model as modelling
from fashion_core.modeling.table import MASKED
from fashion_core.store import LabelStore
from tests.core.modeling._tiny_data import TINY_SCHEMA, make_dataset

HEADS = make_heads(TINY_SCHEMA.categories)  # colour (3, single), size (2, single), tags (2, multi)
RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(6, 4)).astype(np.float32)
COLOUR = np.array([0, 1, 2, 0, 1, 2], np.int32)


def _head_model(heads=HEADS, scheme: str = "none") -> keras.Model:
    keras.utils.set_random_seed(0)
    model = modelling.build_head_model(4, heads, dropout=0.0)
    counts = {h.key: np.arange(1, h.size + 1) * 3 for h in heads}
    losses, _ = modelling.make_losses(heads, counts, {h.key: 10 for h in heads}, Imbalance(scheme=scheme))
    modelling.compile_model(model, heads, losses, Imbalance(scheme=scheme), 1e-3)
    return model


def _targets(size: np.ndarray, tags: np.ndarray) -> dict[str, np.ndarray]:
    return {"colour": COLOUR, "size": size, "tags": tags}


def test_a_fully_masked_head_adds_nothing_to_the_loss() -> None:
    model = _head_model()
    masked = _targets(np.full(6, MASKED, np.int32), np.full((6, 2), MASKED, np.float32))
    result = model.evaluate(FEATURES, masked, batch_size=6, return_dict=True, verbose=0)

    alone = _head_model(HEADS[:1])
    alone.get_layer("colour").set_weights(model.get_layer("colour").get_weights())
    reference = alone.evaluate(FEATURES, {"colour": COLOUR}, batch_size=6, return_dict=True, verbose=0)

    assert result["size_loss"] == 0.0 and result["tags_loss"] == 0.0
    assert result["loss"] == pytest.approx(reference["loss"], rel=1e-6)
    assert result["colour_loss"] == pytest.approx(reference["loss"], rel=1e-6)


def test_a_masked_rows_image_and_other_labels_leave_its_heads_loss_unchanged() -> None:
    model = _head_model()
    size = np.array([0, 1, MASKED, MASKED, 1, MASKED], np.int32)
    tags = np.full((6, 2), MASKED, np.float32)
    base = model.evaluate(FEATURES, _targets(size, tags), batch_size=6, return_dict=True, verbose=0)

    other_images = FEATURES.copy()
    other_images[[2, 3, 5]] = RNG.normal(size=(3, 4)) * 5  # rows without a size label
    moved = model.evaluate(other_images, _targets(size, tags), batch_size=6, return_dict=True, verbose=0)
    relabelled = {**_targets(size, tags), "colour": np.array([0, 1, 0, 1, 1, 0], np.int32)}
    recoloured = model.evaluate(FEATURES, relabelled, batch_size=6, return_dict=True, verbose=0)

    assert moved["size_loss"] == pytest.approx(base["size_loss"], rel=1e-6)
    assert moved["colour_loss"] != pytest.approx(base["colour_loss"], rel=1e-3)  # the images did change
    assert recoloured["size_loss"] == pytest.approx(base["size_loss"], rel=1e-6)
    assert recoloured["colour_loss"] != pytest.approx(base["colour_loss"], rel=1e-3)


def test_make_losses_records_the_scheme_it_uses() -> None:
    counts = {h.key: np.array([5, 15, 30][: h.size]) for h in HEADS}
    labelled = {h.key: 50 for h in HEADS}

    focal, focal_used = modelling.make_losses(HEADS, counts, labelled, Imbalance(scheme="focal", focal_gamma=3.0))
    weighted, used = modelling.make_losses(HEADS, counts, labelled, Imbalance(scheme="class_weights"))

    assert focal["colour"].gamma == 3.0 and focal["colour"].class_weights is None and focal_used == {}
    assert focal["tags"].gamma == 3.0 and focal["tags"].pos_weights is None
    assert weighted["colour"].gamma == 0.0
    assert used["colour"]["red"] > used["colour"]["green"] > used["colour"]["blue"]  # rarer weighs more
    assert set(used["tags"]["dots"]) == {"positive", "negative"}


def test_masked_rows_give_no_gradient_to_their_head() -> None:
    model = _head_model()
    size = np.array([0, MASKED, MASKED, MASKED, MASKED, MASKED], np.int32)
    tags = np.full((6, 2), MASKED, np.float32)
    losses, _ = modelling.make_losses(HEADS, {h.key: np.ones(h.size) for h in HEADS}, {h.key: 1 for h in HEADS},
                                      Imbalance(scheme="none"))

    def grads(rows: slice) -> list[np.ndarray]:
        with tf.GradientTape() as tape:
            out = model(FEATURES[rows], training=False)
            total = losses["size"](size[rows], out["size"]) + losses["tags"](tags[rows], out["tags"])
        return [g.numpy() for g in tape.gradient(total, model.get_layer("size").trainable_weights
                                                 + model.get_layer("tags").trainable_weights)]

    only_masked = grads(slice(1, 6))
    assert all(np.all(g == 0) for g in only_masked)
    with_one_label = grads(slice(0, 6))
    assert np.any(with_one_label[0] != 0) and np.all(with_one_label[2] == 0)  # size learns, tags does not


def test_the_loss_is_a_mean_over_labelled_rows_only() -> None:
    y_pred = tf.constant([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    loss = modelling.MaskedSparseCategoricalCrossentropy()

    with_masked = float(loss(np.array([0, MASKED, 2]), y_pred))

    assert with_masked == pytest.approx(-(np.log(0.7) + np.log(0.4)) / 2, rel=1e-5)
    assert float(loss(np.array([MASKED, MASKED, MASKED]), y_pred)) == 0.0
    multi = modelling.MaskedBinaryCrossentropy()
    y_multi = tf.constant([[0.9, 0.2], [0.5, 0.5]])
    assert float(multi(np.array([[1.0, 0.0], [MASKED, MASKED]]), y_multi)) == pytest.approx(
        -(np.log(0.9) + np.log(0.8)) / 2, rel=1e-5)


def test_focal_and_class_weights_reshape_the_loss() -> None:
    y_pred = tf.constant([[0.9, 0.1], [0.2, 0.8]])
    y_true = np.array([0, 1])
    plain = float(modelling.MaskedSparseCategoricalCrossentropy()(y_true, y_pred))
    keras_ce = float(keras.losses.SparseCategoricalCrossentropy()(y_true, y_pred))
    focal = float(modelling.MaskedSparseCategoricalCrossentropy(gamma=2.0)(y_true, y_pred))
    weighted = float(modelling.MaskedSparseCategoricalCrossentropy(class_weights=[3.0, 1.0])(y_true, y_pred))

    assert plain == pytest.approx(keras_ce, rel=1e-5)
    assert focal < plain / 10  # confident, correct predictions are down-weighted
    assert weighted == pytest.approx((3 * -np.log(0.9) + -np.log(0.8)) / 2, rel=1e-5)


def test_class_weights_follow_the_counts() -> None:
    counts = np.array([10, 30, 60, 0])

    weights = modelling.class_weights_from_counts(counts, max_weight=10.0)

    assert weights[0] > weights[1] > weights[2]
    assert weights[0] * 10 == pytest.approx(weights[1] * 30) == pytest.approx(weights[2] * 60)
    assert (weights[:3] * counts[:3]).sum() / counts.sum() == pytest.approx(1.0)  # mean 1 per image
    assert weights[3] == 1.0
    clipped = modelling.class_weights_from_counts(np.array([1, 1000]), max_weight=5.0)
    assert clipped.max() == 5.0
    pos, neg = modelling.binary_weights_from_counts(np.array([104, 27000]), 54000, max_weight=100.0)
    assert pos[0] > 100 * 0.99 and pos[0] > pos[1] and neg[0] < 1.0


def test_masked_metrics_count_labelled_rows_only() -> None:
    accuracy = modelling.MaskedSparseAccuracy()
    accuracy.update_state(np.array([0, MASKED, 1, MASKED]), tf.constant([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9]]))
    assert float(accuracy.result()) == pytest.approx(0.5)

    binary = modelling.MaskedBinaryAccuracy()
    binary.update_state(np.array([[1.0, 0.0], [MASKED, MASKED]]), tf.constant([[0.9, 0.7], [0.1, 0.1]]))
    assert float(binary.result()) == pytest.approx(0.5)


@pytest.mark.slow
def test_two_category_model_trains_one_epoch_and_reloads(store: LabelStore, tmp_path: Path) -> None:
    make_dataset(store, tmp_path / "data", n=16, categories=("colour", "size"))
    table = build_label_table(label_view(store, "tiny", NO_MAP), tmp_path / "data")
    ds = image_dataset(table.paths, table.targets(), image_size=32, batch_size=8, training=True)
    backbone = build_backbone("mobilenet_v3_small", weights="none", image_size=32)
    model = modelling.build_model(backbone, table.heads, dropout=0.1)
    losses, _ = modelling.make_losses(table.heads, table.value_counts(), table.labelled_counts(), Imbalance())
    modelling.compile_model(model, table.heads, losses, Imbalance(), 1e-2)
    before = model.get_layer("colour").get_weights()[0].copy()

    history = model.fit(ds, epochs=1, verbose=0, shuffle=False).history  # the dataset shuffles itself

    assert set(model.output_names) == {"colour", "size"}
    assert {"colour_loss", "size_loss", "colour_accuracy", "size_accuracy"} <= set(history)
    assert np.isfinite(history["loss"][0])
    assert not np.allclose(before, model.get_layer("colour").get_weights()[0])
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = next(iter(ds))[0][:2]
    np.testing.assert_allclose(again.predict_on_batch(x)["size"], model.predict_on_batch(x)["size"], atol=1e-5)
