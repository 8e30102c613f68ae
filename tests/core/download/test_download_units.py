"""Unit tests of the downloader's parts: list reading, config, image checks, atomic writes, HTTP."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from fashion_core.cli import build_parser
from fashion_core.cli import download as cli_download
from fashion_core.download import DownloadConfig, Fetcher, RowFailure, download_images, reason_kind
from fashion_core.download.fetch import _retry_after
from fashion_core.download.images import normalise_image, write_atomic
from fashion_core.download.listfile import MAX_LINE_BYTES, check_list_file, iter_rows, scan_list
from fashion_core.download.manifest import read_kept_hashes
from fashion_core.errors import DownloadError

LABELS = ",".join("0101010101010")


# -- list reading ----------------------------------------------------------------------------


def test_rows_tolerate_header_bom_crlf_blank_lines_and_quotes(tmp_path: Path) -> None:
    text = (
        "\ufeffid,url," + ",".join(f"l{i}" for i in range(1, 14)) + "\r\n"
        f"1,http://a.example/1.jpg,{LABELS}\r\n"
        "\r\n"
        f'"2","http://a.example/x,y.jpg",{LABELS}\n'
        f" 3 , http://a.example/3.jpg ,{LABELS}\n"
    )
    path = tmp_path / "list.csv"
    path.write_bytes(text.encode("utf-8"))
    rows = list(iter_rows(path))
    assert [(r.line, r.image_id, r.url, r.error) for r in rows] == [
        (2, "1", "http://a.example/1.jpg", None),
        (4, "2", "http://a.example/x,y.jpg", None),
        (5, "3", "http://a.example/3.jpg", None),
    ]


def test_malformed_rows_carry_a_reason_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    lines = [
        f"ok,http://a.example/1.jpg,{LABELS}".encode(),
        b"short,http://a.example/1.jpg,0,1",
        b"bad," + b"http://a.example/1.jpg," + b"0,1,0,1,0,1,0,1,0,1,0,1,yes",
        f"nourl,,{LABELS}".encode(),
        f"noscheme,a.example/1.jpg,{LABELS}".encode(),
        b"latin,http://a.example/\xe9.jpg," + LABELS.encode(),
        b"x" * (MAX_LINE_BYTES + 10),
        f"last,http://a.example/9.jpg,{LABELS}".encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    rows = list(iter_rows(path))
    assert [r.line for r in rows] == list(range(1, 9))
    errors = [r.error for r in rows]
    assert errors[0] is None and errors[-1] is None
    assert errors[1] == "bad row: expected 15 fields (id,url,l1..l13), found 4"
    assert errors[2] == "bad row: label l13 is 'yes', expected 0 or 1"
    assert errors[3] == "bad row: empty URL"
    assert errors[4].startswith("bad row: bad URL") and "no scheme" in errors[4]
    assert errors[5] == "bad row: not UTF-8 text"
    assert errors[6] == "bad row: not UTF-8 text"  # over-long line: not read into memory


def test_scan_counts_rows_and_finds_repeats(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    rows = [
        f"a,http://h/1.jpg,{LABELS}",
        f"b,http://h/1.jpg,{LABELS}",
        f"c,http://h/2.jpg,{LABELS}",
        f"a,http://h/3.jpg,{LABELS}",
        "broken",
    ]
    path.write_text("\n".join(rows))
    scan = scan_list(path)
    assert scan.total == 5
    assert scan.repeated_url_hashes == {hash("http://h/1.jpg")}
    assert scan.repeated_id_hashes == {hash("a")}


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\n\n  \n", "empty"), (b"\xff\xfe\x00i\x00d", "binary"), (b"\xc3\x28abc,def", "not UTF-8")],
)
def test_check_list_file_refuses_whole_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DownloadError, match=message):
        check_list_file(path)


def test_check_list_file_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not a file"):
        check_list_file(tmp_path)


# -- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "`workers` must be an integer >= 1. Received: workers=0"),
        ({"workers": 2.5}, "`workers` must be an integer"),
        ({"per_host_limit": 0}, "per_host_limit"),
        ({"retries": -1}, "retries"),
        ({"read_timeout": 0}, "`read_timeout` must be a finite number > 0"),
        ({"connect_timeout": float("nan")}, "connect_timeout"),
        ({"backoff": -0.1}, "backoff"),
        ({"resize_short_side": 0}, "resize_short_side"),
        ({"jpeg_quality": 100}, "at most 95"),
        ({"allow_private": "yes"}, "allow_private"),
        ({"user_agent": " "}, "user_agent"),
    ],
)
def test_config_validates_with_clear_messages(options: dict, message: str) -> None:
    with pytest.raises(DownloadError, match=message.replace("(", r"\(")):
        DownloadConfig(**options)


def test_config_defaults_and_window() -> None:
    config = DownloadConfig()
    assert config.allow_private is False and config.window == config.workers * config.window_factor
    with pytest.raises(AttributeError):
        config.workers = 3  # type: ignore[misc]


# -- images ----------------------------------------------------------------------------------


def _bytes(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


def test_normalise_applies_exif_orientation_and_resizes() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 270: a 60x30 landscape becomes 30x60 portrait
    data = _bytes(Image.new("RGB", (60, 30), (10, 200, 10)), "JPEG", exif=exif.tobytes())
    assert _decode(normalise_image(data, max_pixels=10_000)).size == (30, 60)
    assert _decode(normalise_image(data, max_pixels=10_000, resize_short_side=15)).size == (15, 30)


def test_normalise_converts_modes_to_rgb() -> None:
    for image, fmt in [
        (Image.new("L", (16, 16), 128), "PNG"),
        (Image.new("P", (16, 16), 3), "GIF"),
        (Image.new("RGBA", (16, 16), (255, 0, 0, 0)), "WEBP"),
        (Image.new("CMYK", (16, 16), (0, 0, 0, 0)), "JPEG"),
        (Image.new("RGB", (16, 16), (1, 2, 3)), "BMP"),
    ]:
        result = _decode(normalise_image(_bytes(image, fmt), max_pixels=1_000))
        assert result.mode == "RGB" and result.size == (16, 16), fmt


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html>nope</html>", "not an image"),
        (b"", "not an image"),
        (_bytes(Image.new("RGB", (8, 8)), "TIFF"), "not an image"),  # decoder not allowed
        (_bytes(Image.new("RGB", (64, 64), (9, 9, 9)), "PNG")[:-30], "broken image"),
        (_bytes(Image.new("RGB", (80, 80), (1, 1, 1)), "JPEG"), "too many pixels (80x80)"),
    ],
)
def test_normalise_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(RowFailure) as info:
        normalise_image(data, max_pixels=5_000)
    assert info.value.reason.startswith(reason)


def test_pixel_cap_is_checked_before_decoding(monkeypatch) -> None:
    data = _bytes(Image.new("RGB", (100, 100)), "PNG")
    decoded: list[bool] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(True))
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(True))
    with pytest.raises(RowFailure, match="too many pixels"):
        normalise_image(data, max_pixels=9_999)
    assert decoded == []


def test_write_atomic_leaves_no_temp_file_on_failure(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "a.jpg"
    write_atomic(target, b"first")
    assert target.read_bytes() == b"first"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # umask decides, not mkstemp's 0600

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["a.jpg"]


def test_reason_kind_groups_details() -> None:
    assert reason_kind("refused address 10.0.0.1 (private)") == "refused address"
    assert reason_kind("bad row: empty id") == "bad row"
    assert reason_kind("too many pixels (9x9)") == "too many pixels"
    assert reason_kind("http 404") == "http 404"


def test_retry_after_parsing() -> None:
    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


# -- HTTP: Retry-After cap and per-host limit ------------------------------------------------


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    active = 0
    peak = 0
    hits = 0
    body = _bytes(Image.new("RGB", (8, 8), (5, 6, 7)), "JPEG")

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        cls = type(self)
        with cls.lock:
            cls.hits += 1
            first_busy = self.path == "/busy" and cls.hits == 1
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        time.sleep(0.08)
        with cls.lock:
            cls.active -= 1
        if first_busy:
            self._send(429, b"", {"Retry-After": "2"})
        else:
            self._send(200, cls.body, {})

    def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def counting_server() -> Iterator[tuple[str, type[_Counting]]]:
    handler = type("Handler", (_Counting,), {"active": 0, "peak": 0, "hits": 0, "lock": threading.Lock()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 64
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_retry_after_is_honoured_up_to_the_cap(counting_server) -> None:
    base, handler = counting_server
    with Fetcher(DownloadConfig(allow_private=True, max_retry_after=0.3, backoff=5.0)) as fetcher:
        started = time.monotonic()
        fetched = fetcher.fetch(f"{base}/busy")
        elapsed = time.monotonic() - started
    assert fetched.http_status == 200 and handler.hits == 2
    # Waited for Retry-After (capped at 0.3 s), not for the 5 s back-off, nor the full 2 s.
    assert 0.3 <= elapsed < 1.5


@pytest.mark.parametrize("limit", [2, 6])
def test_per_host_limit_bounds_concurrent_requests(counting_server, tmp_path: Path, limit: int) -> None:
    base, handler = counting_server
    path = tmp_path / "list.csv"
    path.write_text("\n".join(f"i{n},{base}/img?{n},{LABELS}" for n in range(24)))
    config = DownloadConfig(allow_private=True, workers=8, per_host_limit=limit)
    summary = download_images(path, tmp_path / "out", config=config)
    assert summary.ok == 24
    assert handler.peak <= limit
    assert handler.peak >= min(limit, 3)  # the pool really runs requests side by side


# -- manifest carry-over and CLI options -----------------------------------------------------


def test_read_kept_hashes_ignores_junk(tmp_path: Path) -> None:
    good = "ab" * 32
    path = tmp_path / "manifest.csv"
    path.write_text(
        "line,id,url,status,reason,http_status,bytes,sha256,duplicate_of\n"
        f"1,a,http://x/a,ok,,200,10,{good},\n"
        f"2,b,http://x/b,skipped,,,10,{good},\n"
        "3,c,http://x/c,ok,,200,10,not-a-hash,\n"
        f"4,d,http://x/d,failed,http 404,404,,{good},\n"
        "garbage line without enough fields\n"
    )
    assert read_kept_hashes(path) == {"a": good, "b": good}
    path.write_bytes(b"\xff\xfe\x00binary")
    assert read_kept_hashes(path) == {}
    assert read_kept_hashes(tmp_path / "missing.csv") == {}


def test_cli_options_map_to_config() -> None:
    args = build_parser().parse_args(
        ["download", "l.csv", "--out", "o", "--workers", "5", "--resize", "256", "--timeout", "2.5"]
    )
    config = cli_download._config(args)
    assert (config.workers, config.resize_short_side, config.read_timeout) == (5, 256, 2.5)
    assert config.connect_timeout == 2.5 and config.allow_private is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["download", "l.csv", "--out", "o", "--workers", "0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["download", "l.csv"])  # --out is required
