"""Background downloads (registry), manifest helpers and import of a download, on a 127.0.0.1 server."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from fashion_core.download import (
    DownloadConfig,
    DownloadRegistry,
    DownloadSummary,
    default_out_dir,
    import_download,
    manifest_failures,
    save_list,
)
from fashion_core.download.jobs import CANCELLED, DONE, FAILED
from fashion_core.download.manifest_reader import manifest_summary
from fashion_core.errors import DownloadError, JobError, StoreError
from fashion_core.store import LabelStore

GOOD_IDS = ("red", "green", "blue", "grey")
COLOURS = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220), "grey": (128, 128, 128)}


def flags(*positions: int) -> str:
    """13 comma-separated 0/1 labels with 1 at the given 1-based positions."""
    return ",".join("1" if i in positions else "0" for i in range(1, 14))


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=95)
    return out.getvalue()


class ImageSite(ThreadingHTTPServer):
    """A local image host: ``/img/<id>.jpg`` (known ids), ``/slow/<n>.jpg`` (``delay`` s), else 404."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, delay: float = 0.3) -> None:
        self.images = {f"/img/{i}.jpg": jpeg(c) for i, c in COLOURS.items()}
        self.delay = delay
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a cancelled client may hang up mid-answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ImageSite

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/slow/"):
            time.sleep(self.server.delay)
            body = jpeg((9, 9, 9))
        else:
            body = self.server.images.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "image/jpeg" if body else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve(delay: float = 0.3) -> Iterator[ImageSite]:
    """Run an ``ImageSite`` on 127.0.0.1 for the duration of the block."""
    site = ImageSite(delay)
    thread = threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()


def write_good_list(path: Path, base: str) -> Path:
    """A JD list: the four good images (labels style_0k for the k-th), one 404, one malformed row."""
    rows = ["id,url," + ",".join(f"l{i}" for i in range(1, 14))]
    rows += [
        f"{image_id},{base}/img/{image_id}.jpg,{flags(k)}" for k, image_id in enumerate(GOOD_IDS, start=1)
    ]
    rows.append(f"missing,{base}/img/missing.jpg,{flags(5)}")
    rows.append("broken,only-two-fields")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def fast_config(**overrides: object) -> DownloadConfig:
    options: dict[str, object] = dict(workers=4, allow_private=True, retries=0, read_timeout=5.0)
    options.update(overrides)
    return DownloadConfig(**options)  # type: ignore[arg-type]


@pytest.fixture()
def site() -> Iterator[ImageSite]:
    with serve() as s:
        yield s


@pytest.fixture()
def downloaded(tmp_path: Path, site: ImageSite) -> tuple[Path, Path, DownloadSummary]:
    """A finished download of the good list: (list, out dir, summary)."""
    listed = write_good_list(tmp_path / "styles.csv", site.base)
    registry = DownloadRegistry()
    job = registry.wait(registry.start(listed, tmp_path / "out", fast_config()), timeout=30)
    assert job.state == DONE and job.summary is not None
    return listed, job.out_dir, job.summary


# -- the registry ----------------------------------------------------------------------------


def test_start_runs_in_the_background_and_ends_done_with_counts(tmp_path: Path, site: ImageSite) -> None:
    listed = write_good_list(tmp_path / "styles.csv", site.base)
    registry = DownloadRegistry()
    job_id = registry.start(listed, tmp_path / "out", fast_config())
    assert registry.get(job_id).job_id == job_id
    job = registry.wait(job_id, timeout=30)
    assert job.state == DONE and job.error is None and job.finished_at is not None
    s = job.summary
    assert (s.ok, s.failed, s.skipped, s.total) == (4, 2, 0, 6)
    assert s.reasons == {"http 404": 1, "bad row": 1}
    assert job.progress is not None and job.progress.done == job.progress.total == 6
    assert job.fraction == 1.0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jpg")) == sorted(f"{i}.jpg" for i in GOOD_IDS)
    assert job.manifest == (tmp_path / "out" / "manifest.csv").resolve() and job.manifest.is_file()
    assert [j.job_id for j in registry.jobs()] == [job_id]


def test_a_second_run_skips_what_the_first_downloaded(tmp_path: Path, site: ImageSite) -> None:
    listed = write_good_list(tmp_path / "styles.csv", site.base)
    registry = DownloadRegistry()
    first = registry.wait(registry.start(listed, tmp_path / "out", fast_config()), timeout=30)
    second = registry.wait(registry.start(listed, tmp_path / "out", fast_config()), timeout=30)
    assert first.summary.ok == 4 and second.summary.skipped == 4 and second.summary.ok == 0
    assert [j.job_id for j in registry.jobs()] == [second.job_id, first.job_id]  # newest first


def test_cancel_stops_the_download_and_marks_the_rest_cancelled(tmp_path: Path, site: ImageSite) -> None:
    rows = [f"s{n},{site.base}/slow/{n}.jpg,{flags(1)}" for n in range(40)]
    listed = tmp_path / "slow.csv"
    listed.write_text("\n".join(rows) + "\n", encoding="utf-8")
    registry = DownloadRegistry()
    job_id = registry.start(listed, tmp_path / "out", fast_config(workers=2, window_factor=1))
    deadline = time.monotonic() + 10
    while _done(registry, job_id) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert registry.get(job_id).active
    asked = time.monotonic()
    assert registry.cancel(job_id).cancel_requested
    job = registry.wait(job_id, timeout=10)
    stopped_after = time.monotonic() - asked
    assert job.state == CANCELLED and job.summary.cancelled
    assert job.summary.ok + job.summary.failed == 40 and 2 <= job.summary.ok < 40
    assert manifest_summary(job.out_dir)["reasons"].get("cancelled", 0) >= 30
    assert stopped_after < 3.0  # two requests in flight of 0.3 s each, plus the one queued behind
    assert registry.cancel(job_id).state == CANCELLED  # cancelling a finished job changes nothing


def _done(registry: DownloadRegistry, job_id: str) -> int:
    progress = registry.get(job_id).progress
    return 0 if progress is None else progress.done


def test_start_refuses_a_missing_list_a_file_as_folder_and_a_busy_folder(
    tmp_path: Path, site: ImageSite
) -> None:
    registry = DownloadRegistry()
    with pytest.raises(DownloadError, match=r"nope\.csv: list file not found"):
        registry.start(tmp_path / "nope.csv", tmp_path / "out")
    listed = write_good_list(tmp_path / "styles.csv", site.base)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DownloadError, match="not a folder"):
        registry.start(listed, tmp_path / "afile")
    slow = tmp_path / "slow.csv"
    slow.write_text("\n".join(f"s{n},{site.base}/slow/{n}.jpg,{flags(2)}" for n in range(20)) + "\n")
    first = registry.start(slow, tmp_path / "out", fast_config(workers=1))
    with pytest.raises(DownloadError, match=f"download {first} is already writing into this folder"):
        registry.start(listed, tmp_path / "out", fast_config())
    other = registry.start(listed, tmp_path / "elsewhere", fast_config())  # another folder is fine
    registry.cancel(first)
    assert registry.wait(first, timeout=10).state == CANCELLED
    assert registry.wait(other, timeout=30).state == DONE
    with pytest.raises(DownloadError, match="must be a DownloadConfig"):
        registry.start(listed, tmp_path / "x", {"workers": 2})  # type: ignore[arg-type]


def test_a_download_that_cannot_run_ends_failed_with_its_message(tmp_path: Path) -> None:
    listed = tmp_path / "l.csv"
    listed.write_text(f"a,http://127.0.0.1:9/a.jpg,{flags(1)}\n")

    def refuse(*args: object, **kwargs: object) -> DownloadSummary:
        raise DownloadError(f"{tmp_path / 'out'}: output folder is not writable")

    def crash(*args: object, **kwargs: object) -> DownloadSummary:
        raise ZeroDivisionError("division by zero")

    registry = DownloadRegistry(download=refuse)
    failed = registry.wait(registry.start(listed, tmp_path / "out"), timeout=5)
    assert failed.state == FAILED and failed.error.endswith("output folder is not writable")
    assert failed.summary is None and failed.finished_at is not None
    registry = DownloadRegistry(download=crash)
    crashed = registry.wait(registry.start(listed, tmp_path / "out"), timeout=5)
    assert crashed.state == FAILED and crashed.error == "internal error: ZeroDivisionError: division by zero"


def test_unknown_ids_raise_job_error_and_snapshots_are_frozen(tmp_path: Path) -> None:
    registry = DownloadRegistry()
    with pytest.raises(JobError, match="No download with id 'dl-x'"):
        registry.get("dl-x")
    with pytest.raises(JobError):
        registry.cancel("dl-x")
    listed = tmp_path / "l.csv"
    listed.write_text(f"a,http://127.0.0.1:9/a.jpg,{flags(1)}\n")
    registry = DownloadRegistry(download=lambda *a, **k: _summary(tmp_path))
    job = registry.wait(registry.start(listed, tmp_path / "out"), timeout=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.state = "running"  # type: ignore[misc]
    assert job.state == DONE and job.summary.ok == 1


def _summary(tmp_path: Path) -> DownloadSummary:
    return DownloadSummary(1, 0, 0, 0, 0, 1, tmp_path / "out" / "manifest.csv", tmp_path / "out", 0.1)


# -- manifests -------------------------------------------------------------------------------


def test_manifest_summary_counts_statuses_and_reasons(downloaded: tuple[Path, Path, DownloadSummary]) -> None:
    _, out, summary = downloaded
    counts = manifest_summary(out)  # the folder works as well as the file
    assert counts == manifest_summary(out / "manifest.csv")
    assert counts["total"] == summary.total == 6
    assert counts["status"] == {"ok": 4, "failed": 2, "skipped": 0}
    assert counts["reasons"] == {"http 404": 1, "bad row": 1}
    assert counts["duplicates"] == 0


def test_manifest_failures_in_list_order_with_a_limit(downloaded: tuple[Path, Path, DownloadSummary]) -> None:
    _, out, _ = downloaded
    frame = manifest_failures(out)
    assert list(frame.columns) == ["line", "id", "url", "reason", "http_status"]
    assert frame["line"].tolist() == [6, 7] and frame["id"].tolist() == ["missing", "broken"]
    assert frame["reason"].iloc[0] == "http 404" and frame["http_status"].iloc[0] == "404"
    assert frame["reason"].iloc[1].startswith("bad row: expected 15 fields")
    assert manifest_failures(out, limit=1)["id"].tolist() == ["missing"]
    with pytest.raises(DownloadError, match="`limit` must be an integer >= 1"):
        manifest_failures(out, limit=0)


def test_manifest_helpers_name_the_file_when_it_is_missing_or_not_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"manifest\.csv: no download manifest here"):
        manifest_summary(tmp_path)
    other = tmp_path / "labels.csv"
    other.write_text("image,label\na.jpg,1\n")
    with pytest.raises(
        DownloadError, match=r"labels\.csv: not a download manifest \(missing columns: line, id, url"
    ):
        manifest_failures(other)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(DownloadError, match="bin.csv"):
        manifest_summary(binary)


def test_manifest_failures_of_a_large_manifest_keep_only_the_first_lines(tmp_path: Path) -> None:
    lines = ["line,id,url,status,reason,http_status,bytes,sha256,duplicate_of"]
    for n in range(5000, 1, -1):  # finish order is not list order
        status, reason = ("failed", "timeout") if n % 2 else ("ok", "")
        lines.append(f"{n},i{n},http://x/{n},{status},{reason},,,,{'i2' if n % 7 == 0 else ''}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    frame = manifest_failures(tmp_path, limit=3)
    assert frame["line"].tolist() == [3, 5, 7] and frame["id"].tolist() == ["i3", "i5", "i7"]
    counts = manifest_summary(tmp_path)
    assert counts["status"] == {"ok": 2500, "failed": 2499, "skipped": 0}
    assert counts["duplicates"] == sum(1 for n in range(2, 5001) if n % 7 == 0 and n % 2 == 0)
    assert counts["reasons"] == {"timeout": 2499}
    assert len(manifest_failures(tmp_path, limit=None)) == 2499


# -- import ----------------------------------------------------------------------------------


def test_import_download_makes_a_dataset_of_the_downloaded_images(
    downloaded: tuple[Path, Path, DownloadSummary], store: LabelStore
) -> None:
    listed, out, _ = downloaded
    report = import_download(store, list_path=listed, out_dir=out, dataset="styles")
    assert report.dataset == "styles" and report.images == 4
    info = store.dataset("styles")
    assert info.images_root == out and info.source_format == "jd"
    images = store.images("styles")
    assert sorted(images["path"]) == sorted(f"{i}.jpg" for i in GOOD_IDS)
    assert sorted(images["external_id"]) == sorted(GOOD_IDS)
    for path in images["path"]:  # the stored images are the files the download wrote
        with Image.open(info.images_root / path) as img:
            assert img.size == (32, 24)
    labels = store.original_labels("styles").set_index("path")["value"].to_dict()
    assert labels == {f"{i}.jpg": f"style_{k:02d}" for k, i in enumerate(GOOD_IDS, start=1)}
    reasons = {r.line: r.reason for r in report.rejected}
    assert set(reasons) == {6, 7}
    assert reasons[6] == (
        f"image file missing: missing.jpg (download failed: http 404; see the download manifest {out / 'manifest.csv'})"
    )
    assert reasons[7].startswith("expected 15 fields")


def test_import_download_refuses_an_existing_name_unless_replace(
    downloaded: tuple[Path, Path, DownloadSummary], store: LabelStore
) -> None:
    listed, out, _ = downloaded
    import_download(store, list_path=listed, out_dir=out, dataset="styles")
    with pytest.raises(StoreError, match="already exists"):
        import_download(store, list_path=listed, out_dir=out, dataset="styles")
    again = import_download(store, list_path=listed, out_dir=out, dataset="styles", replace=True)
    assert again.images == 4 and [d.name for d in store.datasets()] == ["styles"]


def test_import_download_of_a_download_that_got_nothing_says_so(
    tmp_path: Path, site: ImageSite, store
) -> None:
    listed = tmp_path / "none.csv"
    listed.write_text(f"a,{site.base}/img/nothing.jpg,{flags(1)}\nb,{site.base}/img/gone.jpg,{flags(2)}\n")
    registry = DownloadRegistry()
    job = registry.wait(registry.start(listed, tmp_path / "out", fast_config()), timeout=30)
    assert job.summary.failed == 2
    with pytest.raises(
        DownloadError, match=r"no image was downloaded \(2 rows failed, most often: http 404\)"
    ):
        import_download(store, list_path=listed, out_dir=job.out_dir, dataset="none")
    assert store.datasets() == []


def test_import_without_a_manifest_explains_missing_images(
    downloaded: tuple[Path, Path, DownloadSummary], store: LabelStore
) -> None:
    listed, out, _ = downloaded
    (out / "manifest.csv").unlink()
    (out / "grey.jpg").unlink()
    report = import_download(store, list_path=listed, out_dir=out, dataset="styles")
    assert report.images == 3
    reasons = {r.line: r.reason for r in report.rejected}
    assert (
        reasons[5]
        == f"image file missing: grey.jpg (no download manifest in {out}: download the list into this folder first)"
    )


# -- uploaded lists --------------------------------------------------------------------------


def test_save_list_never_overwrites_another_list(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    first = save_list(lists, "train.csv", b"a,http://x/a.jpg\n")
    assert first == lists / "train.csv" and first.read_bytes() == b"a,http://x/a.jpg\n"
    assert save_list(lists, "train.csv", b"a,http://x/a.jpg\n") == first  # same content: reused
    second = save_list(lists, "train.csv", b"b,http://x/b.jpg\n")
    assert second.parent == lists and second.name.startswith("train-") and second.suffix == ".csv"
    assert first.read_bytes() == b"a,http://x/a.jpg\n" and second.read_bytes() == b"b,http://x/b.jpg\n"
    assert save_list(lists, "../../etc/passwd", b"x\n") == lists / "passwd.csv"
    assert save_list(lists, "my list (1).txt", b"y\n").name == "my_list_1_.txt"
    with pytest.raises(DownloadError, match="empty"):
        save_list(lists, "e.csv", b"  \n")
    assert not list(lists.glob(".*.part"))


def test_default_out_dir_is_the_list_stem_under_downloads(tmp_path: Path) -> None:
    assert default_out_dir(tmp_path, "jd_train.csv") == tmp_path / "jd_train"
    assert default_out_dir(tmp_path, "...csv").parent == tmp_path  # never climbs out
    assert default_out_dir(tmp_path, "../x.txt") == tmp_path / "x"
