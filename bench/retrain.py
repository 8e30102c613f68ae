"""Benchmark: retrain all heads after a label merge, with cached embeddings and without them.

On the demo data (1,500 images, 8 FashionAI categories) with the default backbone
(EfficientNet-Lite0, bundled weights, 128 px):

1. a quick-mode run before the merge: its embedding pass fills the cache (reported separately);
2. a label merge (sleeve length: Long + Extra Long -> Long Sleeves), made the active map;
3. the retrain of every head in quick mode: features read from the cache;
4. the same retrain (heads only, frozen backbone, no augmentation, same epochs) without
   cached embeddings: every epoch sends the images through the backbone.

Target (issue 6): the cached retrain of all heads under 10 s (wall time of the whole run:
labels, model build, cache reads, training, saving the model).

    python bench/retrain.py [--epochs 5] [--images 1500] [--keep /tmp/fas_bench_retrain]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fashion_core.demo import generate_demo_data  # noqa: E402
from fashion_core.ingest.importer import import_labels  # noqa: E402
from fashion_core.labels.label_map import Op, Step  # noqa: E402
from fashion_core.labels.maps import activate_map, add_steps  # noqa: E402
from fashion_core.modeling.config import Augmentation, TrainConfig  # noqa: E402
from fashion_core.runs.files import RunDir, new_run_id, register_run  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402
from fashion_core.workspace import Workspace  # noqa: E402

DATASET = "demo"
MERGE = Step(Op.MERGE, "sleeve_length_labels", ("Long Sleeves", "Extra Long Sleeves"), "Long Sleeves")
TARGET_S = 10.0


def prepare(ws: Workspace, images: int) -> LabelStore:
    """Draw and import the demo data (once per workspace)."""
    store = LabelStore.open(ws)
    if DATASET not in [d.name for d in store.datasets()]:
        demo = generate_demo_data(ws.demo_dir, n_images=images)
        import_labels(store, dataset=DATASET, fmt="fashionai", files=[demo.label_file], images_root=demo.root)
    return store


def timed_run(store: LabelStore, ws: Workspace, config: TrainConfig) -> tuple[float, dict[str, Any]]:
    """Register and train one run in this process; (wall seconds, metrics)."""
    from fashion_core.modeling.training import train_run

    run_dir = RunDir(ws.runs_dir / new_run_id())
    register_run(store, run_dir, config.dataset, config.to_dict())
    start = time.perf_counter()
    metrics = train_run(store, ws, config, run_dir)
    return time.perf_counter() - start, metrics


def describe(label: str, seconds: float, metrics: dict[str, Any]) -> None:
    timing, emb = metrics["timing"], metrics.get("embeddings", {})
    mean = metrics.get("val_mean_accuracy")
    print(
        f"{label}: {seconds:.1f} s wall ({metrics['epochs_run']} epochs, training {timing['train_seconds']:.1f} s,"
        f" embeddings {emb.get('seconds', 0.0):.1f} s: {emb.get('hits', 0)} cached /"
        f" {emb.get('misses', 0)} computed); val mean accuracy {mean if mean is None else round(mean, 3)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="head epochs of each retrain")
    parser.add_argument("--images", type=int, default=1500, help="demo images")
    parser.add_argument(
        "--keep", type=Path, default=None, help="workspace to use and keep (default: a temp one)"
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="fas_bench_retrain_"))
    ws = Workspace(root).ensure()
    shutil.rmtree(ws.embeddings_dir, ignore_errors=True)  # the first pass must start cold
    try:
        t0 = time.perf_counter()
        store = prepare(ws, args.images)
        print(f"demo data ready in {time.perf_counter() - t0:.1f} s ({args.images} images) in {root}")
        quick = TrainConfig(dataset=DATASET, quick=True, epochs=args.epochs)

        seconds, metrics = timed_run(store, ws, quick)
        describe("first quick run (embedding pass, cache cold)", seconds, metrics)

        activate_map(store, DATASET, add_steps(store, "bench_merge", [MERGE]).name)
        print(f"label merge active: {MERGE.describe()}")

        cached_s, cached = timed_run(store, ws, quick)
        describe("retrain all heads, cached embeddings", cached_s, cached)
        plain = TrainConfig(
            dataset=DATASET, schedule="heads", epochs=args.epochs, augmentation=Augmentation.off()
        )
        plain_s, uncached = timed_run(store, ws, plain)
        describe("retrain all heads, no cached embeddings", plain_s, uncached)

        print(
            f"speed-up: {plain_s / cached_s:.1f}x; cached retrain {cached_s:.1f} s (target < {TARGET_S:.0f} s)"
        )
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("PASS" if cached_s < TARGET_S else "MISS")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
