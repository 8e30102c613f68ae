"""Shared test helpers: tiny generated images and label files, a temporary workspace."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace


def write_image(path: Path, size: tuple[int, int] = (24, 24), seed: int = 0, fmt: str = "JPEG") -> Path:
    """Write a small random-coloured image (PIL) and return its path."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    img.save(path, fmt)
    return path


def shown(markdown: object) -> str:
    """A markdown string as the browser shows it: ``ui.text.plain``'s escapes removed."""
    return re.sub(r"\\(.)", r"\1", str(markdown)).replace("&lt;", "<").replace("&gt;", ">")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure()


@pytest.fixture
def store(workspace: Workspace) -> LabelStore:
    s = LabelStore.open(workspace)
    yield s
    s.close()


@contextmanager
def serve_pages(pages: Mapping[str, tuple[int, bytes]]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering GET ``path`` with ``(status, body)`` (else 404).

    Yields the base URL (``http://127.0.0.1:PORT``); the server stops when the block ends.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            code, body = pages.get(self.path, (404, b""))
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client refusing an oversized body hangs up mid-answer, as it should

        def log_message(self, *args: object) -> None:
            pass  # keep test output clean

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
