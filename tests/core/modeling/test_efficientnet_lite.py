"""Tests for the Keras EfficientNet-Lite port and its PyTorch weight mapping."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from PIL import Image

from fashion_core.errors import ModelError, WeightsUnavailableError
from fashion_core.modeling.efficientnet_lite import (
    VARIANTS,
    build_efficientnet_lite,
    bundled_weights_path,
    preprocess_input,
)
from fashion_core.modeling.efficientnet_lite_weights import assign_torch_weights, torch_module_path
from fashion_core.modeling.torch_checkpoint import load_torch_state_dict

ESPRESSO = 967  # ImageNet class index


def coffee(size: int = 224) -> np.ndarray:
    """scikit-image's bundled coffee photo as a (1, size, size, 3) float batch in 0..255."""
    image = Image.fromarray(skimage.data.coffee()).resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32)[None]


@pytest.fixture(scope="module")
def classifier() -> Any:
    return build_efficientnet_lite("lite0", include_top=True, weights="bundled")


def test_bundled_lite0_classifies_the_coffee_photo_as_espresso(classifier: Any) -> None:
    probs = np.asarray(classifier.predict_on_batch(coffee()))[0]

    top5 = np.argsort(probs)[::-1][:5]
    print("lite0 top-5 on skimage coffee:", [(int(i), round(float(probs[i]), 4)) for i in top5])
    assert probs.shape == (1000,)
    assert top5[0] == ESPRESSO
    assert probs[ESPRESSO] > 0.5
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_backbone_without_top_carries_the_same_weights(classifier: Any) -> None:
    backbone = build_efficientnet_lite("lite0", include_top=False, pooling=None, weights="bundled")
    fmap = np.asarray(backbone.predict_on_batch(coffee()))
    assert fmap.shape == (1, 7, 7, 1280)

    # Recompute the classifier by hand from the checkpoint's Linear layer.
    state = load_torch_state_dict(bundled_weights_path("lite0"))
    logits = fmap.mean(axis=(1, 2)) @ state["_fc.weight"].T + state["_fc.bias"]
    assert int(np.argmax(logits)) == ESPRESSO
    dense = classifier.get_layer("predictions").get_weights()
    np.testing.assert_array_equal(dense[0], state["_fc.weight"].T)


def test_random_init_builds_at_64px_and_outputs_1280_features() -> None:
    model = build_efficientnet_lite("lite0", input_shape=(64, 64, 3), weights=None)
    batch = np.random.default_rng(0).uniform(0, 255, size=(2, 64, 64, 3)).astype(np.float32)

    features = np.asarray(model.predict_on_batch(batch))

    assert features.shape == (2, 1280)
    assert np.isfinite(features).all()
    fmap_model = build_efficientnet_lite("lite0", input_shape=(64, 64, 3), weights=None, pooling=None)
    assert fmap_model.output_shape == (None, 2, 2, 1280)


@pytest.mark.parametrize(
    ("variant", "thousand_params"),
    # Parameter counts of the reference PyTorch port (d-li14/efficientnet-lite.pytorch README).
    [("lite0", 4652), ("lite1", 5417), ("lite2", 6092), ("lite3", 8197), ("lite4", 13007)],
)
def test_variants_match_reference_parameter_counts(variant: str, thousand_params: int) -> None:
    model = build_efficientnet_lite(variant, input_shape=(64, 64, 3), include_top=True, weights=None)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert round(trainable / 1000) == thousand_params
    assert model.get_layer("stem_conv").filters == 32  # Lite never widens stem and head
    assert model.get_layer("head_conv").filters == 1280


def test_default_input_size_follows_the_variant() -> None:
    model = build_efficientnet_lite("lite2", weights=None)
    assert model.input_shape == (None, 260, 260, 3)
    assert VARIANTS["lite4"].resolution == 300


def test_preprocessing_layer_matches_preprocess_input() -> None:
    model = build_efficientnet_lite("lite0", input_shape=(32, 32, 3), weights=None)
    pixels = np.array([[[[0.0, 127.0, 255.0]]]], dtype=np.float32)
    scaled = np.asarray(model.get_layer("rescale")(pixels))
    np.testing.assert_allclose(scaled, preprocess_input(pixels), atol=1e-6)
    np.testing.assert_allclose(preprocess_input(pixels)[0, 0, 0], [-127 / 128, 0.0, 1.0])
    bare = build_efficientnet_lite(
        "lite0", input_shape=(32, 32, 3), weights=None, include_preprocessing=False
    )
    assert "rescale" not in [layer.name for layer in bare.layers]


def test_missing_package_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite3_pytorch_model", None)  # import fails
    with pytest.raises(WeightsUnavailableError, match="pip install efficientnet-lite3-pytorch-model"):
        build_efficientnet_lite("lite3", weights="bundled")


def test_bad_arguments_are_refused_with_the_value(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="variant='lite9'"):
        build_efficientnet_lite("lite9", weights=None)
    with pytest.raises(ModelError, match="pooling='mean'"):
        build_efficientnet_lite("lite0", pooling="mean", weights=None)
    with pytest.raises(ModelError, match="input_shape"):
        build_efficientnet_lite("lite0", input_shape=(16, 16, 3), weights=None)
    with pytest.raises(WeightsUnavailableError, match="nope.pth"):
        build_efficientnet_lite("lite0", weights=str(tmp_path / "nope.pth"))


def test_checkpoint_of_another_variant_is_refused() -> None:
    # lite1 has more blocks than lite0, so lite0's tensors land on the wrong blocks.
    with pytest.raises(ModelError, match=r"lite0.*_blocks\.\d+\._"):
        build_efficientnet_lite("lite1", weights=bundled_weights_path("lite0"))


def test_every_tensor_must_be_used_exactly_once() -> None:
    state = load_torch_state_dict(bundled_weights_path("lite0"))
    model = build_efficientnet_lite("lite0", input_shape=(32, 32, 3), weights=None)

    extra = dict(state, **{"_blocks.16._bn0.weight": np.ones(8, dtype=np.float32)})
    with pytest.raises(ModelError, match=r"1 tensors have no place.*_blocks\.16\._bn0\.weight"):
        assign_torch_weights(model, extra, include_top=False)

    missing = {k: v for k, v in state.items() if k != "_blocks.7._bn1.running_var"}
    with pytest.raises(ModelError, match=r"_blocks\.7\._bn1\.running_var' is missing"):
        assign_torch_weights(model, missing, include_top=False)

    assign_torch_weights(model, state, include_top=False)  # the untouched state fits exactly


def test_classifier_size_must_match_the_checkpoint() -> None:
    with pytest.raises(ModelError, match="predictions"):
        build_efficientnet_lite("lite0", input_shape=(32, 32, 3), include_top=True, classes=10)


def test_layer_names_map_to_torch_module_paths() -> None:
    assert torch_module_path("stem_bn") == "_bn0"
    assert torch_module_path("block3_dwconv") == "_blocks.3._depthwise_conv"
    assert torch_module_path("block12_project_bn") == "_blocks.12._bn2"
    with pytest.raises(ModelError):
        torch_module_path("block3_squeeze")


@pytest.mark.slow
def test_converts_to_tflite_with_the_same_outputs() -> None:
    import tensorflow as tf

    model = build_efficientnet_lite("lite0", input_shape=(96, 96, 3), weights="bundled")
    blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    from ai_edge_litert.interpreter import Interpreter  # LiteRT: tf.lite.Interpreter is deprecated

    interpreter = Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    batch = coffee(96)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], batch)
    interpreter.invoke()
    lite_out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    keras_out = np.asarray(model.predict_on_batch(batch))
    assert lite_out.shape == (1, 1280)
    np.testing.assert_allclose(lite_out, keras_out, rtol=1e-3, atol=1e-3 * np.abs(keras_out).max())
