"""The engine that answers: photo checks, the Predictor, its calibration and scaling, the HTTP API and
its server processes.

Names load lazily (PEP 562): ``api`` pulls in FastAPI and the Predictor modeling's TF-free helpers, so a
page or command pays only for the names it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fashion_core.lazy import lazy_surface

if TYPE_CHECKING:
    from fashion_core.serving import calibration as calibration
    from fashion_core.serving import scaling as scaling
    from fashion_core.serving.api import create_app
    from fashion_core.serving.calibration import (
        UNFAMILIAR_SHARE,
        Calibration,
        LowTail,
        Reference,
        familiarity_scores,
        read_calibration,
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
    from fashion_core.serving.scaling import (
        ECE_TARGET,
        apply_scaling,
        apply_temperature,
        binned_reliability,
        confidences,
        ece_judgeable,
        ece_noise_floor,
        fit_scaling,
        fit_temperature,
        held_out_ece,
        reliability,
    )
    from fashion_core.serving.workers import ServeSettings, build_app, settings_environment
    from fashion_core.serving.workers import token_check as serve_token_check

# public name -> "module" or "module:name in it"; "" for a module offered itself
_WHERE: dict[str, str] = {
    "Calibration": "calibration",
    "CategoryPrediction": "predictor",
    "ECE_TARGET": "scaling",
    "IMAGE_SUFFIXES": "photos",
    "LowTail": "calibration",
    "Predictor": "predictor",
    "Reference": "calibration",
    "ServeSettings": "workers",
    "UNFAMILIAR_SHARE": "calibration",
    "apply_scaling": "scaling",
    "apply_temperature": "scaling",
    "binned_reliability": "scaling",
    "build_app": "workers",
    "calibration": "",
    "calibration_summary": "calibration:summary",
    "collect_image_paths": "photos",
    "colourfulness": "pixel_views",
    "confidences": "scaling",
    "create_app": "api",
    "decode_batches": "photos",
    "ece_judgeable": "scaling",
    "ece_noise_floor": "scaling",
    "familiarity_scores": "calibration",
    "fetch_image_bytes": "photos",
    "fit_scaling": "scaling",
    "fit_temperature": "scaling",
    "held_out_ece": "scaling",
    "pixel_stats": "pixel_views",
    "read_calibration": "calibration",
    "read_photo_file": "photos",
    "reliability": "scaling",
    "scaling": "",
    "serve_token_check": "workers:token_check",
    "settings_environment": "workers",
    "write_calibration": "calibration",
}

__all__ = [
    "Calibration", "CategoryPrediction", "ECE_TARGET", "IMAGE_SUFFIXES", "LowTail", "Predictor", "Reference", "ServeSettings",
    "UNFAMILIAR_SHARE", "apply_scaling", "apply_temperature", "binned_reliability", "build_app", "calibration", "calibration_summary",
    "collect_image_paths", "colourfulness", "confidences", "create_app", "decode_batches", "ece_judgeable", "ece_noise_floor",
    "familiarity_scores", "fetch_image_bytes", "fit_scaling", "fit_temperature", "held_out_ece", "pixel_stats",
    "read_calibration", "read_photo_file", "reliability", "scaling", "serve_token_check", "settings_environment",
    "write_calibration",
]


__getattr__, __dir__ = lazy_surface(__name__, globals(), _WHERE, __all__)
