"""Quick mode's training loop: the heads on cached feature vectors, with one small compiled step.

``keras.Model.fit`` traces a training and an evaluation graph with every head's loss and
metrics on each run; for eight small dense heads that tracing takes most of a retrain. Here
one ``tf.function`` holds just the forward pass, the masked losses and the update, and the
metrics are computed in NumPy from one forward pass over each split per epoch. The logs have
the names ``fit`` gives them, so the same callbacks (progress, best weights, early stopping,
learning-rate reduction) and the same history columns serve both modes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from fashion_core.modeling.heads import Head
from fashion_core.modeling.table import MASKED


def fit_heads(
    model: keras.Model,
    heads: Sequence[Head],
    losses: Mapping[str, keras.losses.Loss],
    loss_weights: Mapping[str, float],
    train: tuple[np.ndarray, Mapping[str, np.ndarray]],
    val: tuple[np.ndarray, Mapping[str, np.ndarray]],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    callbacks: Sequence[keras.callbacks.Callback],
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train ``model`` (features in, a dict of head outputs out) and return each epoch's logs.

    Args:
        model: The head model (``build_head_model``).
        heads: Its heads, in output order.
        losses: Masked loss per head key; ``loss_weights`` weights them in the total.
        train: (features, targets per head key) to learn from; ``val``: to judge each epoch by.
        epochs: Epochs at most (an early-stopping callback may end sooner).
        batch_size: Rows per step; learning_rate: Adam's starting rate.
        callbacks: Keras callbacks, called as ``fit`` would (model and params set).
        seed: Seed of the per-epoch shuffling.
    """
    features, targets = train
    optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer)  # no loss or metrics: nothing is traced; callbacks reach the lr
    optimizer.build(model.trainable_variables)  # its variables must exist before the step is traced
    model.stop_training = False
    keys = [h.key for h in heads]
    weights = [float(loss_weights.get(k, 1.0)) for k in keys]

    @tf.function(reduce_retracing=True)
    def step(x: tf.Tensor, ys: dict[str, tf.Tensor]) -> tf.Tensor:
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            total = tf.add_n([w * losses[k](ys[k], outputs[k]) for k, w in zip(keys, weights)])
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return total

    steps = -(-len(features) // batch_size)
    hooks = keras.callbacks.CallbackList(list(callbacks), model=model, epochs=epochs, steps=steps, verbose=0)
    rng = np.random.default_rng(seed)
    history: list[dict[str, float]] = []
    hooks.on_train_begin()
    for epoch in range(epochs):
        hooks.on_epoch_begin(epoch)
        order = rng.permutation(len(features))
        for i in range(steps):
            x, ys = _padded_batch(features, targets, order[i * batch_size:(i + 1) * batch_size], batch_size)
            loss = step(tf.constant(x), {k: tf.constant(y) for k, y in ys.items()})
            hooks.on_train_batch_end(i, {"loss": float(loss)})
        logs = {**split_logs(model, heads, losses, weights, train), **split_logs(model, heads, losses, weights, val,
                                                                                  prefix="val_")}
        hooks.on_epoch_end(epoch, logs)
        history.append(logs)
        if model.stop_training:
            break
    hooks.on_train_end()
    return history


def _padded_batch(features: np.ndarray, targets: Mapping[str, np.ndarray], rows: np.ndarray,
                  batch_size: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The rows' features and targets, a short last batch padded with unlabelled rows.

    Padding keeps every batch the same shape, so the step is traced once (a second trace for
    the last batch cost as much as all the training). Unlabelled rows are masked out of every
    loss, so they change nothing.
    """
    x, ys = features[rows], {k: v[rows] for k, v in targets.items()}
    short = batch_size - len(rows)
    if short > 0:
        x = np.concatenate([x, np.zeros((short, *x.shape[1:]), x.dtype)])
        ys = {k: np.concatenate([y, np.full((short, *y.shape[1:]), MASKED, y.dtype)]) for k, y in ys.items()}
    return x, ys


def split_logs(model: keras.Model, heads: Sequence[Head], losses: Mapping[str, keras.losses.Loss],
               weights: Sequence[float], split: tuple[np.ndarray, Mapping[str, np.ndarray]],
               prefix: str = "") -> dict[str, float]:
    """Loss and metrics of one split under the current weights, named as ``fit`` names them."""
    features, targets = split
    if not len(features):
        return {}
    outputs = model(features, training=False)
    logs: dict[str, float] = {}
    total = 0.0
    for head, weight in zip(heads, weights):
        y_true, y_pred = targets[head.key], np.asarray(outputs[head.key])
        loss = float(losses[head.key](y_true, y_pred))
        total += weight * loss
        logs[f"{prefix}{head.key}_loss"] = loss
        logs.update({f"{prefix}{head.key}_{k}": v for k, v in head_metrics(head, y_true, y_pred).items()})
    logs[f"{prefix}loss"] = total
    return logs


def head_metrics(head: Head, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy over labelled rows (and pooled ROC AUC for a multi-label head); {} without labels."""
    if head.multi:
        rows = y_true[:, 0] >= 0
        if not rows.any():
            return {}
        truth, probs = y_true[rows], y_pred[rows]
        out = {"accuracy": float(np.mean((probs > 0.5) == (truth > 0.5)))}
        if 0 < truth.sum() < truth.size:
            out["auc"] = float(roc_auc_score(truth.ravel(), probs.ravel()))
        return out
    y = y_true.reshape(-1)
    rows = y >= 0
    if not rows.any():
        return {}
    return {"accuracy": float(np.mean(np.argmax(y_pred[rows], axis=-1) == y[rows]))}
