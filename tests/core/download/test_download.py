"""End-to-end tests of the downloader and its CLI against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from fashion_core.cli import main
from fashion_core.download import DownloadConfig, ProgressInfo, download_images
from fashion_core.errors import DownloadError

LABELS = ",".join(["0", "1"] * 6 + ["0"])  # 13 labels


# -- generated images ------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _jpeg(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    return _encode(Image.new("RGB", size, color), "JPEG", quality=95)


def _exif_rotated_jpeg() -> bytes:
    """A 48x24 landscape JPEG whose EXIF says 'rotate 90 degrees' (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(Image.new("RGB", (48, 24), (200, 30, 30)), "JPEG", exif=exif.tobytes())


def _transparent_png() -> bytes:
    """32x32 PNG: transparent everywhere except a blue centre."""
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (8, 8, 24, 24))
    return _encode(image, "PNG")


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` pixels: a decompression bomb stand-in."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


# -- the server ------------------------------------------------------------------------------


class Site:
    """What the test server serves, and how often each path was asked for."""

    def __init__(self) -> None:
        good = _jpeg((40, 30), (10, 120, 200))
        same = _jpeg((30, 30), (90, 90, 90))
        self.files: dict[str, tuple[str, bytes]] = {
            "/a.jpg": ("image/jpeg", good),
            "/b.png": ("image/png", _transparent_png()),
            "/c.webp": ("image/webp", _encode(Image.new("RGB", (20, 36), (0, 160, 0)), "WEBP")),
            "/exif.jpg": ("image/jpeg", _exif_rotated_jpeg()),
            "/big.jpg": ("image/jpeg", _jpeg((64, 48), (250, 200, 0))),
            "/flaky.jpg": ("image/jpeg", _jpeg((20, 20), (200, 0, 200))),
            "/busy.jpg": ("image/jpeg", _jpeg((20, 20), (0, 200, 200))),
            "/redirected.jpg": ("image/jpeg", _jpeg((20, 20), (100, 50, 0))),
            "/same1.jpg": ("image/jpeg", same),
            "/same2.jpg": ("image/jpeg", same),
            "/shared.jpg": ("image/jpeg", _jpeg((24, 24), (1, 2, 3))),
            "/recover.jpg": ("image/jpeg", _jpeg((16, 16), (5, 5, 5))),
            "/truncated.jpg": ("image/jpeg", _jpeg((64, 64), (9, 9, 9))[:300]),
            "/page.html": ("text/html", b"<html><body>not an image</body></html>"),
            "/bomb.png": ("image/png", _png_claiming(30000, 30000)),
            "/large-claim.png": ("image/png", _png_claiming(5000, 5000)),
            "/huge-body.jpg": ("image/jpeg", b"\xff" * 300_000),
        }
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.recover_broken = True

    def count(self, path: str) -> int:
        with self.lock:
            self.hits[path] += 1
            return self.hits[path]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            n = site.count(path)
            if path == "/flaky500" and n == 1:
                return self._send(500, b"try again", "text/plain")
            if path == "/busy429" and n == 1:
                return self._send(429, b"slow down", "text/plain", {"Retry-After": "1"})
            if path in ("/flaky500", "/busy429"):
                return self._send(
                    200,
                    site.files[{"/flaky500": "/flaky.jpg", "/busy429": "/busy.jpg"}[path]][1],
                    "image/jpeg",
                )
            if path == "/slow.jpg":
                time.sleep(1.5)
                return self._send(200, site.files["/a.jpg"][1], "image/jpeg")
            if path == "/short-body.jpg":  # promises more bytes than it sends, then hangs up
                self.send_response(200)
                self.send_header("Content-Length", "5000")
                self.end_headers()
                self.wfile.write(site.files["/a.jpg"][1][:100])
                self.close_connection = True
                return None
            if path == "/huge-stream.jpg":  # no Content-Length: the cap must stop the reading
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for _ in range(40):
                    self.wfile.write(b"\0" * 10_000)
                return None
            if path == "/recover.jpg" and site.recover_broken:
                return self._send(503, b"down", "text/plain")
            redirects = {
                "/to-metadata": "http://169.254.169.254/latest/meta-data/",
                "/to-ftp": "ftp://example.com/a.jpg",
                "/to-good": "/redirected.jpg",
                "/loop": "/loop",
            }
            if path in redirects:
                return self._send(302, b"", "text/plain", {"Location": redirects[path]})
            if path in site.files:
                kind, body = site.files[path]
                return self._send(200, body, kind)
            return self._send(404, b"no such thing", "text/plain")

        def _send(self, code: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out hang up on purpose; the broken pipes are expected


@pytest.fixture()
def server() -> Iterator[tuple[str, Site]]:
    site = Site()
    httpd = QuietServer(("127.0.0.1", 0), _handler(site))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", site
    finally:
        httpd.shutdown()
        httpd.server_close()


def _fast_config(**overrides: object) -> DownloadConfig:
    options: dict[str, object] = dict(
        workers=8,
        per_host_limit=8,
        allow_private=True,
        read_timeout=0.4,
        connect_timeout=1.0,
        retries=2,
        backoff=0.01,
        max_bytes=200_000,
        max_pixels=1_000_000,
    )
    options.update(overrides)
    return DownloadConfig(**options)  # type: ignore[arg-type]


def _write_list(path: Path, rows: list[str], header: bool = True) -> Path:
    lines = (["id,url," + ",".join(f"l{i}" for i in range(1, 14))] if header else []) + rows
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _manifest(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["line"]: row for row in csv.DictReader(handle)}


def _by_id(manifest: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Rows by id; rows refused as a repeated id are left out (their id is not theirs)."""
    return {row["id"]: row for row in manifest.values() if not row["reason"].startswith("duplicate id")}


# -- the big scenario ------------------------------------------------------------------------


def _scenario_rows(base: str) -> list[str]:
    good = [
        ("jpeg", "/a.jpg"),
        ("png", "/b.png"),
        ("webp", "/c.webp"),
        ("exif", "/exif.jpg"),
        ("flaky", "/flaky500"),
        ("busy", "/busy429"),
        ("redirected", "/to-good"),
        ("same1", "/same1.jpg"),
        ("same2", "/same2.jpg"),
        ("shared1", "/shared.jpg"),
        ("shared2", "/shared.jpg"),
        ("shared3", "/shared.jpg"),
        ("recover", "/recover.jpg"),
        ("missing", "/nothing-here"),
        ("slow", "/slow.jpg"),
        ("truncated", "/truncated.jpg"),
        ("html", "/page.html"),
        ("bomb", "/bomb.png"),
        ("claim", "/large-claim.png"),
        ("metadata", "/to-metadata"),
        ("toftp", "/to-ftp"),
        ("loop", "/loop"),
        ("huge", "/huge-body.jpg"),
        ("stream", "/huge-stream.jpg"),
        ("short", "/short-body.jpg"),
    ]
    rows = [f"{image_id},{base}{path},{LABELS}" for image_id, path in good]
    rows += [
        f"ftp,ftp://example.com/x.jpg,{LABELS}",
        f"file,file:///etc/passwd,{LABELS}",
        f"linklocal,http://169.254.169.254/,{LABELS}",
        f"fewcols,{base}/a.jpg,0,1",
        f"badlabel,{base}/a.jpg," + ",".join(["0"] * 12 + ["2"]),
        f",{base}/a.jpg,{LABELS}",
        f"../evil,{base}/a.jpg,{LABELS}",
        f"a/b,{base}/a.jpg,{LABELS}",
        f"spaces,not a url,{LABELS}",
        f"jpeg,{base}/b.png,{LABELS}",  # the same id again
    ]
    return rows


EXPECTED_FIRST_RUN = {
    "jpeg": ("ok", ""),
    "png": ("ok", ""),
    "webp": ("ok", ""),
    "exif": ("ok", ""),
    "flaky": ("ok", ""),
    "busy": ("ok", ""),
    "redirected": ("ok", ""),
    "same1": ("ok", ""),
    "same2": ("ok", ""),
    "shared1": ("ok", ""),
    "shared2": ("ok", "duplicate url"),
    "shared3": ("ok", "duplicate url"),
    "recover": ("failed", "http 503"),
    "missing": ("failed", "http 404"),
    "slow": ("failed", "timeout"),
    "truncated": ("failed", "broken image"),
    "html": ("failed", "not an image"),
    "bomb": ("failed", "too many pixels"),
    "claim": ("failed", "too many pixels (5000x5000)"),
    "metadata": ("failed", "refused address 169.254.169.254 (link-local)"),
    "toftp": ("failed", "bad scheme: ftp"),
    "loop": ("failed", "too many redirects"),
    "huge": ("failed", "too large"),
    "stream": ("failed", "too large"),
    "short": ("failed", "incomplete body"),
    "ftp": ("failed", "bad scheme: ftp"),
    "file": ("failed", "bad scheme: file"),
    "linklocal": ("failed", "refused address 169.254.169.254 (link-local)"),
    "fewcols": ("failed", "bad row: expected 15 fields"),
    "badlabel": ("failed", "bad row: label l13 is '2'"),
    "": ("failed", "bad row: empty id"),
    "../evil": ("failed", "bad row: unsafe id"),
    "a/b": ("failed", "bad row: unsafe id"),
    "spaces": ("failed", "bad row: bad URL"),
}


def test_download_every_case_ends_as_expected_then_resumes(server, tmp_path: Path) -> None:
    base, site = server
    rows = _scenario_rows(base)
    list_path = _write_list(tmp_path / "list.csv", rows)
    out = tmp_path / "out"
    progress: list[ProgressInfo] = []
    config = _fast_config()

    summary = download_images(list_path, out, config=config, on_progress=progress.append)

    manifest = _manifest(summary.manifest)
    assert len(manifest) == len(rows) == summary.total
    assert summary.ok + summary.failed + summary.skipped == summary.total
    by_id = _by_id(manifest)
    for image_id, (status, reason) in EXPECTED_FIRST_RUN.items():
        row = by_id[image_id]
        assert row["status"] == status, (image_id, row)
        assert row["reason"].startswith(reason), (image_id, row)
    # The second row with id "jpeg" is refused, the first one is kept.
    jpeg_rows = [r for r in manifest.values() if r["id"] == "jpeg"]
    assert sorted(r["status"] for r in jpeg_rows) == ["failed", "ok"]
    assert any(r["reason"].startswith("duplicate id (first on line 2)") for r in jpeg_rows)

    # Retries happened where they should, and not on 4xx.
    assert site.hits["/flaky500"] == 2 and site.hits["/busy429"] == 2
    assert site.hits["/nothing-here"] == 1
    assert site.hits["/recover.jpg"] == 3 and site.hits["/slow.jpg"] == 3
    # Duplicate URLs are fetched once; every id gets the image.
    assert site.hits["/shared.jpg"] == 1
    shared = (out / "shared1.jpg").read_bytes()
    assert (out / "shared2.jpg").read_bytes() == shared == (out / "shared3.jpg").read_bytes()
    assert by_id["shared3"]["duplicate_of"] == "shared1"
    # Identical content under different ids is found by hash.
    same = sorted([by_id["same1"], by_id["same2"]], key=lambda r: r["duplicate_of"])
    assert same[0]["sha256"] == same[1]["sha256"] != ""
    assert same[1]["duplicate_of"] == same[0]["id"] and same[1]["reason"] == "duplicate content"
    assert summary.duplicates == 3 and summary.duplicate_urls == 2

    _check_images(out)
    assert not list(out.glob(".*.part")), "no temporary files may be left"
    assert {p.name for p in out.glob("*.jpg")} == {
        f"{i}.jpg" for i, (s, _) in EXPECTED_FIRST_RUN.items() if s == "ok"
    }
    assert not (tmp_path / "evil.jpg").exists()
    assert progress[-1].done == progress[-1].total == summary.total
    assert summary.to_dict()["ok"] == summary.ok == 12

    # Second run: kept images are skipped, failures are retried, the recovered one succeeds.
    site.recover_broken = False
    before = Counter(site.hits)
    again = download_images(list_path, out, config=config)
    second = _by_id(_manifest(again.manifest))
    assert again.skipped == summary.ok
    assert second["recover"]["status"] == "ok"
    assert second["jpeg"]["status"] == "skipped" and second["jpeg"]["sha256"] == by_id["jpeg"]["sha256"]
    assert second["missing"]["reason"] == "http 404"
    assert site.hits["/a.jpg"] == before["/a.jpg"]  # kept images are not fetched again
    assert site.hits["/nothing-here"] == before["/nothing-here"] + 1  # failures are retried
    assert again.ok == 1 and again.failed == summary.failed - 1
    assert again.ok + again.failed + again.skipped == again.total


def _check_images(out: Path) -> None:
    for path in out.glob("*.jpg"):
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB", path
    with Image.open(out / "exif.jpg") as image:  # EXIF orientation applied: now portrait
        assert image.size == (24, 48)
    with Image.open(out / "png.jpg") as image:  # transparency became white, not black
        corner = image.getpixel((0, 0))
        centre = image.getpixel((16, 16))
        assert min(corner) > 240 and centre[2] > 200 and centre[0] < 40
    with Image.open(out / "webp.jpg") as image:
        assert image.size == (20, 36)


def test_default_rules_refuse_loopback_even_by_name(server, tmp_path: Path) -> None:
    base, site = server
    port = base.rsplit(":", 1)[1]
    rows = [f"ip,{base}/a.jpg,{LABELS}", f"name,http://localhost:{port}/a.jpg,{LABELS}"]
    list_path = _write_list(tmp_path / "list.csv", rows, header=False)
    summary = download_images(list_path, tmp_path / "out", config=DownloadConfig(retries=0))
    by_id = _by_id(_manifest(summary.manifest))
    assert by_id["ip"]["reason"] == "refused address 127.0.0.1 (loopback)"
    # A host name is checked when the connection is made, after DNS.
    assert by_id["name"]["reason"] == "refused address 127.0.0.1 (loopback)"
    assert summary.failed == 2 and sum(site.hits.values()) == 0


def test_resize_shrinks_short_side_and_never_enlarges(server, tmp_path: Path) -> None:
    base, _ = server
    rows = [f"big,{base}/big.jpg,{LABELS}", f"small,{base}/shared.jpg,{LABELS}"]
    list_path = _write_list(tmp_path / "list.csv", rows)
    summary = download_images(list_path, tmp_path / "out", config=_fast_config(resize_short_side=32))
    assert summary.ok == 2
    with Image.open(tmp_path / "out" / "big.jpg") as image:
        assert image.size == (43, 32)
    with Image.open(tmp_path / "out" / "small.jpg") as image:
        assert image.size == (24, 24)


def test_cancel_fails_remaining_rows_without_fetching(server, tmp_path: Path) -> None:
    base, site = server
    rows = [f"id{i},{base}/a.jpg?{i},{LABELS}" for i in range(20)]
    list_path = _write_list(tmp_path / "list.csv", rows)
    cancel = threading.Event()
    cancel.set()
    summary = download_images(list_path, tmp_path / "out", config=_fast_config(), cancel=cancel)
    assert summary.cancelled and summary.failed == 20 and summary.reasons == {"cancelled": 20}
    assert sum(site.hits.values()) == 0


def test_many_rows_keep_a_bounded_window(server, tmp_path: Path, monkeypatch) -> None:
    base, _ = server
    rows = [f"id{i},{base}/a.jpg?{i},{LABELS}" for i in range(120)]
    list_path = _write_list(tmp_path / "list.csv", rows)
    from fashion_core.download import downloader

    peak = 0
    original = downloader._Run._admit

    def watching(self, row):  # type: ignore[no-untyped-def]
        nonlocal peak
        original(self, row)
        peak = max(peak, len(self.inflight))

    monkeypatch.setattr(downloader._Run, "_admit", watching)
    config = _fast_config(workers=4, window_factor=2)
    summary = download_images(list_path, tmp_path / "out", config=config)
    assert summary.ok == 120 and summary.duplicates == 119
    assert peak <= config.window == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"id,url\n\n", "no rows"),
    ],
)
def test_unreadable_list_raises_naming_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "urls.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DownloadError, match=message) as info:
        download_images(path, tmp_path / "out")
    assert str(path) in str(info.value)


def test_output_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    list_path = _write_list(tmp_path / "list.csv", [f"x,http://example.com/x.jpg,{LABELS}"])
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match="not a folder"):
        download_images(list_path, blocker)


# -- CLI -------------------------------------------------------------------------------------


def test_cli_json_reports_counts_and_exits_zero_with_failures(server, tmp_path: Path, capsys) -> None:
    base, _ = server
    rows = [f"ok1,{base}/a.jpg,{LABELS}", f"gone,{base}/nothing,{LABELS}", f"bad,{base}/a.jpg,1"]
    list_path = _write_list(tmp_path / "list.csv", rows)
    out = tmp_path / "out"
    argv = [
        "download",
        str(list_path),
        "--out",
        str(out),
        "--allow-private",
        "--workers",
        "4",
        "--timeout",
        "2",
        "--json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["failed"], report["skipped"]) == (1, 2, 0)
    assert Path(report["manifest"]) == out / "manifest.csv" and (out / "ok1.jpg").is_file()

    assert main(argv) == 0  # resumed
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["failed"], report["skipped"]) == (0, 2, 1)


def test_cli_human_summary_and_bad_list(tmp_path: Path, capsys) -> None:
    list_path = _write_list(tmp_path / "list.csv", [f"x,ftp://example.com/x.jpg,{LABELS}"])
    assert main(["download", str(list_path), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "0 downloaded" in text and "1 failed" in text and "bad scheme" in text

    binary = tmp_path / "binary.lst"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert main(["download", str(binary), "--out", str(tmp_path / "out"), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and str(binary) in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_rows_queued_before_a_cancel_start_no_request(server) -> None:
    from fashion_core.download import Fetcher, RowFailure

    base, site = server
    cancel = threading.Event()
    with Fetcher(_fast_config(), cancel) as fetcher:
        assert fetcher.fetch(f"{base}/a.jpg").body  # the fetcher works before the cancel
        cancel.set()
        with pytest.raises(RowFailure, match="cancelled"):
            fetcher.fetch(f"{base}/a.jpg?queued")
    assert site.hits.get("/a.jpg", 0) == 1
