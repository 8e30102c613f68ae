"""Reader for folder trees: ``root/<category>/<value>/*.jpg`` or ``root/<value>/*.jpg``."""

from __future__ import annotations

import os
from pathlib import Path

from fashion_core.errors import LabelFileError
from fashion_core.ingest.table import LabelRow, ParsedLabels
from fashion_core.schema import FASHIONAI, Category, Kind, Schema

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}


def read_folders(root: Path, *, category: str | None = None) -> ParsedLabels:
    """Read labels from where images sit in a folder tree.

    Two layouts: ``root/<category>/<value>/img`` (several categories), or
    ``root/<value>/img`` for one category, named ``category`` (default: the root's name).
    Files that are not images by their suffix are reported, not imported.

    Raises:
        LabelFileError: if the root is missing or holds no image in either layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise LabelFileError(str(root), "folder does not exist")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    one_category = any(_has_images(d) for d in subdirs)
    if one_category:
        tree = {category or root.name: subdirs}
    else:
        tree = {
            d.name: sorted(v for v in d.iterdir() if v.is_dir() and not v.name.startswith("."))
            for d in subdirs
        }
    parsed = ParsedLabels(_schema_for(tree))
    for cat_name, value_dirs in tree.items():
        for value_dir in value_dirs:
            _read_value_dir(root, cat_name, value_dir, parsed)
    if not parsed.rows:
        raise LabelFileError(
            str(root), "no images found in root/<category>/<value>/ or root/<value>/ folders"
        )
    return parsed


def _has_images(folder: Path) -> bool:
    return any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir() if f.is_file())


def _read_value_dir(root: Path, category: str, value_dir: Path, parsed: ParsedLabels) -> None:
    for name in sorted(os.listdir(value_dir)):
        file = value_dir / name
        if not file.is_file() or name.startswith("."):
            continue
        rel = file.relative_to(root).as_posix()
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            parsed.reject(rel, 0, f"not an image file by its name: {name}")
            continue
        parsed.rows.append(LabelRow(rel, category, value_dir.name, "", str(root), 0))


def _schema_for(tree: dict[str, list[Path]]) -> Schema:
    """FashionAI's own schema when the folders use its names, else one derived from them."""
    if all(FASHIONAI.has(c) for c in tree) and all(
        {v.name for v in vals} <= set(FASHIONAI.category(c).values) for c, vals in tree.items()
    ):
        return FASHIONAI.with_categories(FASHIONAI.category(c) for c in tree)
    cats = [Category(c, tuple(v.name for v in vals), Kind.SINGLE) for c, vals in tree.items() if vals]
    return Schema("folders", tuple(cats))
