"""The Label page in a real browser: 20 labels given with the keyboard only, then undo by key."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from fashion_core.access import LOCAL
from tests.e2e.conftest import StudioServer
from tests.e2e.streamlit_page import LONG, assert_no_exception, choose, keyed, open_page, settle

pytestmark = pytest.mark.e2e

DATASET = "demo"
DEMO_TIMEOUT = 300_000  # ms: the first start draws and imports the demo images
LABELLER = LOCAL.name  # no accounts on loopback: the local user
CATEGORY = "sleeve_length_labels"
LABELS = 20


def _session_count(page: Page) -> int:
    metric = page.get_by_test_id("stMetric").filter(has_text="Labelled this session")
    return int(metric.get_by_test_id("stMetricValue").inner_text().replace(",", ""))


def _current_image(page: Page) -> str:
    return page.get_by_test_id("stMarkdown").filter(has_text="image #").first.inner_text()


def test_label_twenty_images_with_the_keyboard_and_undo(page: Page, studio: StudioServer) -> None:
    page.goto(studio.url)
    expect(page.get_by_role("heading", name="Fashion Attribute Studio", exact=True)).to_be_visible(
        timeout=DEMO_TIMEOUT)
    open_page(page, "Label")
    choose(page, "label_category", CATEGORY)
    choose(page, "label_mode", "Complete the other categories")
    values = None
    with studio.store() as store:
        values = store.dataset(DATASET).schema.category(CATEGORY).values
        before = len(store.edit_history(DATASET))
    pressed: list[tuple[str, str]] = []  # (image heading, value) in order
    page.get_by_role("heading", name="Label", exact=True).click()  # focus the page, not a widget
    for n in range(LABELS):
        key = str(1 + (n % 9))
        shown = _current_image(page)
        page.keyboard.press(key)
        expect(page.get_by_test_id("stMetric").filter(has_text="Labelled this session").get_by_test_id(
            "stMetricValue")).to_have_text(str(n + 1), timeout=LONG)
        settle(page)
        pressed.append((shown, values[int(key) - 1]))
    with studio.store() as store:
        log = store.edit_history(DATASET)
    new = log.iloc[: len(log) - before].iloc[::-1]  # oldest first
    assert len(new) == LABELS
    assert new["new_value"].tolist() == [v for _, v in pressed]
    assert set(new["annotator"]) == {LABELLER} and set(new["category"]) == {CATEGORY}
    for (shown, _), image_id in zip(pressed, new["image_id"]):
        assert f"image #{image_id}" in shown
    last = new.iloc[-1]
    page.keyboard.press("u")
    expect(page.get_by_test_id("stMetric").filter(has_text="Labelled this session").get_by_test_id(
        "stMetricValue")).to_have_text(str(LABELS - 1), timeout=LONG)
    settle(page)
    with studio.store() as store:
        undo = store.edit_history(DATASET).iloc[0]
        assert int(undo["undoes"]) == int(last["id"]) and undo["annotator"] == LABELLER
        assert store.current_value(DATASET, int(last["image_id"]), CATEGORY) is None
    assert f"image #{int(last['image_id'])}" in _current_image(page)  # the undone image is back first
    assert keyed(page, "label_undo").count() == 1
    assert_no_exception(page, studio.log_tail())
