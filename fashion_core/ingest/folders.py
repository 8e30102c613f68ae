"""Reader for folder trees: ``root/<category>/<value>/*.jpg`` or ``root/<value>/*.jpg``."""

from __future__ import annotations

import os
from pathlib import Path

from fashion_core.errors import LabelFileError, UnreadableFileError
from fashion_core.ingest.table import LabelRow, ParsedLabels, name_problem
from fashion_core.schema import FASHIONAI, Category, Kind, Schema

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
MAX_NAME_CHARS = 255


def read_folders(root: Path, *, category: str | None = None) -> ParsedLabels:
    """Read labels from where images sit in a folder tree.

    Two layouts: ``root/<category>/<value>/img`` (several categories), or
    ``root/<value>/img`` for one category, named ``category`` (default: the root's name).
    Files that are not images by their suffix, and folders or files whose names cannot be
    stored (not UTF-8, a ``|`` in a value name), are reported, not imported.

    Raises:
        LabelFileError: if the root is missing, unreadable or holds no image in either layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise UnreadableFileError(str(root), "folder does not exist; check the path")
    parsed = ParsedLabels(Schema("folders", ()))
    subdirs = _usable_dirs(root, root, parsed, root_level=True)
    one_category = any(_has_images(d) for d in subdirs)
    if one_category:
        tree = {category or root.name: subdirs}
    else:
        tree = {d.name: _usable_dirs(root, d, parsed) for d in subdirs}
    parsed.schema = _schema_for(tree)
    for cat_name, value_dirs in tree.items():
        for value_dir in value_dirs:
            _read_value_dir(root, cat_name, value_dir, parsed)
    if not parsed.rows:
        raise LabelFileError(
            str(root), "no images found in root/<category>/<value>/ or root/<value>/ folders"
        )
    return parsed


def _listdir(folder: Path, root: Path, parsed: ParsedLabels, *, root_level: bool = False) -> list[str]:
    """Names in a folder; an unreadable sub-folder is reported, an unreadable root raised."""
    try:
        return sorted(os.listdir(folder))
    except OSError as exc:
        reason = f"cannot read folder: {exc.strerror or exc}; check its permissions"
        if root_level:
            raise UnreadableFileError(str(folder), reason) from exc
        parsed.reject(_rel(folder, root), 0, reason)
        return []


def _usable_dirs(root: Path, folder: Path, parsed: ParsedLabels, *, root_level: bool = False) -> list[Path]:
    """Sub-folders whose names can be category or value names; the others are reported."""
    dirs = []
    for name in _listdir(folder, root, parsed, root_level=root_level):
        path = folder / name
        if name.startswith(".") or not path.is_dir():
            continue
        problem = _bad_name(name, "folder")
        if problem is not None:
            parsed.reject(_rel(path, root), 0, problem)
            continue
        dirs.append(path)
    return dirs


def _bad_name(name: str, kind: str) -> str | None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"{kind} name {name.encode('utf-8', 'surrogateescape')!r} is not UTF-8; rename it"
    if len(name) > MAX_NAME_CHARS:
        return f"{kind} name is {len(name)} characters long (limit {MAX_NAME_CHARS})"
    return name_problem(kind, name) if kind == "folder" else None


def _rel(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _has_images(folder: Path) -> bool:
    try:
        return any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir() if f.is_file())
    except OSError:
        return False  # reported when the folder's files are read


def _read_value_dir(root: Path, category: str, value_dir: Path, parsed: ParsedLabels) -> None:
    for name in _listdir(value_dir, root, parsed):
        file = value_dir / name
        if name.startswith(".") or not file.is_file():
            continue
        rel = _rel(file, root)
        problem = _bad_name(name, "file")
        if problem is None and file.suffix.lower() not in IMAGE_SUFFIXES:
            problem = f"not an image file by its name: {name}"
        if problem is not None:
            parsed.reject(rel, 0, problem)
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
