"""The Download page's background downloads: a thread-safe registry of jobs, one thread each."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion_core.access import require_acting
from fashion_core.download.config import DownloadConfig
from fashion_core.download.downloader import download_images
from fashion_core.download.listfile import check_list_file
from fashion_core.download.manifest import MANIFEST_NAME
from fashion_core.download.report import DownloadSummary, ProgressInfo
from fashion_core.errors import DownloadError, FashionCoreError, JobError

logger = logging.getLogger(__name__)

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
STATES: tuple[str, ...] = (RUNNING, DONE, FAILED, CANCELLED)

DownloadFn = Callable[..., DownloadSummary]  # the signature of ``download_images``


@dataclass(frozen=True)
class DownloadJob:
    """A snapshot of one background download. The registry swaps in a new snapshot on each change,
    so a reader never sees half an update.

    Attributes:
        job_id: The registry's id of the download.
        list_path: The URL list (absolute).
        out_dir: Where the images and ``manifest.csv`` go (absolute).
        config: The download options.
        cancel_event: Set to ask the download to stop (``DownloadRegistry.cancel`` does it).
        started_at: Wall-clock start (``time.time()``).
        state: ``running``, ``done``, ``failed`` or ``cancelled``.
        progress: The latest progress report, None before the first one.
        summary: The final summary (``done`` and ``cancelled``).
        error: Why the download could not run (``failed``).
        finished_at: Wall-clock end, None while running.
        started_by: Who started it (the acting identity's name).
    """

    job_id: str
    list_path: Path
    out_dir: Path
    config: DownloadConfig
    cancel_event: threading.Event = field(compare=False, repr=False)
    started_at: float = 0.0
    state: str = RUNNING
    progress: ProgressInfo | None = None
    summary: DownloadSummary | None = None
    error: str | None = None
    finished_at: float | None = None
    started_by: str = ""

    @property
    def active(self) -> bool:
        """True while the download runs."""
        return self.state == RUNNING

    @property
    def cancel_requested(self) -> bool:
        """True once someone asked the download to stop."""
        return self.cancel_event.is_set()

    @property
    def manifest(self) -> Path:
        """The manifest this download writes (it appears when the run ends)."""
        return self.out_dir / MANIFEST_NAME

    @property
    def fraction(self) -> float:
        """Share of rows finished, 0.0 to 1.0."""
        if self.summary is not None:
            return 1.0  # every row ends ok, skipped or failed; a cancelled run fails the rest
        if self.progress is None or not self.progress.total:
            return 0.0
        return min(1.0, self.progress.done / self.progress.total)


class DownloadRegistry:
    """The downloads of this process, each in its own background thread.

    Downloads are I/O bound, so threads in the app process are enough (no TensorFlow involved).
    Worker threads only update the registry; they never touch any UI. All methods are
    thread-safe, so one registry can serve every browser session of the app.

    Args:
        download: The function that downloads; ``download_images`` unless a test passes another.
    """

    def __init__(self, download: DownloadFn = download_images) -> None:
        self._download = download
        self._jobs: dict[str, DownloadJob] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def start(
        self,
        list_path: str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        config: DownloadConfig | None = None,
    ) -> str:
        """Start downloading ``list_path`` into ``out_dir`` in a background thread.

        Args:
            list_path: A JD-style URL list (``id,url,l1..l13``).
            out_dir: Output folder; created if needed.
            config: Download options; ``DownloadConfig()`` when None.

        Returns:
            The new job's id.

        Raises:
            DownloadError: if the list is missing, empty or binary, the output path is a file,
                or another download of this registry is writing into the same folder.
        """
        who = require_acting("download").name
        config = DownloadConfig() if config is None else config
        if not isinstance(config, DownloadConfig):
            raise DownloadError(f"`config` must be a DownloadConfig. Received: {type(config).__name__}")
        list_file = check_list_file(Path(list_path).expanduser()).resolve()  # fail here, not in a thread
        out = Path(out_dir).expanduser().resolve()
        if out.exists() and not out.is_dir():
            raise DownloadError(f"{out}: output path exists and is not a folder")
        with self._lock:
            self._refuse_busy_folder(out)
            job_id = f"dl-{next(self._counter):03d}-{uuid.uuid4().hex[:6]}"
            self._jobs[job_id] = DownloadJob(
                job_id, list_file, out, config, threading.Event(), time.time(), started_by=who
            )
            # Daemon: stopping the app must not wait for a list of millions of URLs. Image writes
            # are atomic, so a killed run leaves no half files and the next run resumes.
            thread = threading.Thread(
                target=self._run, args=(job_id,), name=f"download-{job_id}", daemon=True
            )
            self._threads[job_id] = thread
        thread.start()
        return job_id

    def _refuse_busy_folder(self, out: Path) -> None:
        for job in self._jobs.values():
            if job.active and job.out_dir == out:
                raise DownloadError(
                    f"{out}: download {job.job_id} is already writing into this folder; "
                    "wait for it to finish or cancel it first"
                )

    def get(self, job_id: str) -> DownloadJob:
        """The latest snapshot of a job.

        Raises:
            JobError: if no job has this id.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobError(
                f"No download with id {job_id!r} in this app process (it may have been restarted)."
            )
        return job

    def jobs(self) -> list[DownloadJob]:
        """Every job of this process, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)

    def cancel(self, job_id: str) -> DownloadJob:
        """Ask a job to stop; rows not yet fetched end as ``cancelled`` in its manifest.

        Cancelling a finished job changes nothing. Returns the job's snapshot.
        """
        job = self.get(job_id)
        if job.active:
            job.cancel_event.set()
        return self.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> DownloadJob:
        """Block until the job ends or ``timeout`` seconds pass; return its snapshot."""
        self.get(job_id)
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.get(job_id)

    # -- the worker thread ---------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        job = self.get(job_id)
        outcome: dict[str, Any] = {"state": FAILED, "error": "the download thread stopped unexpectedly"}
        try:
            summary = self._download(
                job.list_path,
                job.out_dir,
                config=job.config,
                on_progress=lambda info: self._update(job_id, progress=info),
                cancel=job.cancel_event,
            )
            outcome = {"state": CANCELLED if summary.cancelled else DONE, "summary": summary, "error": None}
        except FashionCoreError as exc:
            outcome["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - in a thread it would vanish and the job stay "running"
            logger.exception("download %s failed", job_id)
            outcome["error"] = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self._update(job_id, finished_at=time.time(), **outcome)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = dataclasses.replace(self._jobs[job_id], **changes)
