"""What a download amounts to, from its summary or its manifest: counts per status, rate, failures.

The Download page and ``python -m fashion_core download`` both report through ``DownloadFigures``,
so the two never count differently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fashion_core.download.manifest_reader import manifest_file, manifest_summary
from fashion_core.download.report import DownloadSummary
from fashion_core.errors import DownloadError


@dataclass(frozen=True)
class DownloadFigures:
    """The figures of one download.

    Attributes:
        total: Rows in the list.
        ok: Rows whose image this run wrote.
        failed: Rows that failed (cancelled rows included).
        skipped: Rows whose image was already there.
        duplicates: Kept images whose content an earlier row already had.
        duplicate_urls: Rows whose URL an earlier row had (fetched once); None from a manifest.
        elapsed: Seconds the run took; None from a manifest.
        cancelled: The run was cancelled.
        reasons: Failed rows by kind of reason, most common first.
        source: The manifest the figures come from.
    """

    total: int
    ok: int
    failed: int
    skipped: int
    duplicates: int = 0
    duplicate_urls: int | None = None
    elapsed: float | None = None
    cancelled: bool = False
    reasons: dict[str, int] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("total", "ok", "failed", "skipped", "duplicates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DownloadError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")
        if self.ok + self.failed + self.skipped != self.total:
            raise DownloadError(
                f"{self.source or 'download'}: ok + failed + skipped ({self.ok} + {self.failed} + "
                f"{self.skipped}) must equal the total ({self.total})"
            )

    @property
    def rate(self) -> float:
        """Rows per second over the whole run (0.0 when the time is unknown or zero)."""
        return self.total / self.elapsed if self.elapsed else 0.0

    @property
    def needs_attention(self) -> bool:
        """True when some rows did not end with an image: the run was cancelled or rows failed."""
        return self.cancelled or self.failed > 0

    def top_reasons(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most common kinds of failure with their row counts."""
        return list(self.reasons.items())[: max(n, 0)]


def summarize_download(summary: DownloadSummary) -> DownloadFigures:
    """The figures of a finished (or cancelled) download run."""
    return DownloadFigures(
        total=summary.total,
        ok=summary.ok,
        failed=summary.failed,
        skipped=summary.skipped,
        duplicates=summary.duplicates,
        duplicate_urls=summary.duplicate_urls,
        elapsed=summary.elapsed,
        cancelled=summary.cancelled,
        reasons=_most_common_first(summary.reasons),
        source=str(summary.manifest),
    )


def summarize_manifest(where: str | os.PathLike[str]) -> DownloadFigures:
    """The figures a manifest holds (a run's time is not in it).

    Args:
        where: ``manifest.csv`` or the download folder holding it.

    Raises:
        DownloadError: if the file is missing or is not a download manifest.
    """
    counts = manifest_summary(manifest_file(where))
    status = counts["status"]
    return DownloadFigures(
        total=counts["total"],
        ok=status.get("ok", 0),
        failed=status.get("failed", 0),
        skipped=status.get("skipped", 0),
        duplicates=counts["duplicates"],
        reasons=_most_common_first(counts["reasons"]),
        source=counts["manifest"],
    )


def _most_common_first(reasons: dict[str, int]) -> dict[str, int]:
    return dict(sorted(reasons.items(), key=lambda item: -item[1]))  # stable: ties keep their order
