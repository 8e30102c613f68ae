"""The multi-head model: a shared backbone, one head per category, masked losses and metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from fashion_core.modeling.backbones import BACKBONE_LAYER
from fashion_core.modeling.config import Imbalance
from fashion_core.modeling.heads import Head

MODEL_NAME = "attribute_model"
_EPS = 1e-7
_PACKAGE = "fashion_core"
# XLA for training steps: Keras's "auto" uses it only with an accelerator (on a CPU it compiles
# slowly and gains little). A module setting so a benchmark can try True without a config field.
JIT_COMPILE: bool | str = "auto"


def _masked_terms(loss: Any, mask: Any) -> Any:
    """Per-row losses scaled so Keras's mean over the batch becomes a mean over labelled rows.

    ``sum_over_batch_size`` divides by the batch size; multiplying by batch/labelled makes
    that ``sum(loss over labelled) / labelled``, and 0 for a batch with no label at all.
    """
    batch = ops.cast(ops.shape(mask)[0], loss.dtype)
    labelled = ops.sum(mask)
    return loss * mask * ops.divide_no_nan(batch, labelled)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy of a softmax head over labelled rows only (target -1 = no label).

    Args:
        class_weights: Optional weight per value, applied to each row by its true value.
        gamma: Focal-loss focusing parameter; 0 gives plain cross-entropy.
    """

    def __init__(self, class_weights: Sequence[float] | None = None, gamma: float = 0.0,
                 name: str = "masked_sparse_ce", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.gamma = float(gamma)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        mask = ops.cast(y >= 0, y_pred.dtype)
        safe = ops.maximum(y, 0)
        p_true = ops.take_along_axis(ops.clip(y_pred, _EPS, 1.0), ops.expand_dims(safe, -1), axis=-1)[:, 0]
        loss = -ops.log(p_true)
        if self.gamma:
            loss = loss * ops.power(1.0 - p_true, self.gamma)
        if self.class_weights is not None:
            loss = loss * ops.take(ops.convert_to_tensor(self.class_weights, dtype=loss.dtype), safe)
        return _masked_terms(loss, mask)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "class_weights": self.class_weights, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of a sigmoid (multi-label) head; rows whose target is all -1 are masked.

    Args:
        pos_weights: Optional weight of a positive per class.
        neg_weights: Optional weight of a negative per class.
        gamma: Focal-loss focusing parameter; 0 gives plain binary cross-entropy.
    """

    def __init__(self, pos_weights: Sequence[float] | None = None, neg_weights: Sequence[float] | None = None,
                 gamma: float = 0.0, name: str = "masked_binary_ce", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.pos_weights = None if pos_weights is None else [float(w) for w in pos_weights]
        self.neg_weights = None if neg_weights is None else [float(w) for w in neg_weights]
        self.gamma = float(gamma)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        mask = ops.cast(y_true[:, 0] >= 0, y_pred.dtype)
        y = ops.maximum(y_true, 0.0)
        p = ops.clip(y_pred, _EPS, 1.0 - _EPS)
        p_t = y * p + (1.0 - y) * (1.0 - p)
        loss = -ops.log(p_t)
        if self.gamma:
            loss = loss * ops.power(1.0 - p_t, self.gamma)
        if self.pos_weights is not None and self.neg_weights is not None:
            pos = ops.convert_to_tensor(self.pos_weights, dtype=loss.dtype)
            neg = ops.convert_to_tensor(self.neg_weights, dtype=loss.dtype)
            loss = loss * (y * pos + (1.0 - y) * neg)
        return _masked_terms(ops.mean(loss, axis=-1), mask)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pos_weights": self.pos_weights, "neg_weights": self.neg_weights,
                "gamma": self.gamma}


class _MaskedMean(keras.metrics.Metric):
    """A running mean of per-item scores over labelled items only."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _add(self, scores: Any, mask: Any) -> None:
        self.total.assign_add(ops.sum(ops.cast(scores, "float32") * mask))
        self.count.assign_add(ops.sum(mask))

    def result(self) -> Any:
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self) -> None:
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedSparseAccuracy(_MaskedMean):
    """Accuracy of a softmax head over labelled rows (target >= 0)."""

    def __init__(self, name: str = "accuracy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        mask = ops.cast(y >= 0, "float32")
        self._add(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y), mask)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedBinaryAccuracy(_MaskedMean):
    """Per-class accuracy (threshold 0.5) of a sigmoid head over labelled rows."""

    def __init__(self, name: str = "accuracy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        row_mask = ops.cast(y_true[:, :1] >= 0, "float32")
        correct = ops.equal(ops.cast(y_pred > 0.5, "float32"), ops.cast(y_true, "float32"))
        self._add(correct, ops.broadcast_to(row_mask, ops.shape(y_true)))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedAUC(keras.metrics.AUC):
    """ROC AUC of a sigmoid head over labelled rows (all classes pooled)."""

    def __init__(self, name: str = "auc", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        row_mask = ops.cast(y_true[:, :1] >= 0, "float32")
        weights = ops.broadcast_to(row_mask, ops.shape(y_true))
        super().update_state(ops.maximum(y_true, 0.0), y_pred, sample_weight=weights)


CUSTOM_OBJECTS: dict[str, type] = {
    cls.__name__: cls
    for cls in (MaskedSparseCategoricalCrossentropy, MaskedBinaryCrossentropy, MaskedSparseAccuracy,
                MaskedBinaryAccuracy, MaskedAUC)
}


# -- class weights ---------------------------------------------------------------------------


def class_weights_from_counts(counts: np.ndarray, max_weight: float) -> np.ndarray:
    """Inverse-frequency weights per value: mean 1 over labelled images, clipped to [1/max, max].

    Values without any image get weight 1 (they never occur in a loss).
    """
    counts = np.asarray(counts, dtype=np.float64)
    weights = np.ones_like(counts)
    present = counts > 0
    if present.any():
        weights[present] = counts.sum() / (present.sum() * counts[present])
    return np.clip(weights, 1.0 / max_weight, max_weight)


def binary_weights_from_counts(positives: np.ndarray, labelled: int, max_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Balanced positive/negative weights per class of a multi-label head, clipped."""
    pos = np.asarray(positives, dtype=np.float64)
    neg = labelled - pos
    pos_w = np.where(pos > 0, labelled / (2.0 * np.maximum(pos, 1)), 1.0)
    neg_w = np.where(neg > 0, labelled / (2.0 * np.maximum(neg, 1)), 1.0)
    return np.clip(pos_w, 1.0 / max_weight, max_weight), np.clip(neg_w, 1.0 / max_weight, max_weight)


# -- building and compiling ------------------------------------------------------------------


def head_outputs(features: Any, heads: Sequence[Head], dropout: float) -> dict[str, Any]:
    """Dropout + Dense per head on shared features; softmax or sigmoid, float32 outputs."""
    outputs = {}
    for head in heads:
        x = keras.layers.Dropout(dropout, name=f"{head.key}_dropout")(features)
        activation = "sigmoid" if head.multi else "softmax"
        # float32 outputs keep the losses stable under mixed precision.
        outputs[head.key] = keras.layers.Dense(head.size, activation=activation, dtype="float32", name=head.key)(x)
    return outputs


def build_model(backbone: keras.Model, heads: Sequence[Head], *, dropout: float = 0.2) -> keras.Model:
    """Image in (raw 0..255 pixels), a dict of per-category probabilities out.

    The backbone runs with ``training=False``: its BatchNorm statistics stay those of the
    pretrained weights even while fine-tuning, which small data sets need.
    """
    inputs = keras.Input(shape=backbone.input_shape[1:], name="image")
    features = backbone(inputs, training=False)
    return keras.Model(inputs, head_outputs(features, heads, dropout), name=MODEL_NAME)


def build_head_model(feature_dim: int, heads: Sequence[Head], *, dropout: float = 0.2) -> keras.Model:
    """The heads alone, on cached feature vectors (quick mode)."""
    inputs = keras.Input(shape=(feature_dim,), name="features")
    return keras.Model(inputs, head_outputs(inputs, heads, dropout), name="heads")


def assemble_model(backbone: keras.Model, head_model: keras.Model, heads: Sequence[Head]) -> keras.Model:
    """Backbone + trained heads as one image model, laid out exactly like ``build_model``'s."""
    inputs = keras.Input(shape=backbone.input_shape[1:], name="image")
    features = backbone(inputs, training=False)
    outputs = {
        h.key: head_model.get_layer(h.key)(head_model.get_layer(f"{h.key}_dropout")(features)) for h in heads
    }
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def set_backbone_trainable(model: keras.Model, trainable: bool, top_share: float = 1.0) -> None:
    """Freeze the backbone, or unfreeze the top ``top_share`` of its layers (1.0 = all).

    Gradients stop at the lowest trainable layer, so leaving the early, high-resolution
    layers frozen makes a fine-tuning step several times cheaper (2x with eight heads, 3-4x
    with one, for EfficientNet-Lite0 at 128 px with the top half trainable).
    """
    backbone = model.get_layer(BACKBONE_LAYER)
    backbone.trainable = trainable
    if trainable and top_share < 1.0:
        layers = _leaf_layers(backbone)
        for layer in layers[: round(len(layers) * (1.0 - top_share))]:
            layer.trainable = False


def _leaf_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers of a (possibly nested) model in order, models themselves unfolded."""
    if isinstance(layer, keras.Model):
        return [leaf for inner in layer.layers for leaf in _leaf_layers(inner)]
    return [layer]


def make_losses(heads: Sequence[Head], counts: Mapping[str, np.ndarray], labelled: Mapping[str, int],
                imbalance: Imbalance) -> tuple[dict[str, keras.losses.Loss], dict[str, Any]]:
    """The loss of each head under the imbalance scheme, and the weights used (for the record)."""
    gamma = imbalance.focal_gamma if imbalance.scheme == "focal" else 0.0
    weighted = imbalance.scheme == "class_weights"
    losses: dict[str, keras.losses.Loss] = {}
    used: dict[str, Any] = {}
    for head in heads:
        if head.multi:
            pos_w, neg_w = binary_weights_from_counts(counts[head.key], labelled[head.key], imbalance.max_class_weight)
            losses[head.key] = MaskedBinaryCrossentropy(pos_w if weighted else None, neg_w if weighted else None, gamma)
            if weighted:
                used[head.name] = {v: {"positive": round(float(p), 4), "negative": round(float(n), 4)}
                                   for v, p, n in zip(head.category.values, pos_w, neg_w)}
        else:
            weights = class_weights_from_counts(counts[head.key], imbalance.max_class_weight)
            losses[head.key] = MaskedSparseCategoricalCrossentropy(weights if weighted else None, gamma)
            if weighted:
                used[head.name] = {v: round(float(w), 4) for v, w in zip(head.category.values, weights)}
    return losses, used


def make_metrics(heads: Sequence[Head]) -> dict[str, list[keras.metrics.Metric]]:
    return {h.key: ([MaskedBinaryAccuracy(), MaskedAUC()] if h.multi else [MaskedSparseAccuracy()]) for h in heads}


def head_loss_weights(heads: Sequence[Head], imbalance: Imbalance) -> dict[str, float]:
    """Each head's weight in the total loss, by head key."""
    return {h.key: imbalance.head_weight(h.name) for h in heads}


def compile_model(model: keras.Model, heads: Sequence[Head], losses: Mapping[str, keras.losses.Loss],
                  imbalance: Imbalance, learning_rate: float) -> None:
    """Compile with Adam, the per-head losses and loss weights, and masked metrics."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=dict(losses),
        loss_weights=head_loss_weights(heads, imbalance),
        metrics=make_metrics(heads),
        jit_compile=JIT_COMPILE,
    )
