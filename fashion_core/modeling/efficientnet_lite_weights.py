"""EfficientNet-Lite weights: PyTorch checkpoint tensors assigned to the Keras layers by name."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_core.errors import ModelError

if TYPE_CHECKING:  # Keras is imported lazily: a cold import costs seconds on 2 cores
    import keras


# Keras layer name -> PyTorch module path in the efficientnet_lite_pytorch layout.
_TOP_LEVEL_NAMES = {
    "stem_conv": "_conv_stem",
    "stem_bn": "_bn0",
    "head_conv": "_conv_head",
    "head_bn": "_bn1",
    "predictions": "_fc",
}
_BLOCK_PART_NAMES = {
    "expand_conv": "_expand_conv",
    "expand_bn": "_bn0",
    "dwconv": "_depthwise_conv",
    "dw_bn": "_bn1",
    "project_conv": "_project_conv",
    "project_bn": "_bn2",
}


def torch_module_path(layer_name: str) -> str:
    """Return the PyTorch module path whose tensors fill the Keras layer ``layer_name``.

    Raises:
        ModelError: The layer has no counterpart in the checkpoint layout.
    """
    if layer_name in _TOP_LEVEL_NAMES:
        return _TOP_LEVEL_NAMES[layer_name]
    match = re.fullmatch(r"block(\d+)_(\w+)", layer_name)
    if match and match.group(2) in _BLOCK_PART_NAMES:
        return f"_blocks.{int(match.group(1))}.{_BLOCK_PART_NAMES[match.group(2)]}"
    raise ModelError(f"Layer {layer_name!r} has no counterpart in an EfficientNet-Lite checkpoint")


def assign_torch_weights(
    model: keras.Model,
    state: dict[str, np.ndarray],
    *,
    source: str = "checkpoint",
    include_top: bool = True,
) -> None:
    """Copy a PyTorch state dict into ``model``, using every tensor exactly once.

    BatchNorm ``num_batches_tracked`` counters are not weights and are skipped; so is the
    ``_fc`` classifier when ``include_top`` is false.

    Args:
        model: A model from ``build_efficientnet_lite``.
        state: Name -> array, as ``load_torch_state_dict`` returns.
        source: Where the state came from, for error messages.
        include_top: Whether ``model`` has the classifier that ``_fc`` fills.

    Raises:
        ModelError: A tensor is missing, left over or has the wrong shape.
    """
    remaining = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
    if not include_top:
        remaining.pop("_fc.weight", None)
        remaining.pop("_fc.bias", None)
    for layer in model.layers:
        if layer.weights:
            values = _layer_values(layer, remaining, source)
            _check_shapes(layer, values, source)
            layer.set_weights(values)
    if remaining:
        raise ModelError(
            f"{source}: {len(remaining)} tensors have no place in {model.name}, "
            f"e.g. {sorted(remaining)[:5]}; is it the checkpoint of another variant?"
        )


def _take(remaining: dict[str, np.ndarray], key: str, source: str) -> np.ndarray:
    if key not in remaining:
        raise ModelError(f"{source}: tensor {key!r} is missing (or was used twice)")
    return remaining.pop(key)


def _layer_values(layer: Any, remaining: dict[str, np.ndarray], source: str) -> list[np.ndarray]:
    """Take the layer's tensors out of ``remaining`` and convert them to Keras layouts."""
    import keras

    path = torch_module_path(layer.name)
    take = lambda suffix: _take(remaining, f"{path}.{suffix}", source)  # noqa: E731
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [take("weight").transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return [take("weight").transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    if isinstance(layer, keras.layers.BatchNormalization):
        return [take(s) for s in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.Dense):
        return [take("weight").T, take("bias")]  # Linear (out, in) -> Dense (in, out)
    raise ModelError(f"Layer {layer.name!r} of type {type(layer).__name__} cannot take weights")


def _check_shapes(layer: Any, values: list[np.ndarray], source: str) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    found = [tuple(v.shape) for v in values]
    if expected != found:
        raise ModelError(
            f"{source}: tensors for layer {layer.name!r} ({torch_module_path(layer.name)}) have "
            f"shapes {found} after conversion, the layer needs {expected}"
        )
