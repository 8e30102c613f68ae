"""Grad-CAM: shapes, range and per-category maps on a real backbone; the deciding region on a hand-set model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashion_core.errors import ModelError
from fashion_core.modeling import gradcam_heatmaps, overlay_heatmap
from fashion_core.modeling.gradcam import colourize, last_feature_layer
from tests.core.modeling._tiny_data import TINY_SCHEMA

SIDE = 96  # the last feature map is 3x3 here: enough to tell maps apart


@pytest.fixture(scope="module")
def model():
    import keras

    from fashion_core.modeling import build_backbone, build_model, make_heads

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
    later = inner.layers[names.index(layer.name) + 1 :]
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
    heat[:, SIDE // 2 :] = 1.0
    overlay = overlay_heatmap(photo, heat, alpha=0.5)
    assert overlay.size == photo.size and overlay.mode == "RGB"
    left, right = np.asarray(overlay)[40, 5].astype(int), np.asarray(overlay)[40, 115].astype(int)
    assert right[0] > left[0] + 80  # hot (red) on the right, cold (blue) on the left
    assert left[2] > right[2]
    assert np.array_equal(np.asarray(overlay_heatmap(photo, heat, alpha=0.0)), np.asarray(photo))
    assert colourize(np.array([0.0, 1.0])).tolist() == [[0, 0, 130], [220, 20, 0]]


def colour_detector():
    """A hand-set model whose answer depends only on where red or green pixels are.

    Its backbone turns each pixel into two features, "red" (R - G) and "green" (G - R),
    averaged over 4x4 blocks (an 8x8 feature map); the head's logit for ``red`` is the
    pooled red feature minus the green one, and the reverse for ``green``. So the evidence
    for either answer lies exactly in the pixels of that colour, and Grad-CAM must find them.
    """
    import keras

    inputs = keras.Input((32, 32, 3), name="image")
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="colours")
    features = keras.layers.AveragePooling2D(4, name="blocks")(conv(inputs))
    backbone = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features), name="backbone")
    head = keras.layers.Dense(2, activation="softmax", name="colour")
    outer = keras.Input((32, 32, 3), name="image")
    model = keras.Model(outer, {"colour": head(backbone(outer))})
    conv.set_weights([np.array([[[[1, -1], [-1, 1], [0, 0]]]], np.float32) / 255, np.zeros(2, np.float32)])
    head.set_weights([np.array([[4, -4], [-4, 4]], np.float32), np.zeros(2, np.float32)])
    return model


def patches(red: tuple[slice, slice], green: tuple[slice, slice]) -> np.ndarray:
    image = np.full((32, 32, 3), 128, np.float32)
    image[red] = (255, 0, 0)
    image[green] = (0, 255, 0)
    return image


@pytest.mark.parametrize("winner", ["red", "green"])
def test_the_map_lights_up_the_region_that_decides_the_answer(winner: str) -> None:
    model = colour_detector()
    big, small = (slice(0, 16), slice(16, 32)), (slice(24, 32), slice(0, 8))  # top right; bottom left
    image = patches(big, small) if winner == "red" else patches(small, big)
    heat = gradcam_heatmaps(model, image)["colour"]
    assert heat.index == ["red", "green"].index(winner) and heat.layer == "blocks"
    in_big = heat.heatmap[big].mean()
    assert in_big > 0.9 and heat.heatmap[small].max() < 0.05  # the losing colour counts against
    background = np.ones((32, 32), bool)
    background[big] = background[small] = False
    assert heat.heatmap[background].mean() < 0.2
    row, col = np.unravel_index(heat.heatmap.argmax(), heat.heatmap.shape)
    assert row < 16 <= col  # the hottest pixel is in the top right patch (not mirrored, not transposed)
