"""Benchmark: per-photo prediction latency of the studio against eight single-category models.

All contenders run in the same invocation, interleaved photo by photo (so a busy machine
slows them alike), on the same generated 512x512 JPEG photos:

1. studio: ``Predictor.predict_bytes`` (file bytes -> checked decode -> one forward pass of the
   multi-head EfficientNet-Lite0 model, bundled ImageNet weights, 224x224, in the TFLite
   interpreter -> ranked values of all eight FashionAI categories). The model is saved and
   loaded like a run's (``Predictor.from_run``: hash-checked load, TFLite conversion checked
   against the Keras model).
2. eight models: the FashionAI source's way: decode, then eight single-category models of the
   same backbone, each called with ``model.predict`` one after another.
3. floor: the bare forward pass the studio runs (TFLite ``invoke``) on a ready array.
4. for reference: the studio path on the TensorFlow engine (a traced ``tf.function``), and
5. that traced function's bare forward pass on a ready tensor.

Targets (issue 7): (1) at least 10x faster than (2), within 1.25x of (3), under 40 ms.
Then the RSS before and after 1,000 more studio predictions (memory must not grow).

    python bench/predict.py [--photos 100] [--memory 1000]
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from fashion_core.imaging.decode import photo_pixels  # noqa: E402
from fashion_core.runs.files import RunDir, register_run, sha256_file, update_run, write_json_atomic  # noqa: E402
from fashion_core.schema import FASHIONAI  # noqa: E402
from fashion_core.serving.predictor import Predictor  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402
from fashion_core.workspace import Workspace  # noqa: E402

SIZE = 224
BACKBONE = "efficientnet_lite0"
TARGET_SPEEDUP = 10.0
TARGET_FLOOR_RATIO = 1.25
TARGET_MS = 40.0


def make_photos(count: int, side: int = 512, seed: int = 0) -> list[bytes]:
    """``count`` distinct photo-like JPEGs: a gradient background with a few shapes and noise."""
    rng = np.random.default_rng(seed)
    photos = []
    for _ in range(count):
        ramp = np.linspace(0, 1, side, dtype=np.float32)
        base = rng.uniform(40, 215, 3).astype(np.float32)
        pixels = base + 40 * ramp[:, None, None] * rng.uniform(-1, 1, 3) + rng.normal(0, 12, (side, side, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(5):
            x, y = rng.integers(0, side - 120, 2)
            w, h = rng.integers(40, 200, 2)
            draw.ellipse(
                [int(x), int(y), int(x + w), int(y + h)], fill=tuple(int(c) for c in rng.integers(0, 256, 3))
            )
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        photos.append(out.getvalue())
    return photos


def save_as_run(root: Path) -> tuple[LabelStore, str]:
    """Build the multi-head model and record it as a finished run of a workspace under ``root``."""
    from fashion_core.modeling.backbones import build_backbone
    from fashion_core.modeling.heads import make_heads
    from fashion_core.modeling.model import build_model

    ws = Workspace(root / "ws").ensure()
    store = LabelStore.open(ws)
    store.create_dataset("bench", FASHIONAI, root, "bench")
    run_dir = RunDir(ws.runs_dir / "bench-run")
    register_run(store, run_dir, "bench", {"backbone": BACKBONE, "image_size": SIZE})
    write_json_atomic(run_dir.schema, FASHIONAI.to_dict())
    model = build_model(
        build_backbone(BACKBONE, weights="bundled", image_size=SIZE), make_heads(FASHIONAI.categories)
    )
    model.save(run_dir.model)
    update_run(store, run_dir.run_id, status="done", model_sha256=sha256_file(run_dir.model))
    return store, run_dir.run_id


def single_category_models() -> list:
    """Eight models of the same backbone, one category each (the source's layout)."""
    from fashion_core.modeling.backbones import build_backbone
    from fashion_core.modeling.heads import make_heads
    from fashion_core.modeling.model import build_model

    return [
        build_model(build_backbone(BACKBONE, weights="bundled", image_size=SIZE), make_heads([category]))
        for category in FASHIONAI.categories
    ]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


Contender = tuple[str, Callable[[int], object]]


def contenders(
    predictor: Predictor, reference: Predictor, singles: list, photos: list[bytes]
) -> list[Contender]:
    """The timed paths, each a function of the photo's index (inputs prepared outside the timing)."""
    import tensorflow as tf

    from fashion_core.modeling.export import serving_function

    ready = [photo_pixels(p, SIZE)[np.newaxis].astype(np.float32) for p in photos]
    ready_tf = [tf.constant(r) for r in ready]
    traced = serving_function(predictor.model)  # what reference.forward runs, minus the NumPy conversion

    def eight(i: int) -> list:
        x = photo_pixels(photos[i], SIZE)[np.newaxis].astype(np.float32)
        return [m.predict(x, verbose=0) for m in singles]

    return [
        ("(1) studio: Predictor.predict_bytes (TFLite engine)", lambda i: predictor.predict_bytes(photos[i])),
        ("(2) eight models, model.predict each", eight),
        ("(3) floor: bare TFLite forward pass, ready array", lambda i: predictor.forward(ready[i])),
        ("(4) studio on the TF engine (traced tf.function)", lambda i: reference.predict_bytes(photos[i])),
        (
            "(5) bare traced TF forward pass, ready tensor",
            lambda i: {k: v.numpy() for k, v in traced(ready_tf[i]).items()},
        ),
    ]


def compare(paths: list[Contender], count: int) -> dict[str, list[float]]:
    """Per-photo milliseconds of every path, interleaved photo by photo (a busy moment slows all alike)."""
    for i in range(3):  # warm-up: first calls build predict functions and caches
        for _, fn in paths:
            fn(i)
    times: dict[str, list[float]] = {name: [] for name, _ in paths}
    for i in range(count):
        for name, fn in paths:
            times[name].append(timed(lambda f=fn, k=i: f(k)))
    return times


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def report(times: dict[str, list[float]]) -> None:
    names = list(times)
    print(f"\nmedian per photo over {len(times[names[0]])} photos (p10-p90):")
    for name, values in times.items():
        q = np.percentile(values, [10, 90])
        print(f"  {name:<54} {statistics.median(values):8.1f} ms  ({q[0]:.1f}-{q[1]:.1f})")
    studio, multi, floor, studio_tf, floor_tf = (statistics.median(times[n]) for n in names)
    print(
        f"\n  speed-up (2)/(1):  {multi / studio:6.1f}x   target >= {TARGET_SPEEDUP:g}x  {verdict(multi / studio >= TARGET_SPEEDUP)}"
    )
    print(
        f"  overhead (1)/(3):  {studio / floor:6.2f}x   target <= {TARGET_FLOOR_RATIO:g}x  {verdict(studio / floor <= TARGET_FLOOR_RATIO)}"
    )
    print(f"  studio per photo:  {studio:6.1f} ms  target < {TARGET_MS:g} ms  {verdict(studio < TARGET_MS)}")
    print(
        f"  (1)/(5) studio vs the bare TF forward pass: {studio / floor_tf:.2f}x;"
        f" TF engine: (2)/(4) {multi / studio_tf:.1f}x, (4)/(5) {studio_tf / floor_tf:.2f}x"
    )


def memory(predictor: Predictor, photos: list[bytes], count: int) -> None:
    """RSS before, during (every quarter) and after ``count`` more predictions: growth or a plateau."""
    gc.collect()
    readings = [rss_mb()]
    started = time.perf_counter()
    for i in range(count):
        predictor.predict_bytes(photos[i % len(photos)])
        if (i + 1) % max(count // 4, 1) == 0:
            readings.append(rss_mb())
    seconds = time.perf_counter() - started
    gc.collect()
    readings.append(rss_mb())
    print(
        f"\nRSS before {count} predictions: {readings[0]:.1f} MB, after: {readings[-1]:.1f} MB"
        f" ({readings[-1] - readings[0]:+.1f} MB; {seconds / count * 1000:.1f} ms per photo in that loop)"
    )
    print("  RSS every quarter: " + ", ".join(f"{r:.1f}" for r in readings[1:-1]) + " MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--memory", type=int, default=1000, help="predictions between the two RSS readings")
    args = parser.parse_args()
    print(f"load average at start: {loadavg()} on {os.cpu_count()} cores")
    photos = make_photos(args.photos)
    print(f"{len(photos)} JPEG photos 512x512, {statistics.mean(map(len, photos)) / 1024:.0f} KB on average")

    with tempfile.TemporaryDirectory(prefix="fas-bench-predict-") as tmp:
        started = time.perf_counter()
        store, run_id = save_as_run(Path(tmp))
        predictor = Predictor.from_run(store, run_id)
        print(
            f"studio model: built, saved, hash-checked, loaded, converted to TFLite and checked"
            f" in {time.perf_counter() - started:.1f} s (engine: {predictor.engine})"
        )
        started = time.perf_counter()
        Predictor.from_run(store, run_id)
        print(
            f"  a second load (TFLite conversion cached in the run folder): {time.perf_counter() - started:.1f} s"
        )
        reference = Predictor(predictor.model, predictor.schema, engine="tf")
        started = time.perf_counter()
        singles = single_category_models()
        print(f"eight single-category models built in {time.perf_counter() - started:.1f} s")
        report(compare(contenders(predictor, reference, singles, photos), len(photos)))

        del singles, reference
        memory(predictor, photos, args.memory)
        store.close()
    print(f"load average at end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
