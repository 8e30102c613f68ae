"""Download the images of a URL list: bounded concurrency, checks, resume, duplicates, manifest."""

from __future__ import annotations

import fcntl
import hashlib
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from fashion_core.download.config import DownloadConfig
from fashion_core.download.fetch import Fetcher
from fashion_core.download.images import normalise_image, write_atomic
from fashion_core.download.listfile import ListRow, ListScan, check_list_file, iter_rows, scan_list
from fashion_core.download.manifest import MANIFEST_NAME, ManifestWriter, read_kept_hashes
from fashion_core.download.report import (
    DownloadSummary,
    ProgressInfo,
    RowFailure,
    RowResult,
    Status,
    reason_kind,
)
from fashion_core.download.safety import check_url
from fashion_core.errors import DownloadError, UnsafeURLError
from fashion_core.faults import fault_point
from fashion_core.paths import image_id_problem

ProgressCallback = Callable[[ProgressInfo], None]
PROGRESS_INTERVAL = 0.1  # seconds between on_progress calls (the last one always comes)
LOCK_NAME = ".download.lock"


def download_images(
    list_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    config: DownloadConfig | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DownloadSummary:
    """Download every image of a JD-style list (``id,url,l1..l13``) to ``<out_dir>/<id>.jpg``.

    Each image is fetched through a bounded pool, checked (size, real image, pixel cap), turned
    upright, converted to RGB, optionally resized and written atomically. Ids whose file exists
    are skipped, so running again resumes and retries what failed. Every row ends in
    ``<out_dir>/manifest.csv`` with its status and reason; bad rows never stop the run.

    Args:
        list_path: The URL list. A header line ``id,url,...`` is allowed.
        out_dir: Output folder, created if needed.
        config: Options; ``DownloadConfig()`` when None.
        on_progress: Called from the calling thread with a ``ProgressInfo`` as rows finish.
        cancel: Set it to stop: running requests end, remaining rows fail as ``cancelled``.

    Returns:
        The summary; ``ok + failed + skipped == total``.

    Raises:
        DownloadError: if the list is missing, empty or binary, or the folder is unusable.
    """
    config = config or DownloadConfig()
    cancel = cancel if cancel is not None else threading.Event()
    list_file = check_list_file(list_path)
    scan = scan_list(list_file)
    out = _prepare_out_dir(Path(out_dir))
    with _claim_folder(out):
        _remove_partial_files(out)
        return _download(list_file, scan, out, config, cancel, on_progress)


def _download(
    list_file: Path,
    scan: ListScan,
    out: Path,
    config: DownloadConfig,
    cancel: threading.Event,
    on_progress: ProgressCallback | None,
) -> DownloadSummary:
    manifest_path = out / MANIFEST_NAME
    kept = read_kept_hashes(manifest_path)
    started = time.monotonic()
    with ManifestWriter(manifest_path) as manifest, Fetcher(config, cancel) as fetcher:
        with ThreadPoolExecutor(config.workers, thread_name_prefix="download") as pool:
            run = _Run(config, out, scan, kept, fetcher, pool, manifest, cancel, on_progress, started)
            try:
                run.feed(iter_rows(list_file))
            except BaseException:
                cancel.set()  # let workers stop retrying so the pool shuts down quickly
                raise
    return run.summary(manifest_path, time.monotonic() - started)


@contextmanager
def _claim_folder(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder for the run; the system drops it if we are killed.

    While it is held no other download writes here, so any ``.part`` file found is a leftover.
    """
    try:
        handle = open(out / LOCK_NAME, "a+b")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise DownloadError(f"{out}: cannot create the lock file ({exc.strerror or exc})") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadError(
                f"{out}: another download is writing into this folder; wait for it or choose another folder"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_partial_files(out: Path) -> None:
    """Delete the temporary files a killed run left (half images, an unfinished manifest)."""
    for leftover in out.glob(".*.part"):
        leftover.unlink(missing_ok=True)


def _prepare_out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise DownloadError(f"{out}: output path exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise DownloadError(f"{out}: output folder is not writable")
    return out


@dataclass
class _UrlGroup:
    """Rows sharing one URL: the first (leader) is fetched, the others wait for its result."""

    leader: ListRow
    result: RowResult | None = None
    waiting: list[ListRow] = field(default_factory=list)


class _Run:
    """State of one run, touched only by the calling thread (workers only fetch and write)."""

    def __init__(
        self,
        config: DownloadConfig,
        out: Path,
        scan: ListScan,
        kept: dict[str, str],
        fetcher: Fetcher,
        pool: ThreadPoolExecutor,
        manifest: ManifestWriter,
        cancel: threading.Event,
        on_progress: ProgressCallback | None,
        started: float,
    ) -> None:
        self.config, self.out, self.scan, self.kept = config, out, scan, kept
        self.fetcher, self.pool, self.manifest, self.cancel = fetcher, pool, manifest, cancel
        self.on_progress, self.started = on_progress, started
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.inflight: dict[Future[RowResult], ListRow] = {}
        self.finished: queue.SimpleQueue[Future[RowResult]] = queue.SimpleQueue()
        self.groups: dict[str, _UrlGroup] = {}  # only URLs the scan saw more than once
        self.first_line_of_id: dict[str, int] = {}  # only ids the scan saw more than once
        self.first_id_of_content: dict[bytes, str] = {}  # sha256 prefix -> first id kept
        self.last_progress = 0.0

    # -- feeding -------------------------------------------------------------------------

    def feed(self, rows: Iterable[ListRow]) -> None:
        """Admit every row, keeping at most ``config.window`` rows in flight."""
        for row in rows:
            self._admit(row)
            while len(self.inflight) >= self.config.window:
                self._collect_one()
        while self.inflight:
            self._collect_one()
        self._progress(force=True)

    def _admit(self, row: ListRow) -> None:
        refusal = self._refusal(row)
        if refusal is not None:
            self._record(_failed(row, refusal))
            return
        path = self._path(row)
        group = self._group(row)  # before the file check: a skipped row can lead its URL group
        if _has_file(path):
            self._finish(row, self._skipped(row, path))
            return
        if group is not None and group.leader is not row:
            if group.result is None:
                group.waiting.append(row)
            else:
                self._record(self._follow(row, group))
            return
        if self.cancel.is_set():
            self._finish(row, _failed(row, "cancelled"))
            return
        future = self.pool.submit(_fetch_and_store, row, path, self.fetcher, self.config)
        self.inflight[future] = row
        future.add_done_callback(self.finished.put)

    def _refusal(self, row: ListRow) -> str | None:
        """Why a row is refused before any network use, or None."""
        if row.error is not None:
            return row.error
        problem = image_id_problem(row.image_id)
        if problem is not None:
            return f"bad row: {problem}"
        if hash(row.image_id) in self.scan.repeated_id_hashes:
            first = self.first_line_of_id.setdefault(row.image_id, row.line)
            if first != row.line:
                return f"duplicate id (first on line {first})"
        try:
            check_url(row.url, allow_private=self.config.allow_private)
        except UnsafeURLError as exc:
            return str(exc)
        return None

    def _path(self, row: ListRow) -> Path:
        path = self.out / f"{row.image_id}.jpg"
        if path.parent != self.out:  # image_id_problem already refuses this; belt and braces
            raise DownloadError(f"id {row.image_id!r} would leave {self.out}")
        return path

    def _group(self, row: ListRow) -> _UrlGroup | None:
        if hash(row.url) not in self.scan.repeated_url_hashes:
            return None
        return self.groups.setdefault(row.url, _UrlGroup(leader=row))

    def _skipped(self, row: ListRow, path: Path) -> RowResult:
        sha = self.kept.get(row.image_id, "")
        return RowResult(
            row.line, row.image_id, row.url, Status.SKIPPED, nbytes=path.stat().st_size, sha256=sha
        )

    # -- collecting ----------------------------------------------------------------------

    def _collect_one(self) -> None:
        future = self.finished.get()
        row = self.inflight.pop(future)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a bug on one row must not end the batch
            result = _failed(row, f"internal error: {type(exc).__name__}: {exc}")
        self._finish(row, result)

    def _finish(self, row: ListRow, result: RowResult) -> None:
        """Record a fetched (or skipped) row and release the rows waiting on its URL."""
        self._record(result)
        group = self.groups.get(row.url)
        if group is None or group.leader is not row:
            return
        group.result = result
        for follower in group.waiting:
            self._record(self._follow(follower, group))
        group.waiting.clear()

    def _follow(self, row: ListRow, group: _UrlGroup) -> RowResult:
        """The result for a row whose URL an earlier row fetched: copy its image or its failure."""
        lead = group.result
        assert lead is not None
        base = RowResult(
            row.line,
            row.image_id,
            row.url,
            Status.FAILED,
            http_status=lead.http_status,
            duplicate_of=lead.image_id,
        )
        if lead.status is Status.FAILED:
            return replace(base, reason=lead.reason)
        try:
            data = (self.out / f"{lead.image_id}.jpg").read_bytes()
            write_atomic(self._path(row), data)
        except OSError as exc:
            return replace(base, reason=f"write error: {exc.strerror or exc}")
        sha = hashlib.sha256(data).hexdigest()
        # A skipped leader may have no known hash; it holds this content first.
        self.first_id_of_content.setdefault(bytes.fromhex(sha)[:16], lead.image_id)
        return replace(base, status=Status.OK, reason="duplicate url", nbytes=len(data), sha256=sha)

    def _record(self, result: RowResult) -> None:
        result = self._mark_duplicate(result)
        self.counts[result.status.value] += 1
        if result.status is Status.FAILED:
            self.reasons[reason_kind(result.reason)] += 1
        if result.reason == "duplicate url":
            self.counts["duplicate_urls"] += 1
        self.manifest.write(result)
        fault_point("download:row-recorded")
        self._progress()

    def _mark_duplicate(self, result: RowResult) -> RowResult:
        if result.status is Status.FAILED or not result.sha256:
            return result
        key = bytes.fromhex(result.sha256)[:16]  # 128 bits: ample, and half the memory
        first = self.first_id_of_content.setdefault(key, result.image_id)
        if first == result.image_id:
            return result
        self.counts["duplicates"] += 1
        if result.duplicate_of:
            return result  # a duplicate URL: already points at the row it was copied from
        return replace(result, reason=result.reason or "duplicate content", duplicate_of=first)

    # -- reporting -----------------------------------------------------------------------

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is None or (not force and now - self.last_progress < PROGRESS_INTERVAL):
            return
        self.last_progress = now
        done = self.counts["ok"] + self.counts["failed"] + self.counts["skipped"]
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = (self.scan.total - done) / rate if rate > 0 else None
        self.on_progress(
            ProgressInfo(
                done,
                self.scan.total,
                self.counts["ok"],
                self.counts["failed"],
                self.counts["skipped"],
                elapsed,
                rate,
                eta,
            )
        )

    def summary(self, manifest: Path, elapsed: float) -> DownloadSummary:
        """The totals of the run."""
        return DownloadSummary(
            ok=self.counts["ok"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped"],
            duplicates=self.counts["duplicates"],
            duplicate_urls=self.counts["duplicate_urls"],
            total=self.scan.total,
            manifest=manifest,
            out_dir=self.out,
            elapsed=elapsed,
            cancelled=self.cancel.is_set(),
            reasons=dict(self.reasons.most_common()),
        )


def _has_file(path: Path) -> bool:
    try:
        return path.stat().st_size > 0  # an empty file is not a kept image: fetch again
    except OSError:
        return False


def _failed(row: ListRow, reason: str) -> RowResult:
    return RowResult(row.line, row.image_id, row.url, Status.FAILED, reason=reason)


def _fetch_and_store(row: ListRow, path: Path, fetcher: Fetcher, config: DownloadConfig) -> RowResult:
    """Worker: fetch, check and write one image. Runs in a pool thread."""
    try:
        fetched = fetcher.fetch(row.url)
    except RowFailure as exc:
        return RowResult(
            row.line, row.image_id, row.url, Status.FAILED, exc.reason, exc.http_status, exc.nbytes
        )
    try:
        data = normalise_image(
            fetched.body,
            max_pixels=config.max_pixels,
            resize_short_side=config.resize_short_side,
            jpeg_quality=config.jpeg_quality,
        )
        write_atomic(path, data)
    except RowFailure as exc:
        return RowResult(
            row.line, row.image_id, row.url, Status.FAILED, exc.reason, fetched.http_status, len(fetched.body)
        )
    except OSError as exc:
        return RowResult(
            row.line,
            row.image_id,
            row.url,
            Status.FAILED,
            f"write error: {exc.strerror or exc}",
            fetched.http_status,
        )
    sha = hashlib.sha256(data).hexdigest()
    return RowResult(row.line, row.image_id, row.url, Status.OK, "", fetched.http_status, len(data), sha)
