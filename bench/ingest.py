"""Benchmark: import a generated 200,000-row FashionAI label.csv; print rows/s and peak RSS.

Targets (issue 2): at least 20,000 rows per second, peak memory under 1 GB.
Then (issue 14) a fresh import of the first ``--replace-rows`` rows is timed next to an
``ingest --replace`` of the same rows over it (with 1,000 edits to carry): target within 2x.
The tiny images are written once into a cache folder and reused by later runs.

    python bench/ingest.py [--rows 200000] [--replace-rows 100000] [--cache /tmp/fas_bench_ingest]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from fashion_core.ingest.fashionai import encode_code  # noqa: E402
from fashion_core.ingest.importer import import_labels  # noqa: E402
from fashion_core.schema import FASHIONAI  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402


def make_data(root: Path, rows: int) -> Path:
    """Write `rows` tiny JPEGs (round-robin over the 8 categories) and a label.csv, once."""
    label = root / "Annotations" / "label.csv"
    if label.exists() and sum(1 for _ in open(label)) == rows:
        return label
    rng = random.Random(0)
    jpegs = []
    for i in range(16):  # a few distinct tiny JPEGs, copied as bytes
        buf = BytesIO()
        Image.new("RGB", (16, 16), (i * 15, 255 - i * 15, 128)).save(buf, "JPEG")
        jpegs.append(buf.getvalue())
    cats = FASHIONAI.categories
    lines = []
    for c in cats:
        (root / "Images" / c.name).mkdir(parents=True, exist_ok=True)
    for i in range(rows):
        cat = cats[i % len(cats)]
        rel = f"Images/{cat.name}/{i:07d}.jpg"
        (root / rel).write_bytes(jpegs[i % 16])
        maybe = [cat.values[1]] if rng.random() < 0.03 else []
        value = cat.values[rng.randrange(2, len(cat.values))]
        lines.append(f"{rel},{cat.name},{encode_code(cat, value, maybe)}\n")
    label.parent.mkdir(parents=True, exist_ok=True)
    label.write_text("".join(lines))
    return label


def time_replace(label: Path, root: Path, rows: int) -> tuple[float, float, int]:
    """Seconds of a fresh import of ``rows`` rows, then of a replace of them; edits carried."""
    subset = label.with_name(f"label_{rows}.csv")
    with open(label) as src:
        subset.write_text("".join(line for _, line in zip(range(rows), src)))
    ws = Path(tempfile.mkdtemp(prefix="fas_bench_replace_"))
    try:
        store = LabelStore.open(ws)
        t0 = time.perf_counter()
        import_labels(store, dataset="bench", fmt="fashionai", files=[subset], images_root=root)
        fresh = time.perf_counter() - t0
        labels = store.original_labels("bench").head(1000)
        for image_id, cat, value in zip(labels["image_id"], labels["category"], labels["value"]):
            store.edit_label("bench", int(image_id), cat, value, annotator="bench")
        t0 = time.perf_counter()
        report = import_labels(
            store, dataset="bench", fmt="fashionai", files=[subset], images_root=root, replace=True
        )
        replace = time.perf_counter() - t0
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    return fresh, replace, report.edits_kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--replace-rows", type=int, default=100_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "fas_bench_ingest")
    args = parser.parse_args()

    t0 = time.perf_counter()
    label = make_data(args.cache, args.rows)
    print(f"data ready in {time.perf_counter() - t0:.1f} s: {label}")

    ws = Path(tempfile.mkdtemp(prefix="fas_bench_ws_"))
    try:
        store = LabelStore.open(ws)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        report = import_labels(store, dataset="bench", fmt="fashionai", files=[label], images_root=args.cache)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    rate = report.rows_read / seconds
    print(f"imported {report.annotations} labels, {report.images} images, {len(report.rejected)} rejected")
    print(f"ingest: {report.rows_read} rows in {seconds:.2f} s = {rate:,.0f} rows/s (target >= 20,000)")
    print(f"peak RSS: {peak:.0f} MB (before import {rss_before:.0f} MB; target < 1024 MB)")
    print("PASS" if rate >= 20_000 and peak < 1024 else "MISS")

    n = min(args.replace_rows, args.rows)
    fresh, replace, kept = time_replace(label, args.cache, n)
    print(f"fresh import of {n} rows: {fresh:.2f} s; --replace of the same rows: {replace:.2f} s"
          f" ({replace / fresh:.2f}x, {kept} edits kept; target within 2x)")
    print("PASS" if replace <= 2 * fresh else "MISS")


if __name__ == "__main__":
    main()
