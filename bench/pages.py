"""Benchmark: cold and warm renders of the Browse and Distribution pages on 200,000 images.

Targets (issue 4), on this 2-core machine: warm render of each page under 1 s, cold browse
(60 thumbnails, none cached yet) under 3 s, peak memory of the process under 1.5 GB.

The tiny images and the label.csv are written once into a cache folder and the imported
workspace is kept beside them, so later runs start at the measurement. A cold render
clears Streamlit's caches and the thumbnail folder first; the Python modules stay
imported (they were imported by the first, untimed, run of the app frame).

    python bench/pages.py [--rows 200000] [--cache /tmp/fas_bench_pages] [--fresh]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from fashion_core.ingest.fashionai import encode_code  # noqa: E402
from fashion_core.ingest.importer import import_labels  # noqa: E402
from fashion_core.schema import FASHIONAI  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402
from fashion_core.workspace import HOME_ENV, Workspace  # noqa: E402

DATASET = "bench"
TARGET_WARM_S = 1.0
TARGET_COLD_BROWSE_S = 3.0
TARGET_PEAK_MB = 1536.0


def make_data(root: Path, rows: int, seed: int = 0) -> Path:
    """Write ``rows`` 16x16 JPEGs and a FashionAI label.csv under ``root``, once.

    Values are drawn with skewed weights so the charts show imbalance and rare values,
    the way real FashionAI labels do.
    """
    label = root / "Annotations" / "label.csv"
    if label.exists() and sum(1 for _ in open(label, encoding="utf-8")) == rows:
        return label
    rng = random.Random(seed)
    jpegs = [_tiny_jpeg(i) for i in range(32)]  # distinct colours, written as bytes: fast
    cats = FASHIONAI.categories
    for c in cats:
        (root / "Images" / c.name).mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(rows):
        cat = cats[i % len(cats)]
        rel = f"Images/{cat.name}/{i:07d}.jpg"
        (root / rel).write_bytes(jpegs[i % len(jpegs)])
        weights = [1.0 / (k + 1) ** 1.3 for k in range(len(cat.values))]
        value = rng.choices(cat.values, weights=weights)[0]
        maybe = [v for v in cat.values if v != value and rng.random() < 0.01]
        lines.append(f"{rel},{cat.name},{encode_code(cat, value, maybe)}\n")
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text("".join(lines), encoding="utf-8")
    return label


def _tiny_jpeg(i: int) -> bytes:
    buf = BytesIO()
    img = Image.new("RGB", (16, 16), ((i * 37) % 256, (255 - i * 23) % 256, (i * 91) % 256))
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def make_workspace(cache: Path, rows: int, *, fresh: bool) -> Workspace:
    """The imported workspace kept beside the image cache (re-imported with ``fresh``)."""
    label = make_data(cache / "data", rows)
    ws = Workspace(cache / f"workspace_{rows}")
    if fresh and ws.root.exists():
        shutil.rmtree(ws.root)
    store = LabelStore.open(ws.ensure())
    try:
        if not any(d.name == DATASET for d in store.datasets()):
            t0 = time.perf_counter()
            report = import_labels(
                store, dataset=DATASET, fmt="fashionai", files=[label], images_root=cache / "data"
            )
            print(f"imported {report.images:,} images in {time.perf_counter() - t0:.1f} s")
    finally:
        store.close()
    return ws


def _timed(at, label: str, results: list[tuple[str, float, str]], target: str = "") -> float:
    t0 = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"{label}: the page raised: {at.exception[0].value}")
    if at.error:
        raise SystemExit(f"{label}: the page showed an error: {at.error[0].value}")
    results.append((label, seconds, target))
    return seconds


@contextmanager
def harness(server_like: bool) -> Iterator[Callable[[str], object]]:
    """Make AppTests of the app; ``server_like`` removes two costs only AppTest has.

    AppTest scans every installed package for components once per AppTest object and
    recompiles the scripts on every run (a fresh ScriptCache each time); ``streamlit run``
    does the first once at start-up and caches the bytecode. Server-like, the bench shares
    one registry and one script cache between runs, as the server does.
    """
    import streamlit.testing.v1.app_test as app_test_module
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest

    registry = None
    original = app_test_module.ScriptCache
    if server_like:
        registry = BidiComponentManager()
        registry.discover_and_register_components(start_file_watching=False)
        shared = ScriptCache()
        app_test_module.ScriptCache = lambda: shared

    def make(page: str):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.session_state["app_annotator"] = "bench"
        if registry is not None:
            at._bidi_component_manager = registry  # as if discovered at server start
        return at.switch_page(page)

    try:
        yield make
    finally:
        app_test_module.ScriptCache = original


def measure(source: Workspace, repeats: int, *, server_like: bool) -> list[tuple[str, float, str]]:
    """Time the pages on a fresh copy of the workspace with empty Streamlit caches."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    results: list[tuple[str, float, str]] = []
    warm, cold = f"< {TARGET_WARM_S:g} s", f"< {TARGET_COLD_BROWSE_S:g} s"
    with tempfile.TemporaryDirectory(prefix="fas_bench_pages_ws_") as tmp, harness(server_like) as app:
        for f in source.root.glob("studio.db*"):
            shutil.copy2(f, Path(tmp) / f.name)
        os.environ[HOME_ENV] = tmp
        browse = app("pages/browse.py")
        _timed(browse, "browse, cold (empty caches, 60 new thumbnails)", results, cold)
        if len(browse.image) != 60:
            raise SystemExit(f"browse showed {len(browse.image)} thumbnails, expected 60")
        for i in range(repeats):
            _timed(browse, f"browse, warm (rerun {i + 1})", results, warm)
        _timed(app("pages/browse.py"), "browse, a second session (warm caches)", results, warm)
        browse.selectbox(key="browse_category").set_value("sleeve_length_labels")
        _timed(browse, "browse, change a filter (new query, new thumbnails)", results)
        browse.pagination[0].set_value(3)
        _timed(browse, "browse, next page (new thumbnails)", results)
        first = int(browse.checkbox[0].key.removeprefix("browse_pick_"))
        browse.button(key=f"browse_open_{first}").click()
        _timed(browse, "browse, open the detail view", results)
        browse.segmented_control(key=f"browse_edit_action_{first}_sleeve_length_labels").set_value(
            "invisible"
        )
        browse.button(key="browse_edit_save").click()
        _timed(browse, "browse, save a relabel (labels version changes)", results)
        dist = app("pages/distribution.py")
        _timed(dist, "distribution, cold (empty cache: reads all labels)", results)
        for i in range(repeats):
            _timed(dist, f"distribution, warm (rerun {i + 1})", results, warm)
        dist.selectbox(key="dist_category").set_value("neckline_design_labels")
        _timed(dist, "distribution, another category", results, warm)
    return results


def report(title: str, results: list[tuple[str, float, str]]) -> None:
    print(f"\n{title}")
    print(f"  {'render':<56} {'seconds':>8}  target")
    for label, seconds, target in results:
        verdict = "" if not target else ("ok" if seconds < float(target.split()[1]) else "MISSED")
        print(f"  {label:<56} {seconds:>8.3f}  {target} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "fas_bench_pages")
    parser.add_argument("--fresh", action="store_true", help="re-import the workspace")
    parser.add_argument("--repeats", type=int, default=3, help="warm reruns per page")
    parser.add_argument("--build-only", action="store_true", help="make the data set and stop")
    args = parser.parse_args()

    if args.build_only:
        t0 = time.perf_counter()
        ws = make_workspace(args.cache, args.rows, fresh=args.fresh)
        print(f"data set ready in {time.perf_counter() - t0:.1f} s: {ws.root}")
        return
    # Build in a child process, so this process's peak memory is the pages' alone.
    build = [sys.executable, __file__, "--build-only", "--rows", str(args.rows), "--cache", str(args.cache)]
    subprocess.run(build + (["--fresh"] if args.fresh else []), check=True)
    source = Workspace(args.cache / f"workspace_{args.rows}")
    load = os.getloadavg()[0]
    as_is = measure(source, args.repeats, server_like=False)
    server = measure(source, args.repeats, server_like=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{args.rows:,} images, {os.cpu_count()} CPUs, load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )
    report("AppTest as is (first pass: includes importing the app's modules)", as_is)
    report("AppTest, server-like (component scan at start-up, bytecode cached)", server)
    verdict = "ok" if peak < TARGET_PEAK_MB else "MISSED"
    print(
        f"\n  {'peak RSS of this process (both passes)':<56} {peak:>6.0f} MB  < {TARGET_PEAK_MB:g} MB {verdict}"
    )


if __name__ == "__main__":
    main()
