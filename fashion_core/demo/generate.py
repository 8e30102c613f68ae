"""Write the built-in demo data set: synthetic garment images and a FashionAI-format label file."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from fashion_core.csv_cells import SafeWriter
from fashion_core.demo.plan import MIN_IMAGES, PlannedImage, plan_demo_images
from fashion_core.demo.scenes import render_image
from fashion_core.errors import FashionCoreError
from fashion_core.schema import FASHIONAI, Schema

JPEG_QUALITY = 90
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024
WRONG_LABELS_HEADER = ("image_path", "category", "drawn_value", "labelled_value")


class DemoDataError(FashionCoreError, ValueError):
    """The demo data set cannot be generated (bad argument, output folder unusable)."""


@dataclass(frozen=True)
class DemoData:
    """Where a generated demo data set lives.

    Attributes:
        root: The images root: label paths (``Images/<category>/<name>.jpg``) are relative to it.
        label_file: ``Annotations/label.csv`` in FashionAI format (no header).
        wrong_labels_file: ``wrong_labels.csv``: the rows whose label differs from the drawing.
        count: Number of images (and label rows).
        schema: The schema the labels use (FashionAI).
    """

    root: Path
    label_file: Path
    wrong_labels_file: Path
    count: int
    schema: Schema


def generate_demo_data(
    out_dir: Path,
    *,
    n_images: int = 1500,
    seed: int = 0,
    image_size: int = 128,
    on_progress: Callable[[int, int], None] | None = None,
) -> DemoData:
    """Draw a deterministic synthetic FashionAI-style data set into ``out_dir``.

    Each image shows a figure in garments and is labelled in exactly one FashionAI category; the
    labelled attribute is set by shape only, while colours, textures, background, pose and framing
    are random. About 3% of rows carry an ``m`` (maybe) mark and about 2% are deliberately wrong,
    listed in ``wrong_labels.csv``. The same arguments always give byte-identical files. Files of
    an earlier run in ``out_dir`` are overwritten; the label file is written last, atomically.

    Args:
        out_dir: Output folder; ``Images/``, ``Annotations/label.csv`` and ``wrong_labels.csv``
            are written inside it.
        n_images: Number of images, at least 40 (so every category appears).
        seed: Non-negative seed; another seed gives another data set.
        image_size: Side of the square images in pixels, 32 to 1024.
        on_progress: Called as ``on_progress(done, total)`` after each image is written.

    Returns:
        A DemoData describing the files.

    Raises:
        DemoDataError: An argument is out of range or ``out_dir`` cannot be written.
    """
    _validate(n_images, seed, image_size)
    out_dir = Path(out_dir)
    plan = plan_demo_images(n_images, seed)
    _make_folders(out_dir, sorted({item.category for item in plan}))
    for done, item in enumerate(plan, start=1):
        _save_image(render_image(item, seed, image_size), out_dir / item.image_path)
        if on_progress is not None:
            on_progress(done, len(plan))
    wrong_labels_file = out_dir / "wrong_labels.csv"
    _write_atomic(wrong_labels_file, _wrong_labels_csv(plan))
    label_file = out_dir / "Annotations" / "label.csv"
    _write_atomic(label_file, _label_csv(plan))
    return DemoData(out_dir, label_file, wrong_labels_file, len(plan), FASHIONAI)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(n_images: int, seed: int, image_size: int) -> None:
    if not _is_int(n_images) or n_images < MIN_IMAGES:
        raise DemoDataError(f"`n_images` must be an integer >= {MIN_IMAGES}. Received: n_images={n_images!r}")
    if not _is_int(seed) or seed < 0:
        raise DemoDataError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
    if not _is_int(image_size) or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise DemoDataError(
            f"`image_size` must be an integer from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}. "
            f"Received: image_size={image_size!r}"
        )


def _make_folders(out_dir: Path, categories: Sequence[str]) -> None:
    try:
        for category in categories:
            (out_dir / "Images" / category).mkdir(parents=True, exist_ok=True)
        (out_dir / "Annotations").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoDataError(f"Cannot create the demo data folders in {out_dir}: {exc}") from exc


def _save_image(image: Image.Image, path: Path) -> None:
    # A fixed quality and no metadata keep the bytes identical from run to run.
    try:
        image.save(path, "JPEG", quality=JPEG_QUALITY)
    except OSError as exc:
        raise DemoDataError(f"Cannot write {path}: {exc}") from exc


def _label_csv(plan: Sequence[PlannedImage]) -> str:
    return "".join(f"{item.image_path},{item.category},{item.code(FASHIONAI)}\n" for item in plan)


def _wrong_labels_csv(plan: Sequence[PlannedImage]) -> str:
    buffer = io.StringIO()
    writer = SafeWriter(buffer, lineterminator="\n")
    writer.writerow(WRONG_LABELS_HEADER)
    for item in plan:
        if item.is_wrong:
            writer.writerow((item.image_path, item.category, item.drawn_value, item.labelled_value))
    return buffer.getvalue()


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so readers never see half a label file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    except OSError as exc:
        raise DemoDataError(f"Cannot write {path}: {exc}") from exc
