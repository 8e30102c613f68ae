"""Benchmark: does the input pipeline keep up with training? Images/s from JPEGs vs in-memory tensors.

On the demo data, the default model (EfficientNet-Lite0, bundled weights, 128 px, every
category's head) trains epochs fed two ways, in alternating rounds in the same process:

- the real pipeline (``modeling.data.image_dataset``): JPEG files decoded and resized in
  parallel, cached as uint8, shuffled, augmented with the default augmentations, prefetched.
  Each round builds it anew: its first epoch decodes the JPEGs, later ones read the cache;
- the same model fed by in-memory float32 tensors (decoded beforehand, no augmentation).

Each feed trains its epochs of a round in one ``fit`` call, the pipeline repeated with a step
count as the trainer runs it. The median in-memory epoch is the reference for the median
JPEG epoch and the median cached epoch; rounds make the single JPEG epoch a median too.

Target (issue 6): pipeline images/s at least 0.9 of the in-memory rate. Then a demo training
run in a child process (``python -m fashion_core train`` with the defaults, shortened by
``--rss-epochs``) reports its peak RSS; target under 4 GB.

    python bench/train_input.py [--phase heads|finetune] [--rounds 3] [--epochs 1] [--rss-epochs 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_core.demo import generate_demo_data  # noqa: E402
from fashion_core.ingest.importer import import_labels  # noqa: E402
from fashion_core.labels.view import label_view  # noqa: E402
from fashion_core.modeling.config import TrainConfig  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402
from fashion_core.workspace import Workspace  # noqa: E402

DATASET = "demo"


def prepare(ws: Workspace) -> LabelStore:
    store = LabelStore.open(ws)
    if DATASET not in [d.name for d in store.datasets()]:
        demo = generate_demo_data(ws.demo_dir)
        import_labels(store, dataset=DATASET, fmt="fashionai", files=[demo.label_file], images_root=demo.root)
    return store


def build(store: LabelStore, config: TrainConfig, phase: str):  # -> (model, paths, targets)
    """The default run's model and its training rows, compiled for ``phase``."""
    import numpy as np

    from fashion_core.modeling import model as modelling
    from fashion_core.modeling.backbones import build_backbone
    from fashion_core.modeling.table import build_label_table, stratified_split

    table = build_label_table(label_view(store, DATASET), store.dataset(DATASET).images_root)
    train = np.flatnonzero(
        ~stratified_split(table.frame["stratum"].tolist(), config.val_fraction, config.seed)
    )
    backbone = build_backbone(config.backbone, weights=config.weights, image_size=config.image_size)
    model = modelling.build_model(backbone, table.heads, dropout=config.dropout)
    losses, _ = modelling.make_losses(
        table.heads, table.value_counts(train), table.labelled_counts(train), config.imbalance
    )
    modelling.set_backbone_trainable(model, phase == "finetune", config.finetune_layers)
    lr = config.learning_rate * (config.finetune_lr_factor if phase == "finetune" else 1.0)
    modelling.compile_model(model, table.heads, losses, config.imbalance, lr)
    return model, [table.paths[i] for i in train], table.targets(train)


def _epoch_times(fit) -> list[float]:
    """Seconds of each epoch of one ``fit`` call; ``fit`` gets the timing callback to pass on."""
    import keras

    starts: list[float] = []
    seconds: list[float] = []
    fit(keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: starts.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: seconds.append(time.perf_counter() - starts[-1]),
    ))
    return seconds


def compare(store: LabelStore, config: TrainConfig, phase: str, rounds: int, epochs: int) -> float:
    """Rounds of pipeline then in-memory epochs; print images/s of each; return the worse ratio."""
    from fashion_core.modeling.data import image_dataset, load_images

    model, paths, targets = build(store, config, phase)
    n, bs = len(paths), config.batch_size
    t0 = time.perf_counter()
    pixels = load_images(paths, config.image_size)  # the in-memory copy, decoded beforehand
    print(
        f"{n} training images; in-memory tensors decoded in {time.perf_counter() - t0:.1f} s"
        f" ({pixels.nbytes / 2**20:.0f} MB float32)"
    )

    def pipeline():  # a new one each round: its empty cache makes its first epoch decode every JPEG
        return image_dataset(paths, targets, image_size=config.image_size, batch_size=bs, training=True,
                             augmentation=config.augmentation, cache="memory", seed=config.seed)

    # Warm up both feeds outside the timings: graph tracing for a full and for the partial last
    # batch (a retrace costs seconds, the same for either feed) and tf.data start-up.
    warm = 2 * bs + n % bs
    model.fit(pixels[:warm], {k: v[:warm] for k, v in targets.items()}, batch_size=bs, verbose=0)
    model.fit(pipeline().take(3), epochs=1, verbose=0)
    jpeg, cached, memory = [], [], []
    for r in range(rounds):
        # Each feed trains its epochs in one fit call, as the trainer does: the pipeline repeated
        # with a step count (one iterator for all epochs), the tensors as Keras slices them.
        # Rounds interleave the feeds, so a slower spell of this shared machine hits both.
        piped = _epoch_times(lambda cb: model.fit(pipeline().repeat(), steps_per_epoch=-(-n // bs),
                                                  epochs=epochs + 1, callbacks=[cb], verbose=0))
        mem = _epoch_times(lambda cb: model.fit(pixels, targets, batch_size=bs, epochs=epochs + 1,
                                                callbacks=[cb], verbose=0))
        print(f"round {r + 1}: pipeline from JPEG files (filling the cache, augmented) {n / piped[0]:.1f} images/s;"
              f" cached {', '.join(f'{n / t:.1f}' for t in piped[1:])}; in-memory"
              f" {', '.join(f'{n / t:.1f}' for t in mem)} images/s")
        jpeg.append(piped[0])
        cached.extend(piped[1:])
        memory.extend(mem)
    reference = statistics.median(memory)  # seconds of an in-memory epoch
    ratio_jpeg = reference / statistics.median(jpeg)
    ratio_cached = reference / statistics.median(cached) if cached else ratio_jpeg
    print(
        f"medians: in-memory {n / reference:.1f} images/s; pipeline {n / statistics.median(jpeg):.1f} (from JPEG),"
        + (f" {n / statistics.median(cached):.1f} (cached)" if cached else "")
    )
    print(
        f"ratio pipeline/in-memory: {ratio_jpeg:.3f} (epoch from JPEG), {ratio_cached:.3f} (cached epochs);"
        " target >= 0.9"
    )
    return min(ratio_cached, ratio_jpeg)


def peak_rss_of_training(ws: Workspace, epochs: int) -> float:
    """Peak RSS (MB) of ``python -m fashion_core train`` with the defaults, shortened to ``epochs`` per phase."""
    cmd = [
        sys.executable,
        "-m",
        "fashion_core",
        "--home",
        str(ws.root),
        "train",
        "--dataset",
        DATASET,
        "--epochs",
        str(epochs),
        "--finetune-epochs",
        str(epochs),
        "--json",
    ]
    print("peak RSS run:", " ".join(cmd[1:]))
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if done.returncode != 0:
        print(done.stderr[-2000:])
        raise SystemExit("the training run failed")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"demo training run: {time.perf_counter() - start:.0f} s, peak RSS {peak:.0f} MB (target < 4096 MB)"
    )
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--phase",
        choices=("heads", "finetune"),
        default="heads",
        help="heads: frozen backbone (the fastest model, hardest on the input); finetune: the layers"
        " the default fine-tune phase trains",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with a new pipeline (empty cache)")
    parser.add_argument("--epochs", type=int, default=1, help="cached epochs per round after the JPEG one")
    parser.add_argument(
        "--rss-epochs", type=int, default=1, help="epochs per phase of the peak-RSS run (0: skip)"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="workspace to use and keep (default: a temp one)"
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="fas_bench_input_"))
    ws = Workspace(root).ensure()
    try:
        store = prepare(ws)
        config = TrainConfig(dataset=DATASET)
        print(
            f"config: {config.backbone} ({config.weights}) {config.image_size}px, batch {config.batch_size},"
            f" phase {args.phase}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        ratio = compare(store, config, args.phase, args.rounds, args.epochs)
        peak = peak_rss_of_training(ws, args.rss_epochs) if args.rss_epochs else 0.0
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("PASS" if ratio >= 0.9 and peak < 4096 else "MISS")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
