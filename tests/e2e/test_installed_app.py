"""Browser test of the installed studio: ``fashion-studio app`` started from another folder shows Home."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import Browser, expect

from tests.core.cli.installed import install_studio, outside_env
from tests.e2e.conftest import START_TIMEOUT_S, VIEWPORT, _free_port, _stop, _wait_healthy
from tests.e2e.streamlit_page import LONG, assert_no_exception, open_page, settle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def installed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path, subprocess.Popen]]:
    """``fashion-studio app`` of a freshly installed wheel, run from an unrelated folder: (url, workspace, log, process)."""
    root = tmp_path_factory.mktemp("installed_app")
    command = install_studio(root)
    elsewhere, home, log = root / "elsewhere", root / "data" / "ws", root / "server.log"
    elsewhere.mkdir()
    port = _free_port()
    env = {**outside_env(), "FASHION_STUDIO_DEMO_IMAGES": "40", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen([str(command), "--home", str(home), "app", "--port", str(port)], cwd=elsewhere,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, START_TIMEOUT_S)
        yield url, home, log, process
    finally:
        _stop(process)


def test_the_installed_app_started_from_another_folder_shows_home(
    browser: Browser, installed_app: tuple[str, Path, Path, subprocess.Popen]
) -> None:
    url, home, log, process = installed_app
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(url)
        expect(page.get_by_role("heading", name="Fashion Attribute Studio", exact=True)).to_be_visible(timeout=LONG)
        settle(page)
        assert_no_exception(page, log.read_text(errors="replace"))
        assert (home / "studio.db").is_file()  # the app works on the --home workspace, not in site-packages
        open_page(page, "Train")
        expect(page.get_by_text("Training on the CPU", exact=False)).to_be_visible()
        assert_no_exception(page, log.read_text(errors="replace"))
    finally:
        context.close()
    assert "Traceback" not in log.read_text(errors="replace")
    scripts = [" ".join(c.cmdline()) for c in psutil.Process(process.pid).children(recursive=True)]
    assert any("site-packages/fashion_core/_app/app.py" in s for s in scripts), scripts  # the installed copy
