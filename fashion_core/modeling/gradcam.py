"""Grad-CAM: where in a photo a category's answer came from, as a heat map over the photo."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from fashion_core.errors import ModelError

if TYPE_CHECKING:  # TensorFlow and Keras load lazily: a cold import costs seconds
    import keras

BACKBONE_LAYER = "backbone"  # as fashion_core.modeling.backbones names it (imported lazily there)
_LOCK = threading.Lock()  # the capture below briefly wraps a layer of a model other threads share

# A perceptual blue -> cyan -> yellow -> red ramp (no matplotlib needed): (position, RGB).
_RAMP = np.array(
    [[0.0, 0, 0, 130], [0.25, 0, 120, 255], [0.5, 40, 220, 200], [0.75, 255, 220, 0], [1.0, 220, 20, 0]],
    dtype=np.float32,
)


@dataclass(frozen=True)
class Heatmap:
    """One output's Grad-CAM.

    Attributes:
        output: The model output (a head key; the category name for FashionAI).
        index: The value index explained (the most probable one).
        prob: Its probability.
        heatmap: float32 ``(S, S)`` in [0, 1] over the model's input; 1 = most important.
        layer: The feature layer the gradients were taken at.
    """

    output: str
    index: int
    prob: float
    heatmap: np.ndarray
    layer: str


def last_feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The last layer with a 4-D (batch, H, W, C) output inside the model's backbone.

    Searched generically through nested models, so any backbone of the registry (or a
    model without a ``backbone`` sub-model: then the whole model) works.

    Raises:
        ModelError: No layer with a spatial output exists.
    """
    import keras

    try:
        root = model.get_layer(BACKBONE_LAYER)
    except ValueError:
        root = model
    found = None
    for layer in _walk(root, keras.Model):
        shape = _output_shape(layer)
        if shape is not None and len(shape) == 4:
            found = layer
    if found is None:
        raise ModelError(f"Model {model.name!r} has no layer with a 4-D output to take Grad-CAM at")
    return found


def gradcam_heatmaps(
    model: keras.Model,
    pixels: np.ndarray,
    outputs: Sequence[str] | None = None,
    *,
    layer: keras.layers.Layer | None = None,
) -> dict[str, Heatmap]:
    """Grad-CAM of each output's most probable value for one image, from one forward pass.

    The gradient of the value's score (its logit when the output layer is a Dense with
    softmax or sigmoid, else its probability) with respect to the feature map, averaged
    over the map, weighs the map's channels; the ReLU of the weighted sum, scaled to
    [0, 1] and resized to the input size, is the heat map.

    Args:
        model: A studio model (dict of per-output probabilities).
        pixels: One image as the model takes it, ``(S, S, 3)`` in 0..255.
        outputs: Output names to explain (default: all).
        layer: The feature layer (default: ``last_feature_layer(model)``).

    Raises:
        ModelError: An unknown output, or no spatial feature layer.
    """
    import tensorflow as tf

    target = layer or last_feature_layer(model)
    image = tf.convert_to_tensor(np.asarray(pixels, np.float32)[np.newaxis])
    names = list(outputs) if outputs is not None else list(model.output_names)
    heads = {n: _output_layer(model, n) for n in names}
    with _LOCK, _capture([target, *heads.values()]) as seen, tf.GradientTape(persistent=True) as tape:
        probs = model(image, training=False)
        scores = {n: _score(heads[n], seen, probs[n]) for n in names}
    features = seen[id(target)][1]
    maps = {}
    for n in names:
        index, score = scores[n]
        grads = tape.gradient(score, features)
        maps[n] = Heatmap(
            n, index, float(probs[n][0, index]), _cam(features[0], grads[0], image.shape[1:3]), target.name
        )
    del tape
    return maps


def overlay_heatmap(photo: Image.Image, heatmap: np.ndarray, *, alpha: float = 0.45) -> Image.Image:
    """The photo with the heat map (resized to it) blended on top in a blue-to-red ramp."""
    rgb = photo.convert("RGB")
    heat = Image.fromarray(np.uint8(np.clip(heatmap, 0.0, 1.0) * 255)).resize(
        rgb.size, Image.Resampling.BILINEAR
    )
    colours = colourize(np.asarray(heat, np.float32) / 255.0)
    return Image.blend(rgb, Image.fromarray(colours), float(np.clip(alpha, 0.0, 1.0)))


def colourize(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB colours of the ramp."""
    v = np.clip(values, 0.0, 1.0)[..., np.newaxis]
    channels = [np.interp(v, _RAMP[:, 0], _RAMP[:, c]) for c in (1, 2, 3)]
    return np.concatenate(channels, axis=-1).astype(np.uint8)


def _cam(features: Any, grads: Any, size: Sequence[int]) -> np.ndarray:
    import tensorflow as tf

    if grads is None:  # the output does not depend on this layer
        return np.zeros(tuple(size), np.float32)
    weights = tf.reduce_mean(grads, axis=(0, 1))
    cam = tf.nn.relu(tf.reduce_sum(features * weights, axis=-1))
    # Scaled after resizing, so the hottest pixel of the map shown is exactly 1.
    cam = tf.image.resize(cam[..., tf.newaxis], tuple(size), method="bilinear")[..., 0].numpy()
    top = float(cam.max())
    return np.clip(cam / top if top > 0 else cam, 0.0, 1.0).astype(np.float32)


def _score(head: Any, seen: dict[int, tuple[Any, Any]], probs: Any) -> tuple[int, Any]:
    """The most probable value's index and score: its logit, recomputed from the head's input."""
    import tensorflow as tf

    index = int(tf.argmax(probs[0]))
    if head is None or id(head) not in seen or not hasattr(head, "kernel"):
        return index, probs[0, index]
    inputs = seen[id(head)][0]
    logits = tf.matmul(inputs, head.kernel) + (head.bias if head.use_bias else 0.0)
    return index, logits[0, index]


def _output_layer(model: keras.Model, name: str) -> Any:
    if name not in model.output_names:
        raise ModelError(f"{name!r} is not an output of the model; outputs: {list(model.output_names)}")
    try:
        layer = model.get_layer(name)
    except ValueError:
        return None
    return layer if getattr(layer, "activation", None) is not None and hasattr(layer, "kernel") else None


@contextlib.contextmanager
def _capture(layers: Sequence[Any]) -> Iterator[dict[int, tuple[Any, Any]]]:
    """Record (first input, output) of each layer while the model runs eagerly.

    Keras 3 has no forward hooks, and the feature map lives inside a nested backbone, out
    of reach of a ``keras.Model(inputs, [feature, outputs])``; wrapping the layers' ``call``
    (and restoring it) sees the tensors where the tape records them.
    """
    seen: dict[int, tuple[Any, Any]] = {}
    wrapped = []
    for layer in layers:
        if layer is None or "call" in vars(layer):
            continue
        layer.call = _recording(layer, layer.call, seen)
        wrapped.append(layer)
    try:
        yield seen
    finally:
        for layer in wrapped:
            del layer.call


def _recording(layer: Any, call: Any, seen: dict[int, tuple[Any, Any]]) -> Any:
    def record(*args: Any, **kwargs: Any) -> Any:
        out = call(*args, **kwargs)
        seen[id(layer)] = (args[0] if args else None, out)
        return out

    return record


def _walk(model: Any, model_type: type) -> Iterator[Any]:
    for layer in model.layers:
        if isinstance(layer, model_type):
            yield from _walk(layer, model_type)
        else:
            yield layer


def _output_shape(layer: Any) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # not called yet, or called more than once
        return None
