"""What a download reports: the outcome of each row, progress while it runs, the final summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Status(str, Enum):
    """Outcome of one list row."""

    OK = "ok"  # the image is in the output folder, fetched (or copied) by this run
    SKIPPED = "skipped"  # the image was already there from an earlier run
    FAILED = "failed"  # see the reason


class RowFailure(Exception):
    """Internal signal: this row failed for ``reason``. Never leaves the download package.

    Attributes:
        reason: Short manifest text (``http 404``, ``timeout``, ``not an image`` ...).
        http_status: The last HTTP status seen, if any.
        nbytes: Bytes received, if any.
    """

    def __init__(self, reason: str, http_status: int | None = None, nbytes: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.nbytes = nbytes


@dataclass(frozen=True)
class RowResult:
    """One manifest row: what happened to one line of the list."""

    line: int
    image_id: str
    url: str
    status: Status
    reason: str = ""
    http_status: int | None = None
    nbytes: int | None = None
    sha256: str = ""
    duplicate_of: str = ""


def reason_kind(reason: str) -> str:
    """The reason without its details, for counting (``refused address 10.0.0.1 (private)``
    becomes ``refused address``; ``bad row: ...`` becomes ``bad row``)."""
    if reason.startswith("refused address"):
        return "refused address"
    return reason.split(":", 1)[0].split(" (", 1)[0]


@dataclass(frozen=True)
class ProgressInfo:
    """Progress of a running download, passed to ``on_progress``.

    Attributes:
        done: Rows finished (any status). total: rows in the list.
        ok, failed, skipped: Counts so far.
        elapsed: Seconds since the start.
        rate: Rows finished per second so far.
        eta: Estimated seconds left, or None before anything finished.
    """

    done: int
    total: int
    ok: int
    failed: int
    skipped: int
    elapsed: float
    rate: float
    eta: float | None


@dataclass(frozen=True)
class DownloadSummary:
    """Totals of one download run; ``ok + failed + skipped == total``.

    Attributes:
        ok: Rows whose image was written by this run (fetched or copied from a duplicate URL).
        failed: Rows that failed, malformed rows and refused URLs included.
        skipped: Rows whose image already existed (an earlier run).
        duplicates: Rows whose image content is identical to an earlier row's, under another id.
        duplicate_urls: Rows whose URL appeared on an earlier row (fetched once, then copied).
        total: Rows in the list (header and blank lines excluded).
        manifest: The manifest CSV written.
        out_dir: Where the images are.
        elapsed: Seconds the run took.
        cancelled: True if the run was cancelled; unfinished rows failed with ``cancelled``.
        reasons: Failed rows counted by kind of reason.
    """

    ok: int
    failed: int
    skipped: int
    duplicates: int
    duplicate_urls: int
    total: int
    manifest: Path
    out_dir: Path
    elapsed: float
    cancelled: bool = False
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``ok``, ``failed``, ``skipped`` and ``manifest`` are guaranteed."""
        return {
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "duplicate_urls": self.duplicate_urls,
            "total": self.total,
            "manifest": str(self.manifest),
            "out_dir": str(self.out_dir),
            "elapsed": round(self.elapsed, 3),
            "cancelled": self.cancelled,
            "reasons": dict(self.reasons),
        }
