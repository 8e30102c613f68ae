"""The engine that answers: photo checks, the Predictor, its calibration, the HTTP API.

Names load lazily (PEP 562): ``api`` pulls in FastAPI and the Predictor modeling's TF-free helpers, so a
page or command pays only for the names it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fashion_core.lazy import lazy_surface

if TYPE_CHECKING:
    from fashion_core.serving import calibration as calibration
    from fashion_core.serving.api import create_app
    from fashion_core.serving.calibration import (
        ECE_TARGET,
        UNFAMILIAR_SHARE,
        Calibration,
        LowTail,
        Reference,
        apply_temperature,
        binned_reliability,
        confidences,
        ece_judgeable,
        ece_noise_floor,
        familiarity_scores,
        fit_temperature,
        read_calibration,
        reliability,
        write_calibration,
    )
    from fashion_core.serving.calibration import summary as calibration_summary
    from fashion_core.serving.photos import (
        IMAGE_SUFFIXES,
        collect_image_paths,
        decode_batches,
        fetch_image_bytes,
        read_photo_file,
    )
    from fashion_core.serving.pixel_views import colourfulness, pixel_stats
    from fashion_core.serving.predictor import CategoryPrediction, Predictor

# public name -> "module" or "module:name in it"; "" for a module offered itself
_WHERE: dict[str, str] = {
    "Calibration": "calibration",
    "CategoryPrediction": "predictor",
    "ECE_TARGET": "calibration",
    "IMAGE_SUFFIXES": "photos",
    "LowTail": "calibration",
    "Predictor": "predictor",
    "Reference": "calibration",
    "UNFAMILIAR_SHARE": "calibration",
    "apply_temperature": "calibration",
    "binned_reliability": "calibration",
    "calibration": "",
    "calibration_summary": "calibration:summary",
    "collect_image_paths": "photos",
    "colourfulness": "pixel_views",
    "confidences": "calibration",
    "create_app": "api",
    "decode_batches": "photos",
    "ece_judgeable": "calibration",
    "ece_noise_floor": "calibration",
    "familiarity_scores": "calibration",
    "fetch_image_bytes": "photos",
    "fit_temperature": "calibration",
    "pixel_stats": "pixel_views",
    "read_calibration": "calibration",
    "read_photo_file": "photos",
    "reliability": "calibration",
    "write_calibration": "calibration",
}

__all__ = [
    "Calibration", "CategoryPrediction", "ECE_TARGET", "IMAGE_SUFFIXES", "LowTail", "Predictor", "Reference",
    "UNFAMILIAR_SHARE", "apply_temperature", "binned_reliability", "calibration", "calibration_summary",
    "collect_image_paths", "colourfulness", "confidences", "create_app", "decode_batches", "ece_judgeable", "ece_noise_floor",
    "familiarity_scores", "fetch_image_bytes", "fit_temperature", "pixel_stats", "read_calibration",
    "read_photo_file", "reliability", "write_calibration",
]


__getattr__, __dir__ = lazy_surface(__name__, globals(), _WHERE, __all__)
