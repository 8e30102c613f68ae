"""URL lists to checked images on disk: ``download_images`` and its options and reports."""

from __future__ import annotations

from fashion_core.download.config import DownloadConfig
from fashion_core.download.downloader import download_images
from fashion_core.download.manifest import COLUMNS as MANIFEST_COLUMNS
from fashion_core.download.manifest import MANIFEST_NAME
from fashion_core.download.report import DownloadSummary, ProgressInfo, Status

__all__ = [
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "DownloadConfig",
    "DownloadSummary",
    "ProgressInfo",
    "Status",
    "download_images",
]
