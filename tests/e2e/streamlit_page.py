"""Playwright steps on a Streamlit page: navigate, pick options, wait for the script, screenshot, check errors.

Widgets are found by the ``st-key-<key>`` class Streamlit puts on a keyed widget's container,
or by their label; nothing depends on generated CSS class names.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

LONG = 120_000  # ms: a rerun on 2 busy cores, thumbnails on first view
IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app !== null
        && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"], [data-stale="true"]');
}"""


SCROLL_TO_JS = """e => {
    e.scrollIntoView({block: 'start'});
    // Streamlit's header floats over the top of the main area: leave room for it.
    for (let p = e.parentElement; p; p = p.parentElement) {
        if (p.scrollHeight > p.clientHeight && getComputedStyle(p).overflowY !== 'visible') {
            p.scrollBy(0, -70);
            break;
        }
    }
}"""


def keyed(page: Page, key: str) -> Locator:
    """The container of the widget or element created with ``key=key``."""
    # A rerun that moves an element leaves its old copy, marked stale, until the run ends.
    return page.locator(f'.st-key-{key}:not([data-stale="true"])')


def settle(page: Page, timeout: float = LONG) -> None:
    """Wait until the script has finished its run and every element has drawn."""
    page.wait_for_function(IDLE_JS, timeout=timeout)


def assert_no_exception(page: Page, server_log: str = "") -> None:
    """Fail when any uncaught-exception box is on the page (its traceback is in the server log)."""
    boxes = page.locator('[data-testid="stException"]')
    if boxes.count():
        shown = "\n".join(boxes.all_inner_texts())
        raise AssertionError(f"Exception shown on {page.url}:\n{shown}\n--- server log ---\n{server_log}")


def open_page(page: Page, title: str, heading: str | re.Pattern[str] | None = None) -> None:
    """Click a page in the sidebar navigation and wait for its title (``heading`` if it differs)."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=heading or title, exact=True)).to_be_visible(timeout=LONG)
    settle(page)


def open_list(page: Page, key: str) -> Locator:
    """Open the option list of the selectbox or multiselect created with ``key``; returns it.

    Waits for the page to settle first: a rerun still under way redraws the widget and closes
    its list. A click on the box sometimes only focuses it (the list opens on mouse-down and a
    layout shift can swallow it); the arrow key then opens it, as it would for a keyboard user.
    """
    settle(page)
    keyed(page, key).get_by_role("combobox").click()
    listbox = page.get_by_role("listbox")
    try:
        expect(listbox).to_be_visible(timeout=2_000)
    except AssertionError:
        page.keyboard.press("ArrowDown")
        expect(listbox).to_be_visible()
    return listbox


def pick(page: Page, key: str, option: str, attempts: int = 3) -> None:
    """Click ``option`` in the list of the widget created with ``key`` (reopening it if a rerun closed it)."""
    for attempt in range(attempts):
        try:
            open_list(page, key).get_by_role("option", name=option, exact=True).click(timeout=5_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")


def choose(page: Page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox created with ``key``."""
    pick(page, key, option)
    expect(keyed(page, key).get_by_role("combobox").first).to_have_value(option, timeout=LONG)
    settle(page)


def add_choice(page: Page, key: str, option: str) -> None:
    """Add ``option`` to the multiselect created with ``key``."""
    pick(page, key, option)
    page.keyboard.press("Escape")  # close the list, like a person clicking away
    expect(keyed(page, key).first).to_contain_text(option, timeout=LONG)
    settle(page)


def options_of(page: Page, key: str) -> list[str]:
    """The options a selectbox or multiselect offers (opens and closes its list)."""
    names = [t.strip() for t in open_list(page, key).get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def fill(page: Page, key: str, text: str) -> None:
    """Type into the text or number input created with ``key`` and commit it (Enter)."""
    box = keyed(page, key).locator("input")
    box.fill(text)
    box.press("Enter")


def form_fill(page: Page, key: str, text: str) -> None:
    """Type into an input of an ``st.form`` (Tab, not Enter: Enter would submit the form).

    Waits for the page to settle first: a rerun that lands while typing redraws the box.
    """
    settle(page)
    box = keyed(page, key).locator("input")
    box.fill(text)
    box.press("Tab")
    expect(box).to_have_value(text)


def shot(page: Page, folder: Path, name: str, *, full: bool = False) -> Path:
    """Screenshot of the settled page as ``<folder>/<name>.png`` (a 256-colour PNG, small enough to commit).

    The mouse is parked and focus dropped first, so no hover button or focus ring shows.
    Streamlit scrolls inside its main area, so ``full`` grows the viewport to the content's
    height for the shot and restores it after.
    """
    page.mouse.move(1, 1)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    settle(page)
    path = folder / f"{name}.png"
    size = page.viewport_size or {"width": 1280, "height": 800}
    if full:
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight"
        )
        page.set_viewport_size(
            {"width": size["width"], "height": min(max(size["height"], height + 120), 3000)}
        )
        settle(page)
    png = page.screenshot()
    if full:
        page.set_viewport_size(size)
    # A palette PNG is a third of the size of the browser's and looks the same for a UI.
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
        path, optimize=True
    )
    return path


def scroll_to(locator: Locator) -> None:
    """Scroll Streamlit's main area so ``locator`` is at the top of the window (for a screenshot)."""
    locator.first.evaluate(SCROLL_TO_JS)


def upload(page: Page, key: str, file: Path) -> None:
    """Give the file uploader created with ``key`` a file, as a person picking it would."""
    keyed(page, key).locator("input[type=file]").set_input_files(str(file))
    expect(keyed(page, key)).to_contain_text(file.name, timeout=LONG)


def button(page: Page, key: str) -> Locator:
    """The button created with ``key``."""
    return keyed(page, key).get_by_role("button")


def number_in(text: str, pattern: str) -> int:
    """The integer a regex's first group finds in ``text`` (commas allowed)."""
    match = re.search(pattern, text)
    if match is None:
        raise AssertionError(f"{pattern!r} not found in {text!r}")
    return int(match.group(1).replace(",", ""))
