"""A studio shared by a team, in a real browser: sign-in first, roles refused in the core, identities
in the edit log, and two people editing one label at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from fashion_core.accounts import add_user
from fashion_core.store import LabelStore
from fashion_core.training import jobs
from fashion_core.workspace import Workspace
from tests.e2e.conftest import (
    DEMO_IMAGES,
    REPO,
    START_TIMEOUT_S,
    VIEWPORT,
    StudioServer,
    _free_port,
    _stop,
    _wait_healthy,
)
from tests.e2e.streamlit_page import LONG, assert_no_exception, choose, form_fill, keyed, open_page, settle

pytestmark = pytest.mark.e2e

DEMO_TIMEOUT = 300_000  # ms: the first start draws and imports the demo images
PASSWORD = "team-secret-1"
USERS = {"vera": "viewer", "ana": "annotator", "bo": "annotator", "max": "maintainer"}
DATASET = "demo"
CATEGORY = "sleeve_length_labels"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    """The app on loopback with accounts on (made with the library before it starts)."""
    root = tmp_path_factory.mktemp("team")
    workspace = Workspace(root / "workspace").ensure()
    store = LabelStore.open(workspace)
    for name, role in USERS.items():
        add_user(store, name, role, PASSWORD)
    store.close()
    port, log = _free_port(), root / "server.log"
    env = {**os.environ, "FASHION_STUDIO_HOME": str(workspace.root), "FASHION_STUDIO_DEMO_IMAGES": str(DEMO_IMAGES),
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true"]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = StudioServer(f"http://127.0.0.1:{port}", workspace, log, process)
    try:
        _wait_healthy(server.url, process, log, START_TIMEOUT_S)
        yield server
    finally:
        _stop(process)


def _tab(browser: Browser) -> Page:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    return context.new_page()


def _sign_in(page: Page, team: StudioServer, name: str) -> None:
    page.goto(team.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=DEMO_TIMEOUT)
    form_fill(page, "auth_name", name)
    keyed(page, "auth_password").locator("input").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {name} ({USERS[name]})", timeout=LONG)
    settle(page)


def _nav_titles(page: Page) -> list[str]:
    links = page.get_by_test_id("stSidebarNav").get_by_role("link").all_inner_texts()
    return [t.strip().splitlines()[-1].strip() for t in links if t.strip()]  # icon name, then title


def _open_first_image(page: Page) -> int:
    open_page(page, "Browse")
    caption = page.get_by_test_id("stMain").get_by_text(re.compile(r"^#\d+ · ")).first
    expect(caption).to_be_visible(timeout=LONG)
    image_id = int(re.match(r"#(\d+)", caption.inner_text()).group(1))
    keyed(page, f"browse_open_{image_id}").get_by_role("button").click()
    expect(page.get_by_role("dialog").get_by_text(f"Image #{image_id}")).to_be_visible(timeout=LONG)
    choose(page, f"browse_edit_cat_{image_id}", CATEGORY)
    settle(page)
    return image_id


def _other_value(team: StudioServer, image_id: int, *avoid: str | None) -> str:
    with team.store() as store:
        values = store.dataset(DATASET).schema.category(CATEGORY).values
    return next(v for v in values if v not in avoid)


def test_an_anonymous_visitor_sees_only_the_sign_in_form(browser: Browser, team: StudioServer) -> None:
    page = _tab(browser)
    page.goto(team.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=DEMO_TIMEOUT)
    settle(page)
    assert page.get_by_test_id("stSidebarNav").count() == 0  # no page list
    main = page.get_by_test_id("stMain").inner_text()
    assert "Browse" not in main and DATASET not in main
    form_fill(page, "auth_name", "vera")
    keyed(page, "auth_password").locator("input").fill("wrong password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("Wrong user name or password.")).to_be_visible(timeout=LONG)
    assert_no_exception(page, team.log_tail())
    page.context.close()


def test_a_viewer_cannot_relabel_even_by_pressing_save(browser: Browser, team: StudioServer) -> None:
    page = _tab(browser)
    _sign_in(page, team, "vera")
    titles = _nav_titles(page)
    assert "Browse" in titles and "Download" not in titles and "Accounts" not in titles
    image_id = _open_first_image(page)
    with team.store() as store:
        before = store.current_value(DATASET, image_id, CATEGORY)
        edits = len(store.edit_history(DATASET))
    choose(page, f"browse_edit_value_{image_id}_{CATEGORY}", _other_value(team, image_id, before))
    keyed(page, "browse_edit_save").get_by_role("button").click()  # the core refuses the call itself
    expect(page.get_by_text(re.compile("vera \\(viewer\\) may not relabel"))).to_be_visible(timeout=LONG)
    with team.store() as store:
        assert store.current_value(DATASET, image_id, CATEGORY) == before
        assert len(store.edit_history(DATASET)) == edits
    assert_no_exception(page, team.log_tail())
    page.context.close()


def test_an_annotator_cannot_train_or_download_and_a_maintainer_can(browser: Browser, team: StudioServer) -> None:
    page = _tab(browser)
    _sign_in(page, team, "ana")
    assert "Download" not in _nav_titles(page)
    open_page(page, "Train")
    keyed(page, "train_start").get_by_role("button").click()
    expect(page.get_by_text(re.compile("ana \\(annotator\\) may not train"))).to_be_visible(timeout=LONG)
    with team.store() as store:
        assert store.run_rows() == []
    page.goto(f"{team.url}/download")  # a page not registered for this role is not served
    settle(page)
    expect(page.get_by_role("heading", name="Download", exact=True)).to_have_count(0)
    page.context.close()

    page = _tab(browser)
    _sign_in(page, team, "max")
    assert {"Download", "Accounts"} <= set(_nav_titles(page))
    open_page(page, "Download")
    expect(keyed(page, "download_start")).to_be_visible()  # the page opens for a maintainer
    open_page(page, "Train")
    form_fill(page, "train_epochs", "1")
    form_fill(page, "train_image_size", "32")
    keyed(page, "train_start").get_by_role("button").click()
    try:
        expect(page.get_by_text(re.compile(r"^Run \S+: (queued|running)"))).to_be_visible(timeout=LONG)
        with team.store() as store:
            [run] = store.run_rows()
        assert run.created_by == "max"  # runs record who started them
    finally:
        with team.store() as store:
            for run in store.run_rows():
                if run.status in ("queued", "running"):
                    jobs.cancel(team.workspace, run.id)  # keep the test short: starting is what counts
    assert_no_exception(page, team.log_tail())
    page.context.close()


def test_two_sessions_editing_one_label_the_second_is_refused_and_the_log_names_both(
    browser: Browser, team: StudioServer
) -> None:
    first, second = _tab(browser), _tab(browser)
    _sign_in(first, team, "ana")
    _sign_in(second, team, "bo")
    image_id = _open_first_image(first)
    assert _open_first_image(second) == image_id
    with team.store() as store:
        seen = store.current_value(DATASET, image_id, CATEGORY)
    value_a = _other_value(team, image_id, seen)
    value_b = _other_value(team, image_id, seen, value_a)
    choose(first, f"browse_edit_value_{image_id}_{CATEGORY}", value_a)
    keyed(first, "browse_edit_save").get_by_role("button").click()
    expect(first.get_by_text(re.compile(rf"^Image #{image_id}, {CATEGORY}: .+ → {value_a} "))).to_be_visible(
        timeout=LONG)

    choose(second, f"browse_edit_value_{image_id}_{CATEGORY}", value_b)
    keyed(second, "browse_edit_save").get_by_role("button").click()
    expect(second.get_by_text(re.compile(r"Not saved: while you looked, ana changed it at"))).to_be_visible(
        timeout=LONG)
    with team.store() as store:
        assert store.current_value(DATASET, image_id, CATEGORY) == value_a
        history = store.edit_history(DATASET, image_id)
    assert history["annotator"].tolist() == ["ana"]  # the signed-in identity, nobody typed a name
    # The view reloaded: saving again now replaces what ana set, knowingly.
    settle(second)
    choose(second, f"browse_edit_value_{image_id}_{CATEGORY}", value_b)
    keyed(second, "browse_edit_save").get_by_role("button").click()
    expect(second.get_by_text(re.compile(rf"^Image #{image_id}, {CATEGORY}: {value_a} → {value_b} "))).to_be_visible(
        timeout=LONG)
    with team.store() as store:
        assert store.edit_history(DATASET, image_id)["annotator"].tolist() == ["bo", "ana"]
    for page in (first, second):
        assert_no_exception(page, team.log_tail())
        page.context.close()
