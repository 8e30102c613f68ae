"""Tests for TrainConfig: defaults, validation messages, JSON round trip, derived values."""

from __future__ import annotations

import json

import pytest

from fashion_core.labels import ACTIVE, NO_MAP, LabelSource
from fashion_core.modeling import BACKBONES, Augmentation, Imbalance, TrainConfig, TrainConfigError
from fashion_core.modeling.backbones import backbone_spec

REQUIRED_KERAS_APPS = {
    "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_v2_b0", "resnet50_v2", "densenet121",
    "inception_resnet_v2",
}


def test_defaults_are_lite0_with_bundled_weights_at_128px() -> None:
    config = TrainConfig(dataset="demo")

    assert config.backbone == "efficientnet_lite0"
    assert config.weights == "bundled"
    assert config.image_size == 128
    assert config.labels == ACTIVE
    assert config.total_epochs == config.epochs + config.finetune_epochs


def test_weights_default_follows_the_backbone() -> None:
    assert TrainConfig(dataset="d", backbone="mobilenet_v3_small").weights == "imagenet"
    assert TrainConfig(dataset="d", backbone="efficientnet_lite2").weights == "bundled"


def test_registry_has_every_required_backbone_and_all_lite_variants() -> None:
    assert REQUIRED_KERAS_APPS <= set(BACKBONES)
    assert {f"efficientnet_lite{i}" for i in range(5)} <= set(BACKBONES)
    assert backbone_spec("inception_resnet_v2").default_size == 299


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"epochs": 0}, "epochs=0"),
        ({"batch_size": 2.5}, "batch_size=2.5"),
        ({"learning_rate": -1.0}, "learning_rate=-1.0"),
        ({"schedule": "sometimes"}, "schedule='sometimes'"),
        ({"backbone": "vgg99"}, "backbone='vgg99'"),
        ({"image_size": 16}, "image_size=16"),
        ({"val_fraction": 1.0}, "val_fraction=1.0"),
        ({"distribute": "cloud"}, "distribute='cloud'"),
        ({"categories": []}, "categories=[]"),
        ({"categories": ["a", "a"]}, "categories=['a', 'a']"),
        ({"weights": "bundled", "backbone": "resnet50_v2"}, "'bundled'"),
        ({"weights": "/tmp/w.pth", "backbone": "resnet50_v2"}, ".weights.h5"),
        ({"weights": "/tmp/w.h5"}, ".pth"),
    ],
)
def test_bad_values_are_rejected_with_the_value_in_the_message(changes: dict, fragment: str) -> None:
    with pytest.raises(TrainConfigError) as info:
        TrainConfig(dataset="demo", **changes)
    assert fragment in str(info.value)


def test_nested_options_are_validated_too() -> None:
    with pytest.raises(TrainConfigError, match="rotation_factor=2.0"):
        Augmentation(rotation_factor=2.0)
    with pytest.raises(TrainConfigError, match="scheme='heavy'"):
        Imbalance(scheme="heavy")
    with pytest.raises(TrainConfigError, match="head_weights"):
        Imbalance(head_weights={"sleeve_length_labels": -1})


def test_round_trip_through_json_gives_an_equal_config() -> None:
    config = TrainConfig(
        dataset="demo", labels=NO_MAP, categories=("sleeve_length_labels", "coat_length_labels"),
        backbone="mobilenet_v3_small", weights="none", quick=True,
        augmentation=Augmentation(rotation=False, contrast_factor=0.3),
        imbalance=Imbalance(scheme="focal", head_weights={"coat_length_labels": 2.0}),
    )

    data = json.loads(json.dumps(config.to_dict()))
    again = TrainConfig.from_dict(data)

    assert again == config
    assert data["imbalance"]["head_weights"] == {"coat_length_labels": 2.0}
    assert again.imbalance.head_weight("coat_length_labels") == 2.0
    assert again.imbalance.head_weight("other") == 1.0


def test_from_dict_rejects_unknown_keys_and_missing_dataset() -> None:
    with pytest.raises(TrainConfigError, match="epoch_count"):
        TrainConfig.from_dict({"dataset": "demo", "epoch_count": 3})
    with pytest.raises(TrainConfigError, match="augmentation option"):
        TrainConfig.from_dict({"dataset": "demo", "augmentation": {"zoom": True}})
    with pytest.raises(TrainConfigError, match="dataset"):
        TrainConfig.from_dict({"epochs": 3})


def test_quick_mode_means_frozen_heads_without_augmentation() -> None:
    config = TrainConfig(dataset="demo", quick=True, schedule="heads_then_finetune", finetune_epochs=5)

    assert config.effective_schedule == "heads"
    assert not config.effective_augmentation.enabled
    assert config.total_epochs == config.epochs


def test_the_label_source_is_stored_as_the_map_name_text_run_folders_use() -> None:
    for source, text in ((ACTIVE, None), (NO_MAP, ""), (LabelSource.named("merged"), "merged")):
        data = TrainConfig(dataset="d", labels=source).to_dict()
        assert data["map_name"] == text and "labels" not in data
        assert TrainConfig.from_dict(data).labels == source
    with pytest.raises(TrainConfigError, match="labels"):
        TrainConfig(dataset="d", labels="merged")  # a bare string is ambiguous: refused
