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


def _app(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["app_annotator"] = "bench"
    return at.switch_page(page)


def measure(ws: Workspace, repeats: int) -> list[tuple[str, float, str]]:
    """Time the pages with AppTest on a copy of the workspace (so edits and thumbnails are new)."""
    results: list[tuple[str, float, str]] = []
    browse = _app("pages/browse.py")
    _timed(browse, "browse, cold (first run: imports, labels, 60 new thumbnails)", results, f"< {TARGET_COLD_BROWSE_S:g} s")
    shown = len(browse.image)
    if shown != 60:
        raise SystemExit(f"browse showed {shown} thumbnails, expected 60")
    for i in range(repeats):
        _timed(browse, f"browse, warm (rerun {i + 1})", results, f"< {TARGET_WARM_S:g} s")
    _timed(_app("pages/browse.py"), "browse, new session, warm caches", results, f"< {TARGET_WARM_S:g} s")
    browse.selectbox(key="browse_category").set_value("sleeve_length_labels")
    _timed(browse, "browse, change a filter (new query)", results)
    browse.button(key=f"browse_open_{int(browse.checkbox[0].key.removeprefix('browse_pick_'))}").click()
    _timed(browse, "browse, open the detail view", results)
    browse.button(key="browse_edit_save").click()
    _timed(browse, "browse, save a relabel (index patched, not re-read)", results)
    dist = _app("pages/distribution.py")
    _timed(dist, "distribution, cold (labels read, counted)", results)
    for i in range(repeats):
        _timed(dist, f"distribution, warm (rerun {i + 1})", results, f"< {TARGET_WARM_S:g} s")
    dist.selectbox(key="dist_category").set_value("neckline_design_labels")
    _timed(dist, "distribution, another category", results, f"< {TARGET_WARM_S:g} s")
    return results


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
    with tempfile.TemporaryDirectory(prefix="fas_bench_pages_ws_") as tmp:
        ws = Workspace(Path(tmp))
        for f in source.root.glob("studio.db*"):
            shutil.copy2(f, ws.root / f.name)
        os.environ[HOME_ENV] = str(ws.root)
        results = measure(ws, args.repeats)
        thumbs = sum(1 for _ in ws.thumbnails_dir.rglob("*.jpg"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{args.rows:,} images, {os.cpu_count()} CPUs, {thumbs} thumbnails made")
    print(f"{'render':<58} {'seconds':>8}  target")
    for label, seconds, target in results:
        verdict = "" if not target else ("ok" if seconds < float(target.split()[1]) else "MISSED")
        print(f"{label:<58} {seconds:>8.3f}  {target} {verdict}")
    verdict = "ok" if peak < TARGET_PEAK_MB else "MISSED"
    print(f"{'peak RSS of this process':<58} {peak:>6.0f} MB  < {TARGET_PEAK_MB:g} MB {verdict}")


if __name__ == "__main__":
    main()
