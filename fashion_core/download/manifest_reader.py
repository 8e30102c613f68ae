"""Reading a download's ``manifest.csv``: counts by status and reason, and the first failed rows.

Manifests may have millions of rows, so they are read in chunks of text columns.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from fashion_core.csv_cells import plain_frame
from fashion_core.download.manifest import MANIFEST_NAME
from fashion_core.download.report import reason_kind
from fashion_core.errors import DownloadError

FAILURE_COLUMNS: tuple[str, ...] = ("line", "id", "url", "reason", "http_status")
_NEEDED_COLUMNS = ("line", "id", "url", "status", "reason")
MANIFEST_CHUNK_ROWS = 200_000  # rows read at a time: bounded memory on huge manifests


def manifest_file(where: str | os.PathLike[str]) -> Path:
    """The manifest path for ``where``: a manifest file itself, or a download's output folder."""
    path = Path(where).expanduser()
    return path / MANIFEST_NAME if path.is_dir() else path


def manifest_summary(manifest_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Count a manifest's rows by status and its failures by kind of reason.

    Args:
        manifest_path: ``manifest.csv`` or the output folder holding it.

    Returns:
        ``{"manifest": str, "total": N, "status": {"ok": N, "failed": N, "skipped": N},
        "duplicates": N, "reasons": {reason kind: N, most common first}}``.

    Raises:
        DownloadError: if the file is missing or is not a download manifest.
    """
    path = manifest_file(manifest_path)
    status: Counter[str] = Counter({"ok": 0, "failed": 0, "skipped": 0})
    reasons: Counter[str] = Counter()
    duplicates = 0
    for chunk in manifest_chunks(path, ["status", "reason", "duplicate_of"]):
        status.update(chunk["status"].value_counts().to_dict())
        for reason, n in chunk.loc[chunk["status"] == "failed", "reason"].value_counts().items():
            reasons[reason_kind(reason)] += int(n)  # per distinct reason, not per row: fast
        # Like DownloadSummary.duplicates: kept images whose content an earlier row already had.
        duplicates += int(((chunk["duplicate_of"] != "") & (chunk["status"] != "failed")).sum())
    return {
        "manifest": str(path),
        "total": sum(status.values()),
        "status": dict(status),
        "duplicates": duplicates,
        "reasons": dict(reasons.most_common()),
    }


def manifest_failures(manifest_path: str | os.PathLike[str], limit: int | None = 100) -> pd.DataFrame:
    """The failed rows of a manifest in list order, at most ``limit`` of them (None: all).

    The manifest is read in chunks and only ``limit`` rows are kept between chunks, so a
    manifest of millions of rows costs little memory.

    Returns:
        A DataFrame with columns ``line, id, url, reason, http_status`` (``line`` an integer).

    Raises:
        DownloadError: if the file is missing or not a manifest, or ``limit`` is not >= 1.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DownloadError(f"`limit` must be an integer >= 1 or None. Received: limit={limit!r}")
    path = manifest_file(manifest_path)
    picked = _first_failed_rows(path, limit)
    if picked.empty:
        return pd.DataFrame(columns=list(FAILURE_COLUMNS))
    # Second pass: parse only the picked rows (parsing every URL of a big manifest is the slow part).
    wanted = set((picked.index + 1).tolist())  # data row k is file row k + 1 (row 0: the header)
    present = [c for c in FAILURE_COLUMNS if c in _manifest_header(path)]
    frame = _read_manifest(path, usecols=present, skiprows=lambda i: i != 0 and i not in wanted)
    for column in FAILURE_COLUMNS:
        if column not in frame:
            frame[column] = ""
    frame["line"] = line_numbers(path, frame["line"])
    return frame.sort_values("line", kind="stable")[list(FAILURE_COLUMNS)].reset_index(drop=True)


def _first_failed_rows(path: Path, limit: int | None) -> pd.Series:
    """Line numbers of the first ``limit`` failed rows, indexed by their row in the manifest."""
    kept = pd.Series(dtype="int64")
    for chunk in manifest_chunks(path, ["line", "status"]):
        lines = line_numbers(path, chunk.loc[chunk["status"] == "failed", "line"])
        kept = pd.concat([kept, lines]) if not kept.empty else lines
        if limit is not None:
            kept = kept.nsmallest(limit)
    return kept


def manifest_chunks(path: Path, columns: list[str]) -> Iterator[pd.DataFrame]:
    """Yield the manifest in chunks of text columns (missing optional ones as ''), header checked."""
    present = [c for c in columns if c in _manifest_header(path)]
    reader = _read_manifest(path, usecols=present, chunksize=MANIFEST_CHUNK_ROWS)
    with reader:
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                return
            except (ValueError, UnicodeDecodeError, OSError) as exc:
                raise DownloadError(f"{path}: unreadable manifest ({exc})") from None
            for column in columns:
                if column not in chunk:
                    chunk[column] = ""
            yield plain_frame(chunk)  # cells the writer made safe, read back as they were


def _read_manifest(path: Path, **options: Any) -> Any:
    """``pd.read_csv`` of a manifest as text; a DataFrame, or a chunk reader with ``chunksize``."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, **options)
        return plain_frame(frame) if isinstance(frame, pd.DataFrame) else frame  # chunks: see manifest_chunks
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise DownloadError(f"{path}: unreadable manifest ({exc})") from None
    except OSError as exc:
        raise DownloadError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None


def _manifest_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except FileNotFoundError:
        raise DownloadError(
            f"{path}: no download manifest here (has a download into this folder finished?)"
        ) from None
    except UnicodeDecodeError:
        raise DownloadError(f"{path}: not a download manifest (not UTF-8 text)") from None
    except (OSError, csv.Error) as exc:
        raise DownloadError(f"{path}: cannot read the manifest ({exc})") from None
    missing = [c for c in _NEEDED_COLUMNS if c not in header]
    if missing:
        raise DownloadError(f"{path}: not a download manifest (missing columns: {', '.join(missing)})")
    return header


def line_numbers(path: Path, lines: pd.Series) -> pd.Series:
    """The manifest's ``line`` column as integers; DownloadError naming the file on a bad one."""
    numbers = pd.to_numeric(lines, errors="coerce")
    if numbers.isna().any():
        bad = lines[numbers.isna()].iloc[0]
        raise DownloadError(f"{path}: bad line number {bad!r} in the manifest's 'line' column")
    return numbers.astype("int64")
