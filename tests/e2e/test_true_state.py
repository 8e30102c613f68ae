"""Issue 16 in a real browser: every page shows the true state after the user acts.

Each test would have caught a stale-state bug users met: the Regroup active-map box showing
(and "Switch" restoring) the old map after a save; the Train page's picker staying on an
earlier run when a new one was started in the same tab; a relabel from the suspicious queue
without confirmation or undo. The tests share one server and tab, and run in file order.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fashion_core.access import LOCAL
from fashion_core.runs import list_runs
from tests.e2e.conftest import StudioServer
from tests.e2e.streamlit_page import LONG, button, choose, fill, form_fill, keyed, open_page, settle

pytestmark = pytest.mark.e2e

DATASET = "demo"
DEMO_TIMEOUT = 300_000  # ms: the first start draws and imports the demo images
TRAIN_TIMEOUT = 420_000  # ms: spawn, import TensorFlow, embed, train (2 busy cores)
ANNOTATOR = LOCAL.name  # no accounts on loopback: the edit log records the local user
MAP_NAME = "e2e_example"
NO_MAP = "(no map)"
TRAIN_EPOCHS = 3
TRAIN_SIZE = 64
STATE: dict[str, Any] = {}


def _active_box(page: Page):
    return keyed(page, "regroup_active").get_by_role("combobox")


def test_first_start(page: Page, studio: StudioServer):
    page.goto(studio.url)
    expect(page.get_by_role("heading", name="Fashion Attribute Studio", exact=True)).to_be_visible(
        timeout=DEMO_TIMEOUT
    )
    expect(page.get_by_test_id("stMain")).to_contain_text(f"Dataset: {DATASET}", timeout=DEMO_TIMEOUT)
    # The first-start box and its progress bar are gone once the demo data is in.
    expect(page.get_by_text(re.compile("^First start:"))).to_have_count(0, timeout=LONG)


def test_regroup_active_map_box_follows_save_and_switch(page: Page, studio: StudioServer):
    open_page(page, "Regroup", heading="Regroup values")
    with studio.store() as store:  # other browser tests share this server: start from what it holds
        active = store.dataset(DATASET).active_map
    expect(_active_box(page)).to_have_value(active or NO_MAP)
    name_box = keyed(page, "regroup_map_name").locator("input")
    before = name_box.input_value()
    button(page, "regroup_example").click()
    expect(name_box).not_to_have_value(before, timeout=LONG)  # the example's rerun has named the draft
    settle(page)
    fill(page, "regroup_map_name", MAP_NAME)
    settle(page)
    expect(name_box).to_have_value(MAP_NAME)
    button(page, "regroup_save").click()  # "make it active" is on by default
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text(f"It is now the active map of {DATASET!r}", timeout=LONG)
    expect(_active_box(page)).to_have_value(MAP_NAME, timeout=LONG)  # not the old "(no map)"
    with studio.store() as store:
        assert store.dataset(DATASET).active_map == MAP_NAME
    # Switching without touching the box keeps the map it shows (it used to revert to the old one).
    button(page, "regroup_switch").click()
    settle(page)
    with studio.store() as store:
        assert store.dataset(DATASET).active_map == MAP_NAME
    choose(page, "regroup_active", NO_MAP)
    button(page, "regroup_switch").click()
    expect(main).to_contain_text(f"{DATASET!r} now reads its labels without a map", timeout=LONG)
    expect(_active_box(page)).to_have_value(NO_MAP)
    with studio.store() as store:
        assert store.dataset(DATASET).active_map is None


def _start_quick_run(page: Page) -> None:
    """Start a short quick run (quick mode is already on in this tab)."""
    form_fill(page, "train_epochs", str(TRAIN_EPOCHS))
    form_fill(page, "train_image_size", str(TRAIN_SIZE))
    button(page, "train_start").click()


def _new_run(page: Page, studio: StudioServer, known: set[str], timeout_s: float = 120.0) -> Any:
    """The run the Start button registered (polled: the click's rerun registers it)."""
    for _ in range(int(timeout_s)):
        with studio.store() as store:
            new = [r for r in list_runs(store, DATASET) if r.id not in known]
        if new:
            return new[0]
        page.wait_for_timeout(1_000)
    raise AssertionError(f"no new run registered after {timeout_s:.0f} s\n{studio.log_tail()}")


def test_train_shows_a_run_started_in_this_tab_live_to_the_end(page: Page, studio: StudioServer):
    open_page(page, "Train")
    main = page.get_by_test_id("stMain")
    keyed(page, "train_quick").get_by_text("Quick mode").click()
    settle(page)
    # Quick mode shows only its settings, with its own defaults.
    expect(keyed(page, "train_finetune_epochs")).to_have_count(0)
    expect(keyed(page, "train_schedule")).to_have_count(0)
    expect(keyed(page, "train_epochs").locator("input")).to_have_value("60")
    with studio.store() as store:  # other browser tests share this server and may have trained
        known = {r.id for r in list_runs(store, DATASET)}
    _start_quick_run(page)
    started = _new_run(page, studio, known)
    # The picker follows the new run at once (an earlier run's end must not count as this one's).
    expect(keyed(page, "train_run_pick").get_by_role("combobox")).to_have_value(started.id, timeout=LONG)
    ended = main.get_by_text(re.compile(r"^Run (done|failed|cancelled)|^The run failed"))
    expect(ended).to_be_visible(timeout=TRAIN_TIMEOUT)
    with studio.store() as store:
        first = [r for r in list_runs(store, DATASET) if r.id not in known]
    assert len(first) == 1 and first[0].status == "done", studio.log_tail()
    # A second run from the same tab: the picker and the live panel follow it at once, to its end.
    _start_quick_run(page)
    second = _new_run(page, studio, {*known, first[0].id})
    expect(keyed(page, "train_run_pick").get_by_role("combobox")).to_have_value(second.id, timeout=LONG)
    running = main.get_by_text(re.compile(r"^(Preparing: |Epoch \d+ of \d+ · |Waiting in the queue)"))
    expect(running).to_be_visible(timeout=TRAIN_TIMEOUT)
    expect(ended).to_be_visible(timeout=TRAIN_TIMEOUT)
    expect(keyed(page, "train_run_pick").get_by_role("combobox")).to_have_value(second.id)
    expect(keyed(page, f"train_curves_{second.id}")).to_be_visible(timeout=LONG)
    STATE["run"] = second.id


def test_suspicious_queue_confirms_and_undoes(page: Page, studio: StudioServer):
    run_id = STATE.get("run") or pytest.skip("needs the trained run of the previous test")
    open_page(page, "Evaluate")
    del run_id  # the page opens on the best run: either quick run of the previous test
    page.get_by_role("tab", name="Suspicious labels").click()
    button(page, "evaluate_suspicious_start").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile(r"labels to review"))).to_be_visible(timeout=TRAIN_TIMEOUT)
    relabel = page.locator('[class*="st-key-evaluate_relabel_"]:not([data-stale="true"])').first
    key = next(c for c in (relabel.get_attribute("class") or "").split() if c.startswith("st-key-evaluate_relabel_"))
    row = key.removeprefix("st-key-evaluate_relabel_")
    image_id, category = int(row.split("_")[0]), row.split("_", 1)[1].rsplit("_", 1)[0]
    with studio.store() as store:
        before = store.current_value(DATASET, image_id, category)
    relabel.get_by_role("button").click()
    settle(page)
    with studio.store() as store:  # one click asks; nothing is written yet
        assert store.current_value(DATASET, image_id, category) == before
    button(page, f"evaluate_confirm_{row}").click()
    expect(main).to_contain_text(f"Image #{image_id}, {category}: relabelled to", timeout=LONG)
    with studio.store() as store:
        assert store.current_value(DATASET, image_id, category) != before
    expect(keyed(page, f"evaluate_relabel_{row}")).to_have_count(0)  # it left the queue
    button(page, "evaluate_undo").click()
    expect(page.get_by_text(f"Undone: image #{image_id}")).to_be_visible(timeout=LONG)  # the click's rerun ran
    with studio.store() as store:
        assert store.current_value(DATASET, image_id, category) == before
    expect(keyed(page, f"evaluate_relabel_{row}")).to_have_count(1, timeout=LONG)  # back in the queue
    # "Label is right" takes it out of the queue for good.
    button(page, f"evaluate_keep_{row}").click()
    expect(main).to_contain_text(f"Image #{image_id}, {category}: label confirmed as right", timeout=LONG)
    expect(keyed(page, f"evaluate_keep_{row}")).to_have_count(0)
