"""Download figures (shared by the Download page and the CLI) equal hand-counted ones."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fashion_core.cli.download import _human
from fashion_core.download import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    DownloadFigures,
    DownloadSummary,
    summarize_download,
    summarize_manifest,
)
from fashion_core.errors import DownloadError

# (status, reason, duplicate_of): 3 ok (one a duplicate), 1 skipped, 4 failed (404 twice).
ROWS = [
    ("ok", "", ""),
    ("failed", "HTTP 404: not found", ""),
    ("ok", "", "a1"),
    ("skipped", "", ""),
    ("failed", "refused address 10.0.0.1 (private)", ""),
    ("failed", "HTTP 404: gone", ""),
    ("ok", "", ""),
    ("failed", "timeout (read)", ""),
]


def _write_manifest(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_NAME
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for i, (status, reason, dup) in enumerate(ROWS, start=1):
            writer.writerow(
                {"line": i, "id": f"a{i}", "url": f"http://x/{i}.jpg", "status": status, "reason": reason}
                | {"duplicate_of": dup}
            )
    return path


def test_manifest_figures_equal_hand_counts(tmp_path: Path) -> None:
    path = _write_manifest(tmp_path / "out")
    figures = summarize_manifest(tmp_path / "out")  # the folder works as well as the file
    assert figures == summarize_manifest(path)
    assert (figures.total, figures.ok, figures.failed, figures.skipped, figures.duplicates) == (8, 3, 4, 1, 1)
    assert figures.reasons == {"HTTP 404": 2, "refused address": 1, "timeout": 1}
    assert figures.top_reasons(1) == [("HTTP 404", 2)]
    assert figures.elapsed is None and figures.rate == 0.0 and figures.needs_attention
    assert figures.source == str(path)


def test_run_figures_rate_and_attention(tmp_path: Path) -> None:
    summary = DownloadSummary(
        ok=6, failed=0, skipped=2, duplicates=1, duplicate_urls=3, total=8,
        manifest=tmp_path / MANIFEST_NAME, out_dir=tmp_path, elapsed=4.0,
        reasons={},
    )  # fmt: skip
    figures = summarize_download(summary)
    assert figures.rate == 2.0 and not figures.needs_attention
    assert (figures.duplicates, figures.duplicate_urls) == (1, 3)
    cancelled = summarize_download(
        DownloadSummary(
            ok=1, failed=2, skipped=0, duplicates=0, duplicate_urls=0, total=3,
            manifest=tmp_path / MANIFEST_NAME, out_dir=tmp_path, elapsed=0.0, cancelled=True,
            reasons={"timeout": 1, "cancelled": 1},
        )
    )  # fmt: skip
    assert cancelled.needs_attention and cancelled.rate == 0.0
    assert cancelled.top_reasons(8) == [("timeout", 1), ("cancelled", 1)]


def test_cli_text_uses_the_same_figures(tmp_path: Path) -> None:
    summary = DownloadSummary(
        ok=3, failed=4, skipped=1, duplicates=1, duplicate_urls=0, total=8,
        manifest=tmp_path / MANIFEST_NAME, out_dir=tmp_path, elapsed=2.5,
        reasons={"HTTP 404": 2, "refused address": 1, "timeout": 1},
    )  # fmt: skip
    text = _human(summary)
    assert text.startswith("3 downloaded, 1 already there, 4 failed of 8 rows in 2.5 s; 1 duplicate images")
    assert "       2  HTTP 404" in text


def test_figures_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(DownloadError, match=r"must equal the total \(5\)"):
        DownloadFigures(total=5, ok=1, failed=1, skipped=1, source="m.csv")
    with pytest.raises(DownloadError, match="`ok` must be an integer >= 0"):
        DownloadFigures(total=0, ok=-1, failed=1, skipped=0)


def test_missing_manifest_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no download manifest here"):
        summarize_manifest(tmp_path)
