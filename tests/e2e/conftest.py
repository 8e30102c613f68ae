"""Browser-test fixtures: the real app on a free local port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own download does not work offline
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}  # the size of the committed screenshots
DEMO_IMAGES = 240  # small enough for a quick first start, big enough for training to learn something
START_TIMEOUT_S = 120.0  # a cold `streamlit run` on 2 busy cores
SCREENSHOTS_ENV = "E2E_SCREENSHOTS"  # where step screenshots go (default: pytest's temp folder)


@dataclass(frozen=True)
class StudioServer:
    """The running app: its address, workspace and console log."""

    url: str
    workspace: Workspace
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 60) -> str:
        """The last lines the server printed (tracebacks of uncaught exceptions land here)."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @contextmanager
    def store(self) -> Iterator[LabelStore]:
        """A store on the app's workspace, to check through the library what the UI did."""
        store = LabelStore.open(self.workspace)
        try:
            yield store
        finally:
            store.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit not healthy after {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen) -> None:
    """Stop the server's process group and every descendant (training runs start their own session)."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        for child in descendants:
            try:
                child.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs([*descendants], timeout=10)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
        if not alive:
            return


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    """``streamlit run app.py`` on a free 127.0.0.1 port with an empty workspace (demo data on first start)."""
    root = tmp_path_factory.mktemp("studio")
    workspace = Workspace(root / "workspace")
    log = root / "server.log"
    port = _free_port()
    env = {
        **os.environ,
        "FASHION_STUDIO_HOME": str(workspace.root),
        "FASHION_STUDIO_DEMO_IMAGES": str(DEMO_IMAGES),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("wb") as out:
        # Its own process group, so teardown can stop the server and whatever it started.
        process = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = StudioServer(f"http://127.0.0.1:{port}", workspace, log, process)
    try:
        _wait_healthy(server.url, process, log, START_TIMEOUT_S)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/install-browser.sh` (make test does).")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def page(browser: Browser) -> Iterator[Page]:
    """One tab for the whole journey: like a person, it keeps its session (name, selections)."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=False)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder step screenshots are written to (``E2E_SCREENSHOTS=docs/screenshots`` to refresh the docs)."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    # A relative folder is relative to the repository, wherever pytest was started.
    folder = (REPO / chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class ImageHost(ThreadingHTTPServer):
    """A tiny image site on 127.0.0.1: ``/img/<name>.jpg`` for the names it holds, 404 otherwise."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, images: dict[str, bytes]) -> None:
        self.images = images
        super().__init__(("127.0.0.1", 0), _ImageHandler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ImageHandler(BaseHTTPRequestHandler):
    server: ImageHost

    def log_message(self, *args: object) -> None:
        pass  # keep pytest's output clean

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        name = self.path.removeprefix("/img/").removesuffix(".jpg")
        body = self.server.images.get(name, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "image/jpeg" if body else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (48, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=90)
    return out.getvalue()


HOSTED = {
    "red": (200, 30, 30),
    "green": (30, 170, 60),
    "blue": (30, 60, 200),
    "ochre": (200, 150, 40),
    "grey": (120, 120, 120),
}


@pytest.fixture(scope="session")
def image_host() -> Iterator[ImageHost]:
    """A local HTTP server with a few JPEGs, for the Download page (no network in tests)."""
    host = ImageHost({name: _jpeg(colour) for name, colour in HOSTED.items()})
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.shutdown()
        host.server_close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failed browser test, add what each open tab shows and the server's last lines to the report.

    A timeout alone ("waiting for locator ...") does not say what was on the page instead;
    the CI log is all there is of a run on another machine.
    """
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    args = getattr(item, "funcargs", {})
    folder = Path(tempfile.mkdtemp(prefix="e2e-failure-"))
    browsers = [b for b in args.values() if isinstance(b, Browser)]
    pages = [p for b in browsers for c in b.contexts for p in c.pages]
    pages += [p for p in args.values() if isinstance(p, Page) and p not in pages]
    for n, tab in enumerate(pages):
        try:
            shot = folder / f"tab{n}.png"
            tab.screenshot(path=str(shot), full_page=True, timeout=10_000)
            text = tab.locator("body").inner_text(timeout=10_000)
            report.sections.append((f"tab {n}: {tab.url} (screenshot {shot})", text[-4000:]))
        except Exception as exc:  # noqa: BLE001 - a closed or hung tab must not hide the test's own failure
            report.sections.append((f"tab {n}", f"could not be captured: {exc}"))
    for server in (s for s in args.values() if isinstance(s, StudioServer)):
        report.sections.append((f"server log {server.log}", server.log_tail(80)))
