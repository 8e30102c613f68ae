"""The whole journey of a new user in a real browser, in order: first start to a model predicting a photo.

The tests share one server, one workspace and one browser tab, and run in file order: each
step starts where the previous one left the app (like a person clicking through it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from playwright.sync_api import Page, expect

from fashion_core.access import LOCAL
from fashion_core.analysis import load_evaluation
from fashion_core.labels import ACTIVE, NO_MAP, LabelSource, label_view
from fashion_core.runs import list_runs
from fashion_core.views.charts import counts_table, default_min_count
from tests.e2e.conftest import DEMO_IMAGES, HOSTED, REPO, ImageHost, StudioServer
from tests.e2e.streamlit_page import (
    LONG,
    add_choice,
    assert_no_exception,
    button,
    choose,
    fill,
    form_fill,
    keyed,
    number_in,
    open_page,
    options_of,
    scroll_to,
    settle,
    shot,
    upload,
)

pytestmark = pytest.mark.e2e

DATASET = "demo"
DEMO_TIMEOUT = 300_000  # ms: the first start draws and imports the demo images
TRAIN_TIMEOUT = 420_000  # ms: spawn, import TensorFlow, embed, train (2 busy cores)
ANNOTATOR = LOCAL.name  # no accounts on loopback: the edit log records the local user
CATEGORY = "sleeve_length_labels"  # the demo's best-populated category
MIN_COUNT = 8  # a minimum some of the demo's sleeve values miss: the chart flags them
MERGED = "Merged sleeves"
MAP_NAME = "e2e_sleeves"
DOWNLOADED = "e2e_styles"  # the dataset the Download step imports (named after its list)
TRAIN_EPOCHS = 6  # epochs of heads on cached features take ~3 s each here; the first compiles (~15 s)
TRAIN_SIZE = 64  # px: quick mode embeds the 240 images once (~10 s at 64 px on 2 busy cores)
JOURNEY: dict[str, Any] = {}  # what one step leaves for the next


def registered_pages() -> list[tuple[str, str]]:
    """(script, title) of every page app.py registers (it skips scripts that do not exist)."""
    tree = ast.parse((REPO / "app.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGES" for t in node.targets):
            pages = ast.literal_eval(node.value)
            return [(script, title) for script, title, *_rest in pages if (REPO / script).exists()]
    raise AssertionError("app.py has no PAGES list")


@pytest.fixture(autouse=True)
def no_exception_left(page: Page, studio: StudioServer):
    """Whatever a step did, no page may end up showing an exception box."""
    yield
    if page.url.startswith(studio.url):
        assert_no_exception(page, studio.log_tail())


def test_fresh_server_opened_on_a_page_url_shows_the_app_frame(
    page: Page, studio: StudioServer, screenshots: Path
):
    # A bookmark or a browser reload after a restart: the first request of the process is /train.
    page.goto(f"{studio.url}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=DEMO_TIMEOUT)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Dataset")).to_have_value(DATASET, timeout=LONG)
    nav = page.get_by_test_id("stSidebarNav")
    for _script, title in registered_pages():
        expect(nav.get_by_role("link", name=title, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="app", exact=True)).to_have_count(0)  # no bare pages/ listing
    assert_no_exception(page, studio.log_tail())


def test_home_explains_the_workflow_and_links_every_page(page: Page, studio: StudioServer, screenshots: Path):
    open_page(page, "Home", heading="Fashion Attribute Studio")
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Train clothing-attribute classifiers from your labels")
    expect(_metric(page, "Images")).to_have_text(f"{DEMO_IMAGES:,}")
    with studio.store() as store:
        assert len(store.images(DATASET)) == DEMO_IMAGES
    # Each registered page but Home has a link on Home, and each link opens a registered page.
    nav_hrefs = {
        urljoin(page.url, a.get_attribute("href")) for a in page.get_by_test_id("stSidebarNavLink").all()
    }
    link_hrefs = [
        urljoin(page.url, a.get_attribute("href"))
        for a in main.get_by_test_id("stPageLink").locator("a").all()
    ]
    assert len(link_hrefs) == len(registered_pages()) - 1
    assert set(link_hrefs) <= nav_hrefs and f"{studio.url}/" not in link_hrefs
    for _script, title in registered_pages()[1:]:  # each link is named after its page
        expect(main.get_by_test_id("stPageLink").filter(has_text=title)).to_have_count(1)
    shot(page, screenshots, "home")
    main.get_by_test_id("stPageLink").filter(has_text="Browse").locator("a").click()
    expect(page.get_by_role("heading", name="Browse", exact=True)).to_be_visible(timeout=LONG)
    assert page.url == f"{studio.url}/browse"


def test_browse_filter_by_category_and_value(page: Page, studio: StudioServer, screenshots: Path):
    settle(page)
    toolbar = page.get_by_text(re.compile(r"Images 1–\d+ of [\d,]+"))
    expect(toolbar).to_contain_text(f"of {DEMO_IMAGES:,}", timeout=LONG)
    expect(page.get_by_test_id("stMain").get_by_test_id("stImage")).to_have_count(60, timeout=LONG)
    shot(page, screenshots, "browse")  # the README's picture: the demo's first gallery page
    choose(page, "browse_category", CATEGORY)
    with studio.store() as store:
        labels = store.current_labels(DATASET)
    counts = labels[labels["category"] == CATEGORY]["value"].value_counts()
    value = str(counts.index[0])  # the biggest value: a full gallery
    assert value in options_of(page, "browse_values")
    add_choice(page, "browse_values", value)
    expect(toolbar).to_contain_text(f"of {int(counts.iloc[0]):,}", timeout=LONG)
    settle(page)
    tiles = page.get_by_test_id("stMain").get_by_test_id("stImage")
    expect(tiles).to_have_count(min(int(counts.iloc[0]), 60), timeout=LONG)
    first_caption = page.get_by_test_id("stMain").get_by_text(re.compile(r"^#\d+ · ")).first.inner_text()
    assert value in first_caption, first_caption
    JOURNEY["image_id"] = number_in(first_caption, r"#(\d+)")
    JOURNEY["value"] = value


def test_relabel_an_image_and_undo_it(page: Page, studio: StudioServer, screenshots: Path):
    image_id, old = _left_by("browse", "image_id"), _left_by("browse", "value")
    keyed(page, f"browse_open_{image_id}").get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Image #{image_id}")).to_be_visible(timeout=LONG)
    expect(keyed(page, f"browse_edit_cat_{image_id}").get_by_role("combobox")).to_have_value(CATEGORY)
    value_key = f"browse_edit_value_{image_id}_{CATEGORY}"
    new = next(v for v in options_of(page, value_key) if v != old)
    choose(page, value_key, new)
    fill(page, "browse_edit_reason", "checked in the browser test")
    toolbar = page.get_by_text(re.compile(r"Images 1–\d+ of [\d,]+"))
    before = number_in(toolbar.inner_text(), r"of ([\d,]+)")
    keyed(page, "browse_edit_save").get_by_role("button").click()
    expect(page.get_by_text(f"Image #{image_id}, {CATEGORY}: {old} → {new}")).to_be_visible(timeout=LONG)
    expect(toolbar).to_contain_text(f"of {before - 1:,}", timeout=LONG)  # it left the {old} filter
    with studio.store() as store:
        assert store.current_value(DATASET, image_id, CATEGORY) == new
        history = store.edit_history(DATASET, image_id)
    assert history["annotator"].tolist() == [ANNOTATOR]
    assert history["reason"].tolist() == ["checked in the browser test"]
    edit_id = int(history["id"].iloc[-1])
    shot(page, screenshots, "relabel")
    undo = keyed(page, f"browse_undo_{edit_id}").get_by_role("button")
    expect(undo).to_be_visible(timeout=LONG)
    undo.click()
    expect(page.get_by_text(f"Undid edit #{edit_id}.")).to_be_visible(timeout=LONG)
    expect(toolbar).to_contain_text(f"of {before:,}", timeout=LONG)  # and is back
    with studio.store() as store:
        assert store.current_value(DATASET, image_id, CATEGORY) == old
        assert len(store.edit_history(DATASET, image_id)) == 2  # the edit and its undo, both logged
    keyed(page, "browse_close").get_by_role("button").click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=LONG)


def test_distribution_counts_match_the_store_and_follow_the_minimum(
    page: Page, studio: StudioServer, screenshots: Path
):
    open_page(page, "Distribution")
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text(f"Current labels of {DATASET} (originals plus edits), no label map.")
    choose(page, "dist_category", CATEGORY)
    counts = _value_counts(studio, CATEGORY, source=NO_MAP)
    n_values = len(counts)
    expect(_metric(page, "Images labelled")).to_have_text(f"{int(counts.sum()):,}", timeout=LONG)
    with studio.store() as store:  # the page's starting minimum follows the data
        view = label_view(store, DATASET, NO_MAP)
    start = default_min_count(counts_table(view.schema, view.labels))
    expect(_metric(page, f"Values under {start}")).to_have_text(f"{int((counts < start).sum())} of {n_values}")
    fill(page, "dist_min_count", str(MIN_COUNT))
    expect(_metric(page, f"Values under {MIN_COUNT}")).to_have_text(
        f"{int((counts < MIN_COUNT).sum())} of {n_values}", timeout=LONG
    )
    chart = main.get_by_test_id("stPlotlyChart").first
    expect(chart).to_contain_text(CATEGORY)
    expect(chart).to_contain_text(str(counts.idxmax()))
    scroll_to(keyed(page, "dist_category"))
    shot(page, screenshots, "distribution")


def test_regroup_builds_saves_and_activates_a_merge(page: Page, studio: StudioServer, screenshots: Path):
    open_page(page, "Regroup", heading="Regroup values")
    choose(page, "regroup_category", CATEGORY)
    counts = _value_counts(studio, CATEGORY, source=NO_MAP)
    first, second = (str(v) for v in counts.sort_values(ascending=False).index[:2])
    values_key = f"regroup_values_{CATEGORY}"
    add_choice(page, values_key, f"{first} ({int(counts[first]):,})")
    add_choice(page, values_key, f"{second} ({int(counts[second]):,})")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stImage").first).to_be_visible(timeout=LONG)  # samples side by side
    fill(page, "regroup_new_name", MERGED)
    settle(page)
    button(page, "regroup_add").click()
    expect(main).to_contain_text(f"Added: {CATEGORY}: merge {first!r}, {second!r} → {MERGED!r}", timeout=LONG)
    fill(page, "regroup_map_name", MAP_NAME)
    settle(page)
    button(page, "regroup_save").click()
    expect(main).to_contain_text(
        f"Saved {MAP_NAME!r} version 1. It is now the active map of {DATASET!r}.", timeout=LONG
    )
    with studio.store() as store:
        assert store.dataset(DATASET).active_map == MAP_NAME
    merged = _value_counts(studio, CATEGORY)
    assert int(merged[MERGED]) == int(counts[first]) + int(counts[second])
    assert first not in merged.index and second not in merged.index
    expect(keyed(page, "regroup_chart")).to_contain_text(MERGED, timeout=LONG)
    scroll_to(keyed(page, "regroup_category"))
    shot(page, screenshots, "regroup")
    # Every page now reads through the map: Distribution says so and counts the merged value.
    open_page(page, "Distribution")
    expect(page.get_by_test_id("stMain")).to_contain_text(f"through label map {MAP_NAME} (version 1)")


def test_download_a_url_list_from_a_local_server_and_import_it(
    page: Page, studio: StudioServer, screenshots: Path, image_host: ImageHost, tmp_path: Path
):
    labels = ",".join("1" if i == 2 else "0" for i in range(1, 14))  # style_02, JD's 13 columns
    rows = [f"{name},{image_host.base}/img/{name}.jpg,{labels}" for name in HOSTED]
    rows.append(f"gone,{image_host.base}/img/gone.jpg,{labels}")  # the server answers 404
    listed = tmp_path / f"{DOWNLOADED}.csv"
    listed.write_text("\n".join(rows) + "\n", encoding="utf-8")
    open_page(page, "Download")
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("No download yet")
    expect(button(page, "download_start")).to_be_disabled()
    upload(page, "download_upload", listed)
    keyed(page, "download_allow_private").get_by_text("Allow private addresses").click()
    expect(main).to_contain_text("Private addresses allowed", timeout=LONG)
    settle(page)
    button(page, "download_start").click()
    expect(main).to_contain_text(
        f"Download finished: {len(HOSTED)} downloaded, 1 failed, 0 already there, of {len(rows)} rows",
        timeout=LONG,
    )
    expect(main).to_contain_text("http 404")
    importer = page.locator("[class*='st-key-download_import_']").get_by_role("button")
    importer.click()
    imported = main.get_by_text(
        f"Imported dataset {DOWNLOADED}: {len(HOSTED)} images, {len(rows)} rows read, 1 rejected."
    )
    expect(imported).to_be_visible(timeout=LONG)
    with studio.store() as store:
        assert sorted(store.images(DOWNLOADED)["path"]) == sorted(f"{name}.jpg" for name in HOSTED)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Dataset")).to_have_value(DATASET)  # still on the demo
    imported.scroll_into_view_if_needed()
    shot(page, screenshots, "download")


def test_train_a_short_run_and_watch_it_finish(page: Page, studio: StudioServer, screenshots: Path):
    open_page(page, "Train")
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("No runs of this dataset yet")
    expect(keyed(page, "train_map").get_by_role("combobox")).to_have_value(f"active map ({MAP_NAME})")
    keyed(page, "train_quick").get_by_text("Quick mode").click()
    # Typing before the toggle's rerun lands puts the digits beside its new default ("606").
    expect(keyed(page, "train_epochs").locator("input")).to_have_value("60", timeout=LONG)
    settle(page)
    form_fill(page, "train_epochs", str(TRAIN_EPOCHS))
    form_fill(page, "train_image_size", str(TRAIN_SIZE))
    button(page, "train_start").click()
    # The live panel while it trains (past "starting": the spawned process is up and working).
    running = main.get_by_text(re.compile(r"^(Preparing: (?!starting)\w|Epoch \d+ of \d+ · )"))
    expect(running).to_be_visible(timeout=TRAIN_TIMEOUT)
    ended = main.get_by_text(re.compile(r"^Run (done|failed|cancelled)|^The run failed"))
    expect(ended).to_be_visible(timeout=TRAIN_TIMEOUT)
    with studio.store() as store:
        runs = list_runs(store, DATASET)
    assert len(runs) == 1, runs
    run = runs[0]
    assert ended.inner_text().startswith("Run done."), f"{ended.inner_text()}\n{studio.log_tail()}"
    assert run.status == "done" and run.model_sha256
    assert (run.config["quick"], run.config["epochs"], run.config["image_size"]) == (
        True,
        TRAIN_EPOCHS,
        TRAIN_SIZE,
    )
    assert run.config["map_name"] in (None, MAP_NAME)
    expect(keyed(page, f"train_curves_{run.id}")).to_be_visible(timeout=LONG)
    expect(keyed(page, "train_compare_chart")).to_be_visible(timeout=LONG)
    JOURNEY["run"] = run
    scroll_to(page.get_by_role("heading", name="Runs", exact=True))
    shot(page, screenshots, "train")


def test_predict_an_uploaded_photo(page: Page, studio: StudioServer, screenshots: Path, tmp_path: Path):
    run = _left_by("train", "run")
    open_page(page, "Predict")
    expect(keyed(page, "predict_run").get_by_role("combobox")).to_have_value(
        re.compile(f"^{run.id} · {DATASET}")
    )
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Upload a photo")
    with studio.store() as store:
        root = store.dataset(DATASET).images_root
        path = store.images(DATASET)["path"].iloc[0]
    photo = tmp_path / "my-photo.jpg"
    photo.write_bytes((root / path).read_bytes())
    upload(page, "predict_upload", photo)
    heads = sorted(run.metrics["val_accuracy"])
    charts = main.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(len(heads), timeout=LONG)
    expect(main).to_contain_text(re.compile(rf"Inference \d+ ms .*all {len(heads)} categories"))
    for chart in charts.all():
        expect(chart).to_contain_text(re.compile(r"\d+\.\d%"))
    shown = {c for c in heads if charts.filter(has_text=c).count()}
    assert shown == set(heads), (shown, heads)
    for chart in charts.all():
        probs = [float(p) for p in re.findall(r"(\d+\.\d)%", chart.inner_text())]
        assert 1 <= len(probs) <= 5 and all(0 <= p <= 100 for p in probs), probs
        assert sum(probs) <= 100.5, probs  # one softmax per single-choice head
    shot(page, screenshots, "predict")


def test_evaluate_shows_the_confusion_matrix_of_the_finished_run(
    page: Page, studio: StudioServer, screenshots: Path
):
    run = _left_by("train", "run")
    open_page(page, "Evaluate")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("combobox", name="Run")).to_have_value(re.compile(f"^{run.id} · done"))
    expect(main).to_contain_text("This run has not been evaluated yet")
    button(page, "evaluate_start").click()  # loads the model in the app process: TensorFlow's import
    matrix = keyed(page, "evaluate_confusion")
    expect(matrix).to_be_visible(timeout=TRAIN_TIMEOUT)
    settle(page)
    with studio.store() as store:
        report = load_evaluation(store, run.id)
    assert report is not None, "the page showed a matrix but saved no evaluation"
    assert sorted(report.categories) == sorted(run.metrics["val_accuracy"])
    choose(page, "evaluate_category", CATEGORY)
    # The run was trained through the Regroup step's map, so it is judged in the merged values.
    assert MERGED in report.confusion_frame(CATEGORY).index
    expect(matrix).to_contain_text(f"{CATEGORY}: images")
    expect(matrix).to_contain_text("predicted")
    for value in report.confusion_frame(CATEGORY).index:  # every value of the category, both axes
        expect(matrix).to_contain_text(value)
    expect(_metric(page, "Validation images")).to_have_text(f"{report.data['images']:,}")
    expect(_metric(page, "Accuracy")).to_have_text(f"{report.category(CATEGORY)['accuracy']:.4f}")
    scroll_to(main.get_by_role("tablist"))
    shot(page, screenshots, "evaluate")


def test_app_registers_every_page_of_the_journey():
    titles = {title for _script, title in registered_pages()}
    assert titles == {"Home", "Browse", "Distribution", "Regroup", "Download", "Train", "Predict", "Evaluate", "Label",
                      "Accounts"}


def test_the_server_logged_no_traceback(studio: StudioServer):
    # Pages show users no traceback (showErrorDetails=type); the console is where one would land.
    log = studio.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback (most recent call last)" not in log, studio.log_tail(120)


# -- helpers ---------------------------------------------------------------------------------


def _left_by(step: str, key: str) -> Any:
    """What an earlier step stored for this one; a clear failure if that step did not get there."""
    if key not in JOURNEY:
        raise AssertionError(f"the {step} step failed earlier, so this step has no {key} to work on")
    return JOURNEY[key]


def _metric(page: Page, label: str):
    """The value of the metric whose label is ``label`` in the main area (not a stale copy of a rerun)."""
    live = page.get_by_test_id("stMain").locator(
        '[data-testid="stElementContainer"]:not([data-stale="true"]) [data-testid="stMetric"]'
    )
    metric = live.filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    return metric.get_by_test_id("stMetricValue").first


def _value_counts(studio: StudioServer, category: str, source: LabelSource = ACTIVE):
    """Images per value of ``category`` as the pages read them (through the active map by default)."""
    with studio.store() as store:
        view = label_view(store, DATASET, source)
    labels = view.labels[view.labels["category"] == category]
    values = list(view.schema.category(category).values)
    return labels["value"].value_counts().reindex(values, fill_value=0)
