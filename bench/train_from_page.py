"""Benchmark: a default training run started from the Train page, in a real browser, on the demo data.

Starts ``streamlit run app.py`` on an empty workspace (the app draws and imports the demo data
on first open), opens it in Debian's Chromium through Playwright, presses Start training on the
Train page without changing an option, and keeps the page open (its live progress polling) until
the page says the run ended. Prints the wall time from the click, when sleeve-length validation
accuracy first reached 0.90, the best checkpoint's accuracies, and the trainer's peak RSS.

Target (issue 6): sleeve length at least 0.90 validation accuracy within 10 minutes.

    python bench/train_from_page.py [--keep DIR] [--port N]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from _browser import require_chromium  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from fashion_core.runs.files import list_runs  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402
from fashion_core.workspace import Workspace  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, START_TIMEOUT_S, _free_port, _stop, _wait_healthy  # noqa: E402
from tests.e2e.streamlit_page import button, open_page  # noqa: E402

DATASET = "demo"
SLEEVE = "val_sleeve_length_labels_accuracy"
TARGET = 0.90
RUN_TIMEOUT_MS = 1_200_000


class PeakRss:
    """Polls the server's child processes (the trainer) for their largest RSS."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                for child in psutil.Process(self.pid).children(recursive=True):
                    try:
                        self.peak = max(self.peak, child.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            time.sleep(0.5)

    def stop(self) -> float:
        self._stop.set()
        return self.peak / 2**30


class FirstReach:
    """Watches the run's history.csv for the first epoch whose sleeve accuracy reaches the target."""

    def __init__(self, runs_dir: Path, start: float) -> None:
        self.runs_dir, self.start, self.found = runs_dir, start, None
        self._stop = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._stop.is_set() and self.found is None:
            for history in self.runs_dir.glob("*/history.csv"):
                try:
                    rows = list(csv.DictReader(history.open(encoding="utf-8")))
                except OSError:
                    continue
                for row in rows:
                    if float(row.get(SLEEVE) or 0) >= TARGET:
                        self.found = (int(row["epoch"]), float(row[SLEEVE]), time.time() - self.start)
                        break
            time.sleep(1.0)

    def stop(self) -> None:
        self._stop.set()


def run(root: Path, port: int) -> None:
    ws = Workspace(root).ensure()
    env = {**os.environ, "FASHION_STUDIO_HOME": str(ws.root), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    rss = PeakRss(server.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        start = time.time()
        _wait_healthy(url, server, root / "server.log", START_TIMEOUT_S)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            dataset_box = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset")
            expect(dataset_box).to_have_value(DATASET, timeout=300_000)
            print(f"app up with the demo data after {time.time() - start:.0f} s")
            open_page(page, "Train")
            button(page, "train_start").click()
            clicked = time.time()
            reach = FirstReach(ws.runs_dir, clicked)
            ended = page.get_by_test_id("stMain").get_by_text(re.compile(r"^Run (done|failed|cancelled)|^The run failed"))
            expect(ended).to_be_visible(timeout=RUN_TIMEOUT_MS)
            seconds = time.time() - clicked
            reach.stop()
            print(f"the page says {ended.inner_text()!r} {int(seconds // 60)} min {int(seconds % 60):02d} s after the click")
            browser.close()
    finally:
        peak = rss.stop()
        _stop(server)  # the server and the trainer it started (its own session)
    store = LabelStore.open(ws)
    try:
        record = list_runs(store, DATASET)[0]
    finally:
        store.close()
    cfg, metrics = record.config, record.metrics or {}
    print("config:", ", ".join(f"{k}={cfg.get(k)}" for k in (
        "backbone", "weights", "image_size", "batch_size", "schedule", "epochs", "finetune_epochs",
        "learning_rate", "finetune_lr_factor", "finetune_layers", "quick")))
    if reach.found:
        epoch, acc, at = reach.found
        print(f"sleeve length first >= {TARGET}: {acc:.3f} at epoch {epoch}, {at / 60:.1f} min after the click")
    else:
        print(f"sleeve length never reached {TARGET}")
    print(f"best checkpoint: epoch {metrics.get('best_epoch')} of {metrics.get('epochs_run')};"
          " validation accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in (metrics.get("val_accuracy") or {}).items()))
    print(f"trainer peak RSS {peak:.2f} GiB")
    met = reach.found is not None and reach.found[2] <= 600
    print("PASS" if met else "MISS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="workspace to use and keep (default: a temp one)")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    args = parser.parse_args()
    require_chromium(CHROMIUM)
    root = args.keep or Path(tempfile.mkdtemp(prefix="fas_bench_page_"))
    try:
        run(root, args.port or _free_port())
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
