"""A total deadline per request whatever the peer does; a killed download leaves nothing behind."""

from __future__ import annotations

import fcntl
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fashion_core.download import DownloadConfig, Fetcher, RowFailure, download_images
from fashion_core.download.downloader import LOCK_NAME
from fashion_core.errors import DownloadError

LABELS = ",".join(["1"] + ["0"] * 12)


@contextmanager
def trickle_server(mode: str, interval: float = 0.1) -> Iterator[str]:
    """A raw TCP server on 127.0.0.1 that answers one byte at a time, forever.

    ``mode="body"`` sends full headers then a body a byte per ``interval``; ``"headers"``
    sends the status line, then header bytes a byte per ``interval``.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if mode == "body":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n"
                    )
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.is_set():
                    conn.sendall(b"x" if mode == "body" else b"X")
                    time.sleep(interval)
            except OSError:
                pass  # the client hung up: what the deadline is for

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def _config(**kw: object) -> DownloadConfig:
    options: dict[str, object] = dict(
        allow_private=True,
        read_timeout=5.0,
        connect_timeout=1.0,
        total_timeout=1.0,
        retries=0,
        workers=2,
        per_host_limit=2,
    )
    options.update(kw)
    return DownloadConfig(**options)


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_a_trickling_peer_cannot_hold_a_worker_past_the_deadline(mode: str) -> None:
    with trickle_server(mode) as base, Fetcher(_config()) as fetcher:
        started = time.monotonic()
        with pytest.raises(RowFailure, match="timeout"):
            fetcher.fetch(f"{base}/x.jpg")
        assert time.monotonic() - started < 2.5  # 1 s deadline, read time-out 5 s


def test_url_predictions_share_the_deadline() -> None:
    from fashion_core.serving import fetch_image_bytes

    with trickle_server("body") as base:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="timeout"):
            fetch_image_bytes(f"{base}/x.jpg", allow_private=True, timeout=0.5)
        assert time.monotonic() - started < 4  # total 2 x 0.5 s per attempt, a few attempts at most


def test_a_killed_runs_partial_files_are_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".manifest.csv.0123456789ab.part").write_text("line,id\n1,a\n")  # as SIGKILL leaves them
    (out / ".a.jpg.0123456789ab.part").write_bytes(b"\xff\xd8half")
    listed = tmp_path / "list.csv"
    listed.write_text(f"a,http://127.0.0.1:9/a.jpg,{LABELS}\n")
    summary = download_images(listed, out, config=_config(connect_timeout=0.2))
    assert summary.failed == 1
    assert not list(out.glob(".*.part")) and (out / "manifest.csv").is_file()


def test_two_downloads_cannot_write_into_one_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    listed = tmp_path / "list.csv"
    listed.write_text(f"a,http://127.0.0.1:9/a.jpg,{LABELS}\n")
    with open(out / LOCK_NAME, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another process's run
        with pytest.raises(DownloadError, match="another download is writing into this folder"):
            download_images(listed, out, config=_config())
