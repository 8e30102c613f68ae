"""URL lists to checked images on disk: ``download_images``, its options and reports, the page's jobs."""

from __future__ import annotations

from fashion_core.download.config import DownloadConfig
from fashion_core.download.downloader import download_images
from fashion_core.download.fetch import Fetcher
from fashion_core.download.importing import import_download
from fashion_core.download.jobs import DownloadJob, DownloadRegistry
from fashion_core.download.manifest import COLUMNS as MANIFEST_COLUMNS
from fashion_core.download.manifest import MANIFEST_NAME
from fashion_core.download.manifest_reader import manifest_failures, manifest_file
from fashion_core.download.report import DownloadSummary, ProgressInfo, RowFailure, Status, reason_kind
from fashion_core.download.summary import DownloadFigures, summarize_download, summarize_manifest
from fashion_core.download.uploads import default_out_dir, save_list

__all__ = [
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "DownloadConfig",
    "DownloadFigures",
    "DownloadJob",
    "DownloadRegistry",
    "DownloadSummary",
    "Fetcher",
    "ProgressInfo",
    "RowFailure",
    "Status",
    "default_out_dir",
    "download_images",
    "import_download",
    "manifest_failures",
    "manifest_file",
    "reason_kind",
    "save_list",
    "summarize_download",
    "summarize_manifest",
]
