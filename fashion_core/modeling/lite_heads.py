"""A quick run's serving model in two parts: the shared backbone in LiteRT, the heads in NumPy.

A quick run trains only the heads, on a frozen pretrained backbone: every quick run with the same
backbone weights and image size has the very same backbone. Converting it to TFLite (~11 s of a
~20 s retrain) is done once and kept in the workspace (``modeling.serving_model``); each run then
writes only its heads, ``serving-heads.npz``: per category the Dense layer's kernel and bias and
whether it is a sigmoid (multi-label) or a softmax head. ``HeadsForward`` answers exactly like a
whole-model ``LiteForward`` (the same outputs, ``FEATURES`` included), and it is checked against the
Keras model before it is kept. NumPy and LiteRT only, like ``modeling.lite``.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_core.errors import ModelError
from fashion_core.modeling.lite import FEATURES, LiteForward

HEADS_FORMAT = 1


@dataclass(frozen=True)
class DenseHead:
    """One category's output layer: probabilities = activation(features @ kernel + bias)."""

    kernel: np.ndarray  # (D, K) float32
    bias: np.ndarray  # (K,) float32
    multi: bool  # sigmoid per value (multi-label) instead of a softmax over the values

    def __call__(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.kernel + self.bias
        if self.multi:
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def write_heads(path: Path, heads: Mapping[str, DenseHead]) -> None:
    """Save the heads (atomically: a crash leaves the old file or the new one, never half of one)."""
    arrays: dict[str, np.ndarray] = {"format": np.array(HEADS_FORMAT), "keys": np.array(list(heads), dtype=str)}
    for i, head in enumerate(heads.values()):
        arrays[f"kernel_{i}"] = np.asarray(head.kernel, np.float32)
        arrays[f"bias_{i}"] = np.asarray(head.bias, np.float32)
        arrays[f"multi_{i}"] = np.array(bool(head.multi))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_heads(path: Path) -> dict[str, DenseHead]:
    """The heads saved by ``write_heads``, in their order.

    Raises:
        ModelError: The file cannot be read or is not a heads file of this format.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != HEADS_FORMAT:
                raise ModelError(f"{path}: heads format {int(data['format'])}, expected {HEADS_FORMAT}")
            heads = {}
            for i, key in enumerate(data["keys"].tolist()):
                kernel, bias = np.asarray(data[f"kernel_{i}"], np.float32), np.asarray(data[f"bias_{i}"], np.float32)
                if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
                    raise ModelError(f"{path}: head {key!r} has a kernel {kernel.shape} and a bias {bias.shape}")
                heads[str(key)] = DenseHead(kernel, bias, bool(data[f"multi_{i}"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(f"Cannot read the serving heads {path}: {exc}") from exc
    if not heads:
        raise ModelError(f"{path}: no heads")
    return heads


class HeadsForward:
    """A features-only ``LiteForward`` (the backbone) with NumPy heads: the same interface and outputs
    as a whole-model ``LiteForward`` (per-category probabilities and ``FEATURES``); thread-safe.

    Raises:
        ModelError: The backbone does not give features only, or a head does not fit them.
    """

    def __init__(self, backbone: LiteForward, heads: Mapping[str, DenseHead]) -> None:
        if tuple(backbone.output_names) != (FEATURES,):
            raise ModelError(f"The serving backbone's outputs are {list(backbone.output_names)}, expected [{FEATURES!r}]")
        dim = int(backbone(np.zeros((1, backbone.image_size, backbone.image_size, 3), np.float32))[FEATURES].shape[-1])
        for key, head in heads.items():
            if head.kernel.shape[0] != dim:
                raise ModelError(f"Head {key!r} takes {head.kernel.shape[0]} features; the backbone gives {dim}")
        self._backbone, self.heads = backbone, dict(heads)
        self.image_size = backbone.image_size
        self.output_names: tuple[str, ...] = (*self.heads, FEATURES)
        self.quantized = backbone.quantized

    @classmethod
    def from_files(cls, backbone: Path, heads: Path) -> HeadsForward:
        return cls(LiteForward.from_file(backbone), read_heads(heads))

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        features = np.asarray(self._backbone(batch)[FEATURES], np.float32)
        if not len(features):
            return {**{k: np.zeros((0, h.kernel.shape[1]), np.float32) for k, h in self.heads.items()},
                    FEATURES: features}
        outputs = {key: head(features) for key, head in self.heads.items()}
        outputs[FEATURES] = features
        return outputs
