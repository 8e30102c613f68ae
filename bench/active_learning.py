"""Benchmark: *label next* (least margin, rewarding distance from the labelled) against random picks, simulated.

*label next* here is the Label page's own order, ``active_learning.rank_queue`` (what
``label_queue`` builds the queue with), cut at the batch size; plain least-margin picks are
printed beside it as a reference.

On the demo data (1,500 images by default) with the labelling assistant's features
(``AssistSettings``: EfficientNet-Lite0, bundled weights, 224 px, computed once and cached) and
its quick model (a logistic-regression head per category). The oracle is the demo's true labels
(its planted wrong labels corrected from ``wrong_labels.csv``). Per category: a fixed, seeded
25% of the category's images is the validation set; the loop starts from 5% of the rest
labelled at random, then adds batches chosen by each strategy, refitting after each, and prints
the validation accuracy against the number of labels (summed over the categories). One round
adds 53 labels over the eight categories, about the Label page's refit every 50 labels.

Target (issue 17): *label next* reaches the accuracy random selection ends with using at
least 30% fewer labels (where its mean curve over the seeds first reaches it, interpolated
linearly between rounds). With the defaults random ends with 75% of each pool labelled, so
both have labelled most of the pool by then.

Measured 2026-12-04 (defaults, 5 seeds): random ends at 0.716 with 795 labels; label next
reaches it with 571 (28% fewer), plain margin with 638 (20% fewer). With ``--seeds 20``:
random 0.721, label next 579 labels (27% fewer), margin 617 (22%). The 30% target is missed.
Re-measured 2026-12-06 (5 seeds): the same 571 labels, 28% fewer. The per-category table shows
where the gain is: after 14 rounds label next leads random by 0.05-0.06 in collar, lapel, neck and
neckline design, and by 0.01-0.04 in the four length categories (coat length stays at 0.35-0.36 either
way: its head hardly learns).
Before (k-center over a 2x least-margin pool, 128 px features): random ended at 0.637, label
next 11% fewer; the new order on 128 px features saves 16%, so most of the gain is the 224 px
features (a better head flattens random's curve at the end) and the rest the new order.

    python bench/active_learning.py [--images 1500] [--batch 0.05] [--rounds 14] [--seeds 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fashion_core.analysis.active_learning import rank_queue, select_batch  # noqa: E402
from fashion_core.analysis.assist import AssistSettings, fit_suggestions  # noqa: E402
from fashion_core.analysis.wrong_labels import read_wrong_labels  # noqa: E402
from fashion_core.demo import generate_demo_data  # noqa: E402
from fashion_core.ingest.importer import import_labels  # noqa: E402
from fashion_core.schema import Schema  # noqa: E402
from fashion_core.store import LabelStore  # noqa: E402
from fashion_core.workspace import Workspace  # noqa: E402

DATASET = "demo"
STRATEGIES = ("label_next", "random", "margin")  # margin: a reference (least margin, no diversity)
START, VAL = 0.05, 0.25
TARGET_SAVING = 0.30


def prepare(ws: Workspace, images: int) -> tuple[LabelStore, pd.DataFrame, np.ndarray]:
    """The demo data imported once, its true labels, and every image's features (cached)."""
    from fashion_core.modeling.image_features import image_features

    store = LabelStore.open(ws)
    if DATASET not in [d.name for d in store.datasets()]:
        demo = generate_demo_data(ws.demo_dir, n_images=images)
        import_labels(store, dataset=DATASET, fmt="fashionai", files=[demo.label_file], images_root=demo.root)
    info = store.dataset(DATASET)
    truth = store.current_labels(DATASET)
    wrong = read_wrong_labels(info.images_root / "wrong_labels.csv")
    fix = {(p, c): v for p, c, v in zip(wrong["image_path"], wrong["category"], wrong["drawn_value"])}
    truth["value"] = [fix.get((p, c), v) for p, c, v in zip(truth["path"], truth["category"], truth["value"])]
    images = store.images(DATASET)
    start = time.perf_counter()
    assist = AssistSettings()  # the labelling assistant's own features
    features, facts = image_features([str(info.images_root / p) for p in images["path"]], ws.embeddings_dir,
                                     backbone=assist.backbone, weights=assist.weights, image_size=assist.image_size)
    print(f"features: {features.shape} in {time.perf_counter() - start:.1f} s "
          f"(cache hits {facts['hits']}, computed {facts['misses']})")
    by_id = dict(zip(images["image_id"], range(len(images))))
    truth["row"] = truth["image_id"].map(by_id)
    return store, truth, features


def simulate(schema: Schema, truth: pd.DataFrame, features: np.ndarray, strategy: str, batch: float,
             rounds: int, seed: int, per_category: dict[str, list[list[float]]] | None = None,
             ) -> list[tuple[int, float]]:
    """(labels, validation accuracy) after the start and after each batch, summed over categories.

    ``per_category``, if given, gets each category's accuracy curve appended under its name.
    """
    rng = np.random.default_rng(seed)
    states = []
    for cat in schema.categories:
        rows = truth[truth["category"] == cat.name].reset_index(drop=True)
        if rows["value"].nunique() < 2:
            continue
        order = rng.permutation(len(rows))
        val = np.zeros(len(rows), bool)
        val[order[: int(len(rows) * VAL)]] = True
        labelled = np.zeros(len(rows), bool)
        pool = order[int(len(rows) * VAL):]
        labelled[pool[: max(2, int(len(pool) * START))]] = True
        states.append((cat, rows, val, labelled, max(1, int(len(pool) * batch))))
    curve = []
    own: dict[str, list[float]] = {cat.name: [] for cat, *_ in states}
    for step in range(rounds + 1):
        hits = seen = n_labels = 0
        for cat, rows, val, labelled, size in states:
            one = Schema("one", (cat,))
            x = features[rows["row"].to_numpy()]
            train = rows[labelled].assign(image_id=np.flatnonzero(labelled))
            fit = fit_suggestions(x, np.arange(len(rows)), one, train, val_fraction=0.0)
            probs = fit.probs.get(cat.name)
            y = np.array([cat.values.index(v) for v in rows["value"]])
            if probs is None:  # one value seen so far: it is the only answer
                probs = np.eye(len(cat.values))[np.full(len(rows), y[labelled][0])]
            own[cat.name].append(float((probs[val].argmax(axis=1) == y[val]).mean()))
            hits += int((probs[val].argmax(axis=1) == y[val]).sum())
            seen += int(val.sum())
            n_labels += int(labelled.sum())
            if step < rounds:
                picked = pick(strategy, probs, x, labelled, size, val, seed + step)
                labelled[picked] = True
        curve.append((n_labels, hits / seen))
    if per_category is not None:
        for name, accs in own.items():
            per_category.setdefault(name, []).append(accs)
    return curve


def pick(strategy: str, probs: np.ndarray, x: np.ndarray, labelled: np.ndarray, size: int, val: np.ndarray,
         seed: int) -> np.ndarray:
    """The next batch. *label next* is the Label page's own order (``rank_queue``, as
    ``label_queue`` builds it), cut at the batch size; the others are ``select_batch``'s."""
    if strategy == "label_next":
        return rank_queue(probs, x, labelled, exclude=val, limit=size, seed=seed)
    return select_batch(probs, x, labelled, size, strategy=strategy, exclude=val, seed=seed)


def print_per_category(by_cat: dict[str, dict[str, list[list[float]]]], truth: pd.DataFrame, rounds: int) -> None:
    """Each category's mean validation accuracy half-way and at the end, for each strategy: where
    *label next* helps (on the demo data least in the length categories, whose heads stay weak)."""
    half = rounds // 2
    print(f"\nper category (mean over seeds; after {half} rounds / after {rounds})")
    print(f"{'category':<28} | {'images':>6} | {'label next':>11} | {'random':>11} | {'margin only':>11}")
    for name in by_cat["random"]:
        cells = []
        for strategy in ("label_next", "random", "margin"):
            acc = np.mean(by_cat[strategy][name], axis=0)
            cells.append(f"{acc[half]:.2f} / {acc[-1]:.2f}")
        print(f"{name:<28} | {int((truth['category'] == name).sum()):>6} | " + " | ".join(f"{c:>11}" for c in cells))


def labels_to_reach(curve: list[tuple[int, float]], accuracy: float) -> float | None:
    """Labels at which a curve first reaches ``accuracy``, linearly interpolated between its points."""
    if curve and curve[0][1] >= accuracy:
        return float(curve[0][0])
    for (n0, a0), (n1, a1) in zip(curve, curve[1:]):
        if a1 >= accuracy > a0:
            return n0 + (n1 - n0) * (accuracy - a0) / (a1 - a0)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--batch", type=float, default=0.05, help="batch size as a share of each category's pool")
    parser.add_argument("--rounds", type=int, default=14)
    parser.add_argument("--seeds", type=int, default=5, help="repeat with this many seeds and average")
    parser.add_argument("--keep", type=Path, default=None, help="reuse this workspace (and its feature cache)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="fas_bench_al_"))
    try:
        ws = Workspace(root).ensure()
        store, truth, features = prepare(ws, args.images)
        schema = store.dataset(DATASET).schema
        curves = {s: [] for s in STRATEGIES}
        by_cat: dict[str, dict[str, list[list[float]]]] = {s: {} for s in STRATEGIES}
        for seed in range(args.seeds):
            for strategy in STRATEGIES:
                curves[strategy].append(simulate(schema, truth, features, strategy, args.batch, args.rounds, seed,
                                                 by_cat[strategy]))
        mean = {s: [(c[0][i][0], float(np.mean([run[i][1] for run in c]))) for i in range(args.rounds + 1)]
                for s, c in ((s, curves[s]) for s in STRATEGIES)}
        print(f"\nvalidation accuracy against labels (mean of {args.seeds} seeds)")
        print(f"{'labels':>7} | {'label next':>10} | {'random':>7} | {'margin only':>11}")
        for (n, a), (_, b), (_, c) in zip(mean["label_next"], mean["random"], mean["margin"]):
            print(f"{n:>7} | {a:>10.3f} | {b:>7.3f} | {c:>11.3f}")
        print_per_category(by_cat, truth, args.rounds)
        final = mean["random"][-1]
        margin_reach = labels_to_reach(mean["margin"], final[1])
        if margin_reach is not None:
            print(f"(margin only reaches it with {margin_reach:.0f} labels: {1 - margin_reach / final[0]:.0%} fewer)")
        reach = labels_to_reach(mean["label_next"], final[1])
        if reach is None:
            print(f"\nlabel next never reached random's final accuracy {final[1]:.3f} ({final[0]} labels): target missed")
            return 1
        saving = 1 - reach / final[0]
        verdict = "met" if saving >= TARGET_SAVING else "missed"
        print(f"\nrandom ends at {final[1]:.3f} with {final[0]} labels; label next reaches it with {reach:.0f}"
              f" labels: {saving:.0%} fewer (target {TARGET_SAVING:.0%}: {verdict})")
        return 0 if saving >= TARGET_SAVING else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
