"""Benchmark: labelling speed with the keyboard, the Label page against Label Studio, same 50 images.

Both tools run on this machine and are driven in Debian's Chromium through Playwright with
keystrokes only, on the same 50 demo images (sleeve length, the first 50 of the Label page's
*complete the other categories* queue):

- the Label page: number key (the value's shortcut), the next image follows;
- Label Studio (pip ``label-studio``, installed by this script into its own virtual environment,
  never into requirements.txt): a single-choice config with the values on hotkeys 1-9, number
  key then its submit key (Ctrl+Enter).

For each it prints labels per minute and the median and p90 time from the keystroke that saves
a label to the next image being visible (its ``<img>`` loaded), and checks that every label was
saved with the pressed value (the studio's edit log; Label Studio's export API).

Target (issue 17): at least Label Studio's rate and at most its median latency.

    python bench/labeling.py [--keep DIR] [--ls-venv /tmp/fas_label_studio_venv] [--images 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _browser import require_chromium  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from fashion_core.access import LOCAL  # noqa: E402
from fashion_core.analysis.label_queue import build_queue  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402
from fashion_core.workspace import Workspace  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT_S, _free_port, _stop, _wait_healthy  # noqa: E402
from tests.e2e.streamlit_page import choose, open_page, settle  # noqa: E402

DATASET = "demo"
CATEGORY = "sleeve_length_labels"
MODE_TITLE = "Complete the other categories"
LABELLER = LOCAL.name  # no accounts on loopback: labels are recorded as the local user
LS_VERSION = "1.23.2"
LS_USER, LS_PASSWORD = "bench@example.org", "bench-pass-1234"  # a one-letter domain ending is refused
LS_TOKEN = "b3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nc"
DEMO_IMAGES = 240
VIEWPORT = {"width": 1400, "height": 1000}
TASK_ID_JS = "() => String(window.Htx && window.Htx.task ? window.Htx.task.id : 0)"  # the task on screen
NEXT_IMAGE_JS = """old => {
    const img = [...document.querySelectorAll(SELECTOR)].find(i => i.offsetParent !== null);
    return !!img && img.currentSrc !== old && img.complete && img.naturalWidth > 0 ? img.currentSrc : false;
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def visible_src(page: Page, selector: str) -> str:
    return page.evaluate(f"""() => {{
        const img = [...document.querySelectorAll({json.dumps(selector)})].find(i => i.offsetParent !== null);
        return img ? img.currentSrc : "";
    }}""")


def drive(page: Page, selector: str, n: int, keys_for: Callable[[int], list[str]]) -> tuple[float, list[float]]:
    """Label ``n`` images: ``keys_for(step)`` (read before the timing) gives the keys to press; the time
    from the last key to the next image loaded is its latency. Returns (total seconds, latencies)."""
    js = NEXT_IMAGE_JS.replace("SELECTOR", json.dumps(selector))
    latencies, start = [], time.perf_counter()
    for step in range(n):
        old = visible_src(page, selector)
        presses = keys_for(step)
        for key in presses[:-1]:
            page.keyboard.press(key)
        pressed = time.perf_counter()
        page.keyboard.press(presses[-1])
        if step < n - 1:
            page.wait_for_function(js, arg=old, timeout=60_000, polling="raf")
            latencies.append(time.perf_counter() - pressed)
    return time.perf_counter() - start, latencies


# -- the studio ---------------------------------------------------------------------------------------


def run_studio(root: Path, browser, n: int) -> tuple[list[dict], tuple[str, ...], float, list[float], bool]:
    """The Label page on the demo data: (chosen images, the category's values, seconds, latencies, all right)."""
    ws = Workspace(root / "studio").ensure()
    env = {**os.environ, "FASHION_STUDIO_HOME": str(ws.root), "FASHION_STUDIO_DEMO_IMAGES": str(DEMO_IMAGES),
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    log_path = root / "studio.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, log_path, START_TIMEOUT_S)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset")).to_have_value(
            DATASET, timeout=300_000)
        store = LabelStore.open(ws)
        values = store.dataset(DATASET).schema.category(CATEGORY).values
        items = build_queue(store, DATASET, "complete", category=CATEGORY, annotator=LABELLER)[:n]
        info = store.dataset(DATASET)
        chosen = [{"image_id": i.image_id, "path": i.path, "file": str(info.images_root / i.path),
                   "value": values[1 + k % 8]} for k, i in enumerate(items)]
        open_page(page, "Label")
        choose(page, "label_category", CATEGORY)
        choose(page, "label_mode", MODE_TITLE)
        page.get_by_role("heading", name="Label", exact=True).click()
        settle(page)
        before = int(store.labels_version(DATASET)[1])
        keys = [[str(values.index(c["value"]) + 1)] for c in chosen]  # the page shows the queue in this order
        seconds, latencies = drive(page, '[data-testid="stMain"] [data-testid="stImage"] img', len(keys),
                                   keys.__getitem__)
        time.sleep(2.0)  # the last label's rerun
        log = store.edit_history(DATASET)
        new = log[log["id"] > before].iloc[::-1]
        saved = list(zip(new["image_id"].astype(int), new["new_value"], new["annotator"]))
        right = saved == [(c["image_id"], c["value"], LABELLER) for c in chosen]
        store.close()
        page.close()
        return chosen, values, seconds, latencies, right
    finally:
        _stop(server)


# -- Label Studio ----------------------------------------------------------------------------------------


def ensure_label_studio(venv: Path) -> Path:
    """Label Studio in its own virtual environment (created on first use); its ``label-studio`` script."""
    exe = venv / "bin" / "label-studio"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"label-studio=={LS_VERSION}"], check=True)
    return exe


def api(base: str, path: str, data: object | None = None, method: str | None = None) -> object:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(f"{base}{path}", data=body, method=method or ("POST" if body else "GET"),
                                 headers={"Authorization": f"Token {LS_TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        text = resp.read().decode()
    return json.loads(text) if text else None


def label_config(values: tuple[str, ...]) -> str:
    choices = "".join(f'<Choice value="{v}" hotkey="{k + 1}"/>' for k, v in enumerate(values[:9]))
    return (f'<View><Image name="image" value="$image" maxWidth="600px"/>'
            f'<Choices name="value" toName="image" choice="single-radio">{choices}</Choices></View>')


def run_label_studio(root: Path, browser, exe: Path, chosen: list[dict], values: tuple[str, ...]
                     ) -> tuple[float, list[float], bool]:
    """The same images in Label Studio: (seconds, latencies, all labels right)."""
    files = root / "ls-images"
    files.mkdir(parents=True, exist_ok=True)
    for k, c in enumerate(chosen):
        shutil.copy(c["file"], files / f"{k:03d}.jpg")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root), "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "false"}
    log_path = root / "label-studio.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(exe), "start", "--no-browser", "-p", str(port), "--internal-host", "127.0.0.1",
             "--data-dir", str(root / "ls-data"), "--username", LS_USER, "--password", LS_PASSWORD,
             "--user-token", LS_TOKEN, "--enable-legacy-api-token"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(base, server, log_path, 900)
        project = api(base, "/api/projects", {"title": "bench", "label_config": label_config(values)})
        storage = api(base, "/api/storages/localfiles", {"project": project["id"], "path": str(files),
                                                          "regex_filter": r".*\.jpg", "use_blob_urls": True})
        api(base, f"/api/storages/localfiles/{storage['id']}/sync", {})
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/user/login/")
        page.fill('input[name="email"]', LS_USER)
        page.fill('input[name="password"]', LS_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda u: "/login" not in u, timeout=120_000)
        page.goto(f"{base}/projects/{project['id']}/data?labeling=1")
        selector = 'img[src^="blob:"]'  # Label Studio fetches each image and shows it as a blob URL
        page.wait_for_function(NEXT_IMAGE_JS.replace("SELECTOR", json.dumps(selector)), arg="", timeout=120_000)
        file_of = {t["id"]: Path(t["storage_filename"]).stem
                   for t in api(base, f"/api/tasks?project={project['id']}&page_size=1000")["tasks"]}
        value_of = {f"{k:03d}": c["value"] for k, c in enumerate(chosen)}

        def keys_for(step: int) -> list[str]:  # Label Studio picks the task order: read the shown task's id
            task = int(page.evaluate(TASK_ID_JS))
            return [str(values.index(value_of[file_of[task]]) + 1), "Control+Enter"]

        seconds, latencies = drive(page, selector, len(chosen), keys_for)
        time.sleep(2.0)
        tasks = api(base, f"/api/projects/{project['id']}/export?exportType=JSON")
        saved = {file_of[t["id"]]: t["annotations"][0]["result"][0]["value"]["choices"][0]
                 for t in tasks if t.get("annotations")}
        right = saved == {f"{k:03d}": c["value"] for k, c in enumerate(chosen)}
        page.close()
        return seconds, latencies, right
    finally:
        _stop(server)


def report(name: str, n: int, seconds: float, latencies: list[float], right: bool) -> dict[str, float]:
    rate = n / seconds * 60
    med, p90 = statistics.median(latencies) * 1000, percentile(latencies, 0.9) * 1000
    print(f"{name:<13} {n} labels in {seconds:.1f} s: {rate:.0f} labels/min; next image median {med:.0f} ms,"
          f" p90 {p90:.0f} ms; every label saved with the pressed value: {'yes' if right else 'NO'}")
    return {"rate": rate, "median": med}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=None, help="folder to work in and keep (default: a temp one)")
    parser.add_argument("--ls-venv", type=Path, default=Path(tempfile.gettempdir()) / "fas_label_studio_venv")
    parser.add_argument("--images", type=int, default=50)
    args = parser.parse_args()
    require_chromium(CHROMIUM)
    root = args.keep or Path(tempfile.mkdtemp(prefix="fas_bench_label_"))
    exe = ensure_label_studio(args.ls_venv)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            chosen, values, s_sec, s_lat, s_ok = run_studio(root, browser, args.images)
            l_sec, l_lat, l_ok = run_label_studio(root, browser, exe, chosen, values)
            browser.close()
        ours = report("Label page", len(chosen), s_sec, s_lat, s_ok)
        theirs = report("Label Studio", len(chosen), l_sec, l_lat, l_ok)
        met = ours["rate"] >= theirs["rate"] and ours["median"] <= theirs["median"] and s_ok and l_ok
        print("target (rate >= Label Studio's, median <= Label Studio's):", "met" if met else "missed")
        return 0 if met else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
