"""The registry of image backbones: Keras applications and EfficientNet-Lite, with their preprocessing."""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion_core.errors import ModelError, WeightsUnavailableError
from fashion_core.modeling.partial_load import whole_load

if TYPE_CHECKING:  # Keras is imported lazily: a cold import costs seconds on 2 cores
    import keras

BACKBONE_LAYER = "backbone"  # name of the nested backbone model inside every studio model
DOWNLOAD_TIMEOUT_S = 10.0  # per socket operation while Keras fetches ImageNet weights

# How each family turns raw RGB 0..255 into the range its weights expect.
# "builtin": the network already does it; "tf": x / 127.5 - 1; "torch": x / 255, then ImageNet mean/std.
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone the studio can build.

    Attributes:
        name: Registry key, e.g. ``mobilenet_v3_small``.
        label: Display name.
        family: ``keras`` (keras.applications) or ``lite`` (the EfficientNet-Lite port).
        builder: The keras.applications function name, or the Lite variant (``lite0``).
        default_size: The input side the ImageNet weights were trained at.
        min_size: The smallest input side the architecture accepts.
        preprocessing: ``builtin``, ``tf`` or ``torch`` (see above).
    """

    name: str
    label: str
    family: str
    builder: str
    default_size: int
    min_size: int
    preprocessing: str

    @property
    def weight_choices(self) -> tuple[str, ...]:
        """The named weights this backbone accepts besides a file path."""
        return ("bundled", "imagenet", "none") if self.family == "lite" else ("imagenet", "none")

    @property
    def weight_suffixes(self) -> tuple[str, ...]:
        """File endings accepted for a local weights file."""
        return (".pth",) if self.family == "lite" else (".weights.h5", ".h5")

    @property
    def default_weights(self) -> str:
        return "bundled" if self.family == "lite" else "imagenet"


def _keras_app(name: str, label: str, builder: str, size: int, min_size: int, prep: str) -> BackboneSpec:
    return BackboneSpec(name, label, "keras", builder, size, min_size, prep)


def _lite(n: int, size: int) -> BackboneSpec:
    return BackboneSpec(f"efficientnet_lite{n}", f"EfficientNet-Lite{n}", "lite", f"lite{n}", size, 32, "builtin")


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        _lite(0, 224), _lite(1, 240), _lite(2, 260), _lite(3, 280), _lite(4, 300),
        _keras_app("mobilenet_v3_small", "MobileNetV3Small", "MobileNetV3Small", 224, 32, "builtin"),
        _keras_app("mobilenet_v3_large", "MobileNetV3Large", "MobileNetV3Large", 224, 32, "builtin"),
        _keras_app("efficientnet_v2_b0", "EfficientNetV2B0", "EfficientNetV2B0", 224, 32, "builtin"),
        _keras_app("resnet50_v2", "ResNet50V2", "ResNet50V2", 224, 32, "tf"),
        _keras_app("densenet121", "DenseNet121", "DenseNet121", 224, 32, "torch"),
        _keras_app("inception_resnet_v2", "InceptionResNetV2", "InceptionResNetV2", 299, 75, "tf"),
    )
}


def backbone_spec(name: str) -> BackboneSpec:
    """Return the registry entry of a backbone.

    Raises:
        ModelError: Unknown name (the message lists the known ones).
    """
    try:
        return BACKBONES[name]
    except KeyError:
        raise ModelError(f"`backbone` must be one of {sorted(BACKBONES)}. Received: backbone={name!r}") from None


def weights_problem(name: str, weights: str) -> str | None:
    """Say what is wrong with a weights choice for a backbone, or None if it is acceptable.

    Only the form is checked here (named choice or file ending); a file's existence is
    checked when the backbone is built, so a stored config stays readable after a move.
    """
    spec = backbone_spec(name)
    if weights in spec.weight_choices:
        return None
    if weights in ("bundled", "imagenet", "none"):
        return f"{spec.label} accepts weights {list(spec.weight_choices)} or a weights file; got {weights!r}"
    if not weights.lower().endswith(spec.weight_suffixes):
        return (
            f"a weights file for {spec.label} must end with {' or '.join(spec.weight_suffixes)};"
            f" got weights={weights!r}"
        )
    return None


def build_backbone(name: str, *, weights: str | Path, image_size: int) -> keras.Model:
    """Build a backbone that takes raw RGB pixels and returns pooled features.

    The model's input is ``(image_size, image_size, 3)`` float32 in 0..255; its
    preprocessing is part of the model, so prediction and TFLite export need none.

    Args:
        name: A key of ``BACKBONES``.
        weights: ``bundled`` (Lite only; its pip package's ImageNet weights), ``imagenet``
            (Keras's download, cached; for Lite the bundled ImageNet weights), ``none``
            (random init) or the path of a local weights file.
        image_size: Input side in pixels.

    Returns:
        A ``keras.Model`` named ``backbone`` with output ``(batch, features)``.

    Raises:
        ModelError: Unknown backbone, bad size or weights that do not fit.
        WeightsUnavailableError: Weights cannot be had (offline download, missing file).
    """
    import keras

    spec = backbone_spec(name)
    _check_size(spec, image_size)
    problem = weights_problem(name, str(weights))
    if problem:
        raise ModelError(problem)
    shape = (image_size, image_size, 3)
    inputs = keras.Input(shape=shape, name="image", dtype="float32")
    if spec.family == "lite":
        base = _build_lite(spec, str(weights), shape)
    else:
        base = _build_keras_app(spec, str(weights), shape)
    features = base(_preprocess(spec, inputs))
    return keras.Model(inputs, features, name=BACKBONE_LAYER)


def weights_fingerprint(model: keras.Model) -> str:
    """SHA-256 of a model's weight values: the true identity of the features it computes.

    Hashing the values (rather than naming the weights source) also covers random init
    and locally edited weight files.
    """
    h = hashlib.sha256()
    for w in model.weights:
        value = w.numpy()
        h.update(str((w.path, value.shape, value.dtype.str)).encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _check_size(spec: BackboneSpec, image_size: int) -> None:
    if not isinstance(image_size, int) or image_size < spec.min_size:
        raise ModelError(
            f"{spec.label} needs `image_size` >= {spec.min_size}. Received: image_size={image_size!r}"
        )


def _preprocess(spec: BackboneSpec, x: Any) -> Any:
    import keras

    if spec.preprocessing == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    if spec.preprocessing == "torch":
        x = keras.layers.Rescaling(1.0 / 255.0, name="preprocess_scale")(x)
        variance = [s * s for s in _TORCH_STD]
        return keras.layers.Normalization(mean=list(_TORCH_MEAN), variance=variance, name="preprocess")(x)
    return x


def _build_lite(spec: BackboneSpec, weights: str, shape: tuple[int, int, int]) -> keras.Model:
    from fashion_core.modeling.efficientnet_lite import build_efficientnet_lite

    # The bundled checkpoint *is* ImageNet-trained; "imagenet" means the same here.
    chosen: str | None = {"none": None, "imagenet": "bundled"}.get(weights, weights)
    return build_efficientnet_lite(spec.builder, input_shape=shape, include_top=False, pooling="avg", weights=chosen)


def _build_keras_app(spec: BackboneSpec, weights: str, shape: tuple[int, int, int]) -> keras.Model:
    import keras

    builder = getattr(keras.applications, spec.builder)
    kwargs: dict[str, Any] = {"include_top": False, "input_shape": shape, "pooling": "avg"}
    if weights == "none":
        return builder(weights=None, **kwargs)
    if weights != "imagenet":
        if not Path(weights).is_file():
            raise WeightsUnavailableError(f"Weights file for {spec.label} not found: {weights}")
        return _load_weights_file(builder, spec, weights, kwargs)
    with _socket_timeout(DOWNLOAD_TIMEOUT_S):
        try:
            return builder(weights="imagenet", **kwargs)
        except Exception as exc:  # keras raises a bare Exception("URL fetch failure ...")
            if not _is_download_failure(exc):
                raise
            raise WeightsUnavailableError(_offline_message(spec, exc)) from exc


def _load_weights_file(builder: Any, spec: BackboneSpec, weights: str, kwargs: dict[str, Any]) -> keras.Model:
    fix = "Save the weights again with this Keras version, or choose weights 'imagenet' or 'none'"
    with whole_load(f"Weights file {weights} for {spec.label}", fix):
        try:
            return builder(weights=str(weights), **kwargs)
        except (ValueError, OSError) as exc:
            raise ModelError(f"Weights file {weights} does not fit {spec.label} without its top: {exc}") from exc


def _is_download_failure(exc: BaseException) -> bool:
    if isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError, socket.gaierror)):
        return True
    return str(exc).startswith("URL fetch failure")


def _offline_message(spec: BackboneSpec, exc: BaseException) -> str:
    # Keras says "URL fetch failure on <url>: <reason>"; the URL ends at the colon before the reason.
    found = re.search(r"URL fetch failure on (\S+): ", str(exc))
    url = found.group(1) if found else "the Keras applications weights URL"
    file_name = url.rsplit("/", 1)[-1] if found else "<name>_notop.h5"
    return (
        f"ImageNet weights for {spec.label} could not be downloaded ({exc}); this machine seems to be"
        f" offline. To use them, download {url} on a machine with internet, then either pass the"
        f" file as the weights (CLI: --weights /path/to/{file_name}; Train page: Weights 'file' and its path"
        f" field) or copy it into Keras's cache folder ($KERAS_HOME/models, by default"
        f" ~/.keras/models/). Or choose weights 'none', or the efficientnet_lite0 backbone, whose"
        f" ImageNet weights ship with the studio."
    )


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Bound each socket operation of Keras's urllib download, so a dead network fails fast."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
