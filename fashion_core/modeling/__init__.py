"""TensorFlow and Keras: backbones, the multi-head model, training, export, Grad-CAM; nothing else imports them.

Names load lazily (PEP 562): most of these modules import TensorFlow (seconds), which importing the package
must not, so each name loads its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fashion_core.lazy import lazy_surface

if TYPE_CHECKING:
    from fashion_core.modeling import distribute as distribute
    from fashion_core.modeling import model as model
    from fashion_core.modeling.backbones import BACKBONE_LAYER, BACKBONES, build_backbone, weights_fingerprint
    from fashion_core.modeling.config import (
        FLIP_MODES,
        IMBALANCE_SCHEMES,
        SCHEDULES,
        Augmentation,
        Imbalance,
        TrainConfig,
        TrainConfigError,
    )
    from fashion_core.modeling.data import image_dataset, load_images
    from fashion_core.modeling.distribute import describe_devices, tensorflow_gpus
    from fashion_core.modeling.embeddings import EmbeddingCache, compute_embeddings
    from fashion_core.modeling.export import (
        export_saved_model,
        export_tflite,
        input_size,
        lite_forward,
        serving_function,
    )
    from fashion_core.modeling.features import feature_function
    from fashion_core.modeling.gradcam import Heatmap, gradcam_heatmaps, overlay_heatmap
    from fashion_core.modeling.heads import Head, make_heads
    from fashion_core.modeling.lite import FEATURES, LiteForward
    from fashion_core.modeling.model import build_model
    from fashion_core.modeling.report import RunLog
    from fashion_core.modeling.serving_model import write_int8_model, write_serving_model
    from fashion_core.modeling.table import build_label_table, stratified_split
    from fashion_core.modeling.tfrecord import export_tfrecords
    from fashion_core.modeling.training import EpochHook, load_run_model, train_run

# public name -> "module" or "module:name in it"; "" for a module offered itself
_WHERE: dict[str, str] = {
    "Augmentation": "config",
    "BACKBONES": "backbones",
    "BACKBONE_LAYER": "backbones",
    "EmbeddingCache": "embeddings",
    "EpochHook": "training",
    "FEATURES": "lite",
    "FLIP_MODES": "config",
    "Head": "heads",
    "Heatmap": "gradcam",
    "IMBALANCE_SCHEMES": "config",
    "Imbalance": "config",
    "LiteForward": "lite",
    "RunLog": "report",
    "SCHEDULES": "config",
    "TrainConfig": "config",
    "TrainConfigError": "config",
    "build_backbone": "backbones",
    "build_label_table": "table",
    "build_model": "model",
    "compute_embeddings": "embeddings",
    "describe_devices": "distribute",
    "distribute": "",
    "export_saved_model": "export",
    "export_tflite": "export",
    "export_tfrecords": "tfrecord",
    "feature_function": "features",
    "gradcam_heatmaps": "gradcam",
    "image_dataset": "data",
    "input_size": "export",
    "lite_forward": "export",
    "load_images": "data",
    "load_run_model": "training",
    "make_heads": "heads",
    "model": "",
    "overlay_heatmap": "gradcam",
    "serving_function": "export",
    "stratified_split": "table",
    "tensorflow_gpus": "distribute",
    "train_run": "training",
    "weights_fingerprint": "backbones",
    "write_int8_model": "serving_model",
    "write_serving_model": "serving_model",
}

__all__ = [
    "Augmentation", "BACKBONES", "BACKBONE_LAYER", "EmbeddingCache", "EpochHook", "FEATURES", "FLIP_MODES", "Head",
    "Heatmap", "IMBALANCE_SCHEMES", "Imbalance", "LiteForward", "RunLog", "SCHEDULES", "TrainConfig",
    "TrainConfigError", "build_backbone", "build_label_table", "build_model", "compute_embeddings",
    "describe_devices", "distribute", "export_saved_model", "export_tflite", "export_tfrecords", "feature_function",
    "gradcam_heatmaps", "image_dataset", "input_size", "lite_forward", "load_images", "load_run_model",
    "make_heads", "model", "overlay_heatmap", "serving_function", "stratified_split", "tensorflow_gpus",
    "train_run", "weights_fingerprint", "write_int8_model", "write_serving_model",
]


__getattr__, __dir__ = lazy_surface(__name__, globals(), _WHERE, __all__)
