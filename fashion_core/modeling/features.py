"""The shared features of a run's model (its backbone's pooled output): what familiarity, the
per-category *applies* estimate and the suspicious-label queue compare photos by."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from fashion_core.modeling.backbones import BACKBONE_LAYER

FeatureFn = Callable[[np.ndarray], np.ndarray]


def feature_function(model: keras.Model) -> FeatureFn:
    """A traced forward pass of ``model``'s backbone: float32 ``(N, S, S, 3)`` 0..255 pixels to ``(N, D)``.

    The backbone is the fine-tuned one of a full run (and the frozen pretrained one of a quick run),
    so its features separate the run's own values better than pretrained ones.
    """
    backbone = model.get_layer(BACKBONE_LAYER)
    traced = tf.function(lambda x: backbone(x, training=False), reduce_retracing=True)
    return lambda batch: np.asarray(traced(tf.convert_to_tensor(batch, tf.float32)), dtype=np.float32)
