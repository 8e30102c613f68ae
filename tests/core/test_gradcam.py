"""Grad-CAM on a small multi-head model (ImageNet backbone, random heads): shapes, range, per-category maps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashion_core.errors import ModelError
from fashion_core.gradcam import colourize, gradcam_heatmaps, last_feature_layer, overlay_heatmap
from tests.core.modeling._tiny_data import TINY_SCHEMA

SIDE = 96  # the last feature map is 3x3 here: enough to tell maps apart


@pytest.fixture(scope="module")
def model():
    import keras

    from fashion_core.modeling.backbones import build_backbone
    from fashion_core.modeling.heads import make_heads
    from fashion_core.modeling.model import build_model

    keras.utils.set_random_seed(3)
    backbone = build_backbone("efficientnet_lite0", weights="bundled", image_size=SIDE)
    return build_model(backbone, make_heads(TINY_SCHEMA.categories))


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(90, 140, (SIDE, SIDE, 3)).astype(np.float32)
    image[10:50, 50:90] = (220, 30, 30)  # an off-centre square gives the maps something to find
    return image


def test_last_feature_layer_is_the_backbones_last_spatial_layer(model) -> None:
    layer = last_feature_layer(model)
    assert len(layer.output.shape) == 4 and layer.output.shape[1:3] == (3, 3)
    inner = model.get_layer("backbone").layers[-1]
    names = [lay.name for lay in inner.layers]
    assert layer.name in names
    later = inner.layers[names.index(layer.name) + 1:]
    assert all(len(lay.output.shape) != 4 for lay in later)


def test_maps_have_the_input_shape_lie_in_0_1_and_differ_by_category(model, pixels: np.ndarray) -> None:
    maps = gradcam_heatmaps(model, pixels)
    assert set(maps) == {"colour", "size", "tags"}
    probs = model(pixels[np.newaxis], training=False)
    for name, m in maps.items():
        assert m.heatmap.shape == (SIDE, SIDE) and m.heatmap.dtype == np.float32
        assert 0.0 <= m.heatmap.min() and m.heatmap.max() <= 1.0
        assert m.index == int(np.argmax(probs[name][0]))
        assert m.prob == pytest.approx(float(probs[name][0, m.index]), abs=1e-6)
    assert max(m.heatmap.max() for m in maps.values()) == pytest.approx(1.0)  # scaled to its peak
    assert np.abs(maps["colour"].heatmap - maps["size"].heatmap).max() > 0.05


def test_layers_are_restored_after_the_capture(model, pixels: np.ndarray) -> None:
    before = model(pixels[np.newaxis], training=False)["colour"].numpy()
    gradcam_heatmaps(model, pixels, ["colour"])
    touched = [last_feature_layer(model), model.get_layer("colour")]
    assert all("call" not in vars(layer) for layer in touched)
    np.testing.assert_allclose(model(pixels[np.newaxis], training=False)["colour"].numpy(), before, atol=1e-6)


def test_unknown_output_is_an_error(model, pixels: np.ndarray) -> None:
    with pytest.raises(ModelError, match="'shape' is not an output of the model"):
        gradcam_heatmaps(model, pixels, ["shape"])


def test_overlay_keeps_the_photo_size_and_blends_the_ramp() -> None:
    photo = Image.new("RGB", (120, 80), (0, 255, 0))
    heat = np.zeros((SIDE, SIDE), np.float32)
    heat[:, SIDE // 2:] = 1.0
    overlay = overlay_heatmap(photo, heat, alpha=0.5)
    assert overlay.size == photo.size and overlay.mode == "RGB"
    left, right = np.asarray(overlay)[40, 5].astype(int), np.asarray(overlay)[40, 115].astype(int)
    assert right[0] > left[0] + 80  # hot (red) on the right, cold (blue) on the left
    assert left[2] > right[2]
    assert np.array_equal(np.asarray(overlay_heatmap(photo, heat, alpha=0.0)), np.asarray(photo))
    assert colourize(np.array([0.0, 1.0])).tolist() == [[0, 0, 130], [220, 20, 0]]
