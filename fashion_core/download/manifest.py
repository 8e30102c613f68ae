"""The download manifest: one CSV row per list row, written atomically when the run ends.

Columns: ``line, id, url, status, reason, http_status, bytes, sha256, duplicate_of``.
``bytes`` is the size of the image file kept (ok, skipped), or the bytes received for a failed
row when any were. ``sha256`` is the hash of the kept JPEG. Rows are written as they finish,
so their order is not the list order; ``line`` gives the list line.
"""

from __future__ import annotations

import csv
import os
import re
import uuid
from pathlib import Path
from typing import TextIO

from fashion_core.csv_cells import SafeWriter, plain_cell
from fashion_core.download.report import RowResult, Status
from fashion_core.faults import fault_point

MANIFEST_NAME = "manifest.csv"
_KEPT = (Status.OK.value, Status.SKIPPED.value)
_SHA256 = re.compile(r"[0-9a-f]{64}")
COLUMNS: tuple[str, ...] = (
    "line",
    "id",
    "url",
    "status",
    "reason",
    "http_status",
    "bytes",
    "sha256",
    "duplicate_of",
)


class ManifestWriter:
    """Write manifest rows to a temporary file; ``commit`` renames it into place.

    Until the commit, the manifest of the previous run (if any) stays as it was.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
        self._handle: TextIO = self._tmp.open("w", newline="", encoding="utf-8")
        self._writer = SafeWriter(self._handle)  # ids and errors come from outside: no formulas
        self._writer.writerow(COLUMNS)

    def write(self, row: RowResult) -> None:
        """Append one row."""
        self._writer.writerow(
            (
                row.line,
                row.image_id,
                row.url,
                row.status.value,
                row.reason,
                "" if row.http_status is None else row.http_status,
                "" if row.nbytes is None else row.nbytes,
                row.sha256,
                row.duplicate_of,
            )
        )

    def commit(self) -> None:
        """Finish the file and move it to ``path``."""
        self._handle.close()
        fault_point("download:manifest-commit")
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Drop the unfinished file (the run did not complete)."""
        self._handle.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def read_kept_hashes(path: Path) -> dict[str, str]:
    """Map id -> sha256 for the images an earlier run kept, from its manifest.

    A resumed run uses it to fill in the hash of skipped images (and find duplicates among
    them) without reading every file again. A missing or unreadable manifest gives ``{}``:
    it is only an optimisation, the files on disk are what counts.
    """
    kept: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                record = {k: plain_cell(v) for k, v in record.items()}
                sha = record.get("sha256") or ""
                if record.get("status") in _KEPT and _SHA256.fullmatch(sha) and record.get("id"):
                    kept[record["id"]] = sha
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return kept
