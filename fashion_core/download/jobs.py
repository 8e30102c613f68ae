"""Downloads running in background threads of the app process, their manifests, and their import."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import logging
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fashion_core.download import (
    MANIFEST_NAME,
    DownloadConfig,
    DownloadSummary,
    ProgressInfo,
    download_images,
)
from fashion_core.download.listfile import check_list_file
from fashion_core.download.report import reason_kind
from fashion_core.errors import DownloadError, FashionCoreError, JobError
from fashion_core.ingest.importer import ImportReport, import_labels
from fashion_core.ingest.table import Rejection
from fashion_core.store import LabelStore

logger = logging.getLogger(__name__)

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
STATES: tuple[str, ...] = (RUNNING, DONE, FAILED, CANCELLED)
FAILURE_COLUMNS: tuple[str, ...] = ("line", "id", "url", "reason", "http_status")
_NEEDED_COLUMNS = ("line", "id", "url", "status", "reason")
MANIFEST_CHUNK_ROWS = 200_000  # rows read at a time: bounded memory on huge manifests
_MISSING_IMAGE = re.compile(r"^image file missing: (?P<name>.+)$")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

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
            self._jobs[job_id] = DownloadJob(job_id, list_file, out, config, threading.Event(), time.time())
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


# -- lists uploaded in the app ---------------------------------------------------------------


def save_list(lists_dir: str | os.PathLike[str], name: str, data: bytes) -> Path:
    """Save an uploaded URL list under ``lists_dir`` and return its path.

    The file keeps its (sanitised) name. A file of that name with other content is never
    overwritten (a running download may be reading it): the list is then saved as
    ``<stem>-<first 8 hex of its SHA-256><suffix>``, so uploading the same list again reuses it.

    Raises:
        DownloadError: if ``data`` is empty or the folder cannot be written.
    """
    if not data.strip():
        raise DownloadError(f"{name or 'the uploaded list'}: the list is empty")
    base = _safe_file_name(name)
    folder = Path(lists_dir)
    digest = hashlib.sha256(data).hexdigest()[:8]
    for candidate in (folder / base, folder / f"{Path(base).stem}-{digest}{Path(base).suffix}"):
        if not candidate.exists():
            return _write_atomic(candidate, data)
        if candidate.is_file() and candidate.read_bytes() == data:
            return candidate
    raise DownloadError(f"{folder / base}: a different list already has this name and hash; rename the file")


def default_out_dir(downloads_dir: str | os.PathLike[str], list_name: str) -> Path:
    """The default output folder of a list: ``<downloads_dir>/<list stem>`` (stem made safe)."""
    return Path(downloads_dir) / Path(_safe_file_name(list_name)).stem


def _safe_file_name(name: str) -> str:
    cleaned = _UNSAFE_NAME_CHARS.sub("_", Path(name or "").name).strip("._")[:100]
    if not cleaned:
        return "list.csv"
    return cleaned if Path(cleaned).suffix else f"{cleaned}.csv"


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{path}: cannot save the list ({exc.strerror or exc})") from None
    return path


# -- manifests -------------------------------------------------------------------------------


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
    for chunk in _manifest_chunks(path, ["status", "reason", "duplicate_of"]):
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
    frame["line"] = _line_numbers(path, frame["line"])
    return frame.sort_values("line", kind="stable")[list(FAILURE_COLUMNS)].reset_index(drop=True)


def _first_failed_rows(path: Path, limit: int | None) -> pd.Series:
    """Line numbers of the first ``limit`` failed rows, indexed by their row in the manifest."""
    kept = pd.Series(dtype="int64")
    for chunk in _manifest_chunks(path, ["line", "status"]):
        lines = _line_numbers(path, chunk.loc[chunk["status"] == "failed", "line"])
        kept = pd.concat([kept, lines]) if not kept.empty else lines
        if limit is not None:
            kept = kept.nsmallest(limit)
    return kept


def _manifest_chunks(path: Path, columns: list[str]) -> Iterator[pd.DataFrame]:
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
            yield chunk


def _read_manifest(path: Path, **options: Any) -> Any:
    """``pd.read_csv`` of a manifest as text; a DataFrame, or a chunk reader with ``chunksize``."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, **options)
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


def _line_numbers(path: Path, lines: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(lines, errors="coerce")
    if numbers.isna().any():
        bad = lines[numbers.isna()].iloc[0]
        raise DownloadError(f"{path}: bad line number {bad!r} in the manifest's 'line' column")
    return numbers.astype("int64")


# -- import ----------------------------------------------------------------------------------


def import_download(
    store: LabelStore,
    *,
    list_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    dataset: str,
    replace: bool = False,
) -> ImportReport:
    """Import a downloaded list as a JD dataset whose images root is the download folder.

    Rows whose image is not in the folder are rejected (not imported); their reason names the
    file and, from the download manifest, why its download failed.

    Args:
        store: The label store.
        list_path: The URL list that was downloaded (its labels are imported).
        out_dir: The download's output folder.
        dataset: Name of the new dataset.
        replace: Replace a dataset of that name instead of refusing.

    Returns:
        The import report, with every rejected row.

    Raises:
        DownloadError: if the manifest shows that no image at all was downloaded.
        LabelFileError: if the list cannot be read or no row has an image.
        StoreError: if the dataset exists and ``replace`` is False, or the name is empty.
    """
    out = Path(out_dir).expanduser().resolve()
    manifest = out / MANIFEST_NAME
    if manifest.is_file():
        _refuse_empty_download(manifest)
    report = import_labels(
        store,
        dataset=dataset,
        fmt="jd",
        files=[Path(list_path).expanduser()],
        images_root=out,
        replace=replace,
    )
    return dataclasses.replace(report, rejected=_explain_missing(report.rejected, manifest))


def _refuse_empty_download(manifest: Path) -> None:
    counts = manifest_summary(manifest)
    if counts["total"] and not counts["status"]["ok"] and not counts["status"]["skipped"]:
        top = next(iter(counts["reasons"]), "unknown")
        raise DownloadError(
            f"{manifest.parent}: no image was downloaded ({counts['status']['failed']} rows failed, "
            f"most often: {top}); nothing to import. See {manifest}."
        )


def _explain_missing(rejected: Iterable[Rejection], manifest: Path) -> list[Rejection]:
    """Add the download's own reason to every 'image file missing' rejection."""
    rejected = list(rejected)
    wanted = {r.line for r in rejected if _MISSING_IMAGE.match(r.reason)}
    if not wanted:
        return rejected
    by_line = _manifest_lines(manifest, wanted)
    return [_explained(r, by_line, manifest) if r.line in wanted else r for r in rejected]


def _manifest_lines(manifest: Path, lines: set[int]) -> dict[int, dict[str, str]] | None:
    """Manifest rows of the given list lines; None when there is no readable manifest."""
    found: dict[int, dict[str, str]] = {}
    try:
        for chunk in _manifest_chunks(manifest, ["line", "id", "status", "reason"]):
            chunk = chunk.assign(line=_line_numbers(manifest, chunk["line"]))
            for record in chunk[chunk["line"].isin(lines)].to_dict("records"):
                found[int(record["line"])] = record
    except DownloadError:
        return None
    return found


def _explained(rejection: Rejection, by_line: dict[int, dict[str, str]] | None, manifest: Path) -> Rejection:
    match = _MISSING_IMAGE.match(rejection.reason)
    name = match.group("name") if match else "?"
    record = None if by_line is None else by_line.get(rejection.line)
    if by_line is None:
        why = f"no download manifest in {manifest.parent}: download the list into this folder first"
    elif record is None or f"{record['id']}.jpg" != name:
        why = f"line not in the download manifest {manifest}"
    elif record["status"] == "failed":
        why = f"download failed: {record['reason']}; see the download manifest {manifest}"
    else:
        why = f"the manifest says {record['status']} but the file is gone; download again to fetch it"
    return dataclasses.replace(rejection, reason=f"image file missing: {name} ({why})")
