"""Tiny generated data sets for the training tests: coloured squares whose colour is the label."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from fashion_core.runs import RunDir, get_run, register_run
from fashion_core.schema import Category, Kind, Schema
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore
from fashion_core.workspace import Workspace

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 50, 220)}
SIZES = ("small", "large")
TINY_SCHEMA = Schema(
    "tiny",
    (
        Category("colour", tuple(COLOURS), Kind.SINGLE),
        Category("size", SIZES, Kind.SINGLE),
        Category("tags", ("dots", "stripes"), Kind.MULTI),
    ),
)


def draw(path: Path, colour: str, size: str, seed: int, side: int = 32) -> None:
    """A square of the colour on grey noise; ``large`` fills most of the image."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(90, 140, size=(side, side, 3)).astype(np.uint8)
    half = side // 3 if size == "large" else side // 8
    c = side // 2
    pixels[c - half : c + half, c - half : c + half] = COLOURS[colour]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=95)


def make_dataset(store: LabelStore, root: Path, *, n: int = 24, name: str = "tiny", side: int = 32,
                 categories: tuple[str, ...] = ("colour", "size")) -> list[dict[str, str]]:
    """Write ``n`` images and import them; like FashionAI, each image is labelled in one category.

    Image i is labelled in ``categories[i % len(categories)]``; every fourth image also gets
    a ``tags`` label when that category is asked for. Returns the rows written.
    """
    store.create_dataset(name, TINY_SCHEMA, root, "test", replace=True)
    rows, images, notes = [], [], []
    colours = list(COLOURS)
    for i in range(n):
        colour, size = colours[i % 3], SIZES[(i // 3) % 2]
        rel = f"img/{i:03d}.jpg"
        draw(root / rel, colour, size, seed=i, side=side)
        images.append(ImageRecord(rel, width=side, height=side, format="JPEG"))
        labelled = [c for c in categories if c != "tags"]
        cat = labelled[i % len(labelled)]
        value = colour if cat == "colour" else size
        notes.append(AnnotationRecord(rel, cat, value))
        rows.append({"path": rel, "category": cat, "value": value})
        if "tags" in categories and i % 4 == 0:
            tags = "dots" if i % 8 == 0 else "dots|stripes"
            notes.append(AnnotationRecord(rel, "tags", tags))
            rows.append({"path": rel, "category": "tags", "value": tags})
    store.add_images(name, images)
    store.add_annotations(name, notes)
    return rows


SIDE = 32  # tiny runs train at the images' own size


class TinyRun(NamedTuple):
    workspace: Workspace
    store: LabelStore
    run_id: str
    data: Path


def train_tiny_run(root: Path, *, n: int = 48, quick: bool = False, run_id: str = "run-1",
                   categories: tuple[str, ...] = ("colour", "size", "tags"), seed: int = 0,
                   schedule: str = "heads") -> TinyRun:
    """Train one tiny run (coloured squares, weights none, 1 epoch: seconds) in a new workspace under ``root``.

    Shared by the prediction, evaluation, suspicious-label, CLI and page tests.
    """
    from fashion_core.modeling import Augmentation, TrainConfig, train_run

    ws = Workspace(root / "ws").ensure()
    store = LabelStore.open(ws)
    make_dataset(store, root / "data", n=n, side=SIDE, categories=categories)
    config = TrainConfig(dataset="tiny", backbone="mobilenet_v3_small", weights="none", image_size=SIDE, epochs=1,
                         schedule=schedule, finetune_epochs=0, batch_size=8, augmentation=Augmentation.off(),
                         early_stopping_patience=0, reduce_lr_patience=0, quick=quick, seed=seed)
    run_dir = RunDir(ws.runs_dir / run_id)
    register_run(store, run_dir, "tiny", config.to_dict())
    train_run(store, ws, config, run_dir)
    assert get_run(store, run_id).status == "done"
    return TinyRun(ws, store, run_id, root / "data")
