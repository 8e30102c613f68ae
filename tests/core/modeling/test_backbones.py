"""Tests for backbone weights: offline ImageNet downloads fail at once and clearly, local files load."""

from __future__ import annotations

import socket
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from fashion_core.errors import ModelError, WeightsUnavailableError
from fashion_core.modeling import BACKBONE_LAYER, TrainConfig, build_backbone, train_run
from fashion_core.modeling.training import default_run_dir
from fashion_core.runs import get_run, new_run_id, register_run
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace
from tests.core.modeling._legacy_keras import loads_in_part
from tests.core.modeling._tiny_data import make_dataset

pytestmark = pytest.mark.slow  # builds real (tiny-input) backbones


def _closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once, like a machine offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point Keras's MobileNetV3 weights download at a closed local port, with an empty Keras cache."""
    from keras.src.applications import mobilenet_v3
    from keras.src.backend import config as keras_config

    base = f"http://127.0.0.1:{_closed_port()}/weights/"
    monkeypatch.setattr(mobilenet_v3, "BASE_WEIGHT_PATH", base)
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras_home"))
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return base


def test_imagenet_weights_offline_fail_at_once_saying_how_to_supply_a_file(offline: str) -> None:
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("mobilenet_v3_small", weights="imagenet", image_size=32)

    message = str(info.value)
    assert time.perf_counter() - start < 20
    assert "offline" in message and "--weights /path/to/weights_mobilenet_v3_small" in message
    assert offline in message  # names the exact file to fetch elsewhere


def test_a_run_with_unreachable_weights_fails_with_that_message(
    offline: str, store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=8, categories=("colour",))
    config = TrainConfig(dataset="tiny", backbone="mobilenet_v3_small", weights="imagenet", image_size=32)
    run_dir = default_run_dir(workspace, new_run_id())
    register_run(store, run_dir, "tiny", config.to_dict())

    with pytest.raises(WeightsUnavailableError):
        train_run(store, workspace, config, run_dir)

    run = get_run(store, run_dir.run_id)
    assert run.status == "failed" and "--weights" in run.error
    assert run_dir.read_status()["state"] == "failed"


def _app(backbone: keras.Model) -> keras.Model:
    """The keras.applications model inside a studio backbone (the part a weights file describes)."""
    return next(layer for layer in backbone.layers if isinstance(layer, keras.Model))


def test_a_local_weights_file_loads(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    source = build_backbone("mobilenet_v3_small", weights="none", image_size=32)
    path = tmp_path / "mine.weights.h5"
    _app(source).save_weights(path)

    keras.utils.set_random_seed(2)
    loaded = build_backbone("mobilenet_v3_small", weights=str(path), image_size=32)
    fresh = build_backbone("mobilenet_v3_small", weights="none", image_size=32)

    assert loaded.name == BACKBONE_LAYER
    for mine, theirs in zip(loaded.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert any(not np.array_equal(a, b) for a, b in zip(fresh.get_weights(), source.get_weights()))
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(x), source.predict_on_batch(x), atol=1e-5)


def test_missing_or_unfitting_weights_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="not found: .*absent.weights.h5"):
        build_backbone("mobilenet_v3_small", weights=str(tmp_path / "absent.weights.h5"), image_size=32)
    other = build_backbone("mobilenet_v3_large", weights="none", image_size=32)
    path = tmp_path / "large.weights.h5"
    _app(other).save_weights(path)
    with pytest.raises(ModelError, match="does not fit MobileNetV3Small"):
        build_backbone("mobilenet_v3_small", weights=str(path), image_size=32)


def test_a_weights_file_that_fits_only_in_part_is_an_error_not_a_half_random_backbone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keras loads a legacy file's matching parts and only warns that the rest keeps its fresh
    # weights; the studio must turn that warning into an error.
    path = tmp_path / "small.weights.h5"
    keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3),
                                        pooling="avg").save_weights(path)
    real = keras.applications.MobileNetV3Small
    monkeypatch.setattr(keras.applications, "MobileNetV3Small", loads_in_part(real))
    with pytest.raises(ModelError, match=r"for MobileNetV3Small fits only in part: .*Save the weights again"):
        build_backbone("mobilenet_v3_small", weights=str(path), image_size=32)
    monkeypatch.setattr(keras.applications, "MobileNetV3Small", real)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert build_backbone("mobilenet_v3_small", weights=str(path), image_size=32) is not None
    assert not [w for w in caught if "freshly-initialized" in str(w.message)]
