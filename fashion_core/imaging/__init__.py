"""Pixels from files: the one image decoder (decode.py) and the gallery's thumbnails."""

from fashion_core.imaging.decode import (
    DATASET_FORMATS,
    DATASET_LIMITS,
    MAX_IMAGE_BYTES,
    MB,
    ImageLimits,
    UnknownFormatError,
    file_pixels,
    load_photo,
    megabytes,
    photo_pixels,
    short_reason,
    upright_rgb,
)
from fashion_core.imaging.thumbnails import (
    GALLERY_SIZE,
    PREVIEW_SIZE,
    ThumbnailCache,
    ThumbnailReport,
    ensure_thumbnails,
    served_file,
)

__all__ = [
    "DATASET_FORMATS", "DATASET_LIMITS", "GALLERY_SIZE", "MAX_IMAGE_BYTES", "MB", "PREVIEW_SIZE", "ImageLimits",
    "ThumbnailCache", "ThumbnailReport", "UnknownFormatError", "ensure_thumbnails", "file_pixels", "load_photo",
    "megabytes", "photo_pixels", "served_file", "short_reason", "upright_rgb",
]
