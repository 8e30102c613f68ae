"""Reader for JD fashion-style lists: ``id,url,l1,...,l13`` lines with 0/1 labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fashion_core.errors import LabelFileError
from fashion_core.ingest.table import (
    LabelRow,
    ParsedLabels,
    dedupe,
    read_label_lines,
    whole_file_error,
)
from fashion_core.paths import image_id_problem
from fashion_core.schema import JD, JD_CATEGORY, Schema

EXPECTED = "a JD style list (rows 'id,url,l1,...,l13' with 0/1 labels)"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def jd_image_name(image_id: str) -> str | None:
    """The file name the downloader gives an id (``<id>.jpg``); None for an unsafe id.

    The rule is the downloader's own, so every id it can save is one import can find.
    """
    return None if image_id_problem(image_id) else f"{image_id}.jpg"


def read_jd(
    files: Sequence[Path], *, schema: Schema = JD, images_root: Path | None = None
) -> ParsedLabels:
    """Read JD lists; each row's image is ``<id>.jpg`` (or .jpeg/.png/.webp) under the root.

    Args:
        files: One or more list files. A first line starting with ``id,url`` is a header.
        schema: A one-category multi-label schema whose values name the 13 classes.
        images_root: Where downloaded images are; used to find an id's file extension.

    Raises:
        LabelFileError: if a file is empty, binary or has no readable row.
    """
    if not files:
        raise LabelFileError("<none>", "no list file given")
    parsed = ParsedLabels(schema)
    for path in files:
        _read_one(Path(path), parsed, images_root)
    return dedupe(parsed)


def _read_one(path: Path, parsed: ParsedLabels, images_root: Path | None) -> None:
    lines = read_label_lines(path, EXPECTED)
    category = parsed.schema.category(JD_CATEGORY)
    n = len(category.values)
    source = str(path)
    start_rows, start_rejected = len(parsed.rows), len(parsed.rejected)
    for item in lines:
        line, fields = item.line, item.fields
        if item.problem is not None:
            parsed.reject(source, line, item.problem)
            continue
        if item is lines[0] and [f.lower() for f in fields[:2]] == ["id", "url"]:
            continue
        if len(fields) != n + 2:
            parsed.reject(source, line, f"expected {n + 2} fields (id,url,l1..l{n}), found {len(fields)}")
            continue
        image_id, url, flags = fields[0], fields[1], fields[2:]
        name = jd_image_name(image_id)
        if name is None:
            parsed.reject(source, line, image_id_problem(image_id) or "unsafe id")
            continue
        bad = [f for f in flags if f not in ("0", "1")]
        if bad:
            parsed.reject(source, line, f"labels must be 0 or 1, found {bad[0]!r}")
            continue
        value = "|".join(v for v, f in zip(category.values, flags) if f == "1")
        image = _existing_name(images_root, image_id) or name
        parsed.rows.append(LabelRow(image, JD_CATEGORY, value, "", source, line, image_id, url or None))
    if len(parsed.rows) == start_rows:
        raise whole_file_error(path, EXPECTED, parsed.rejected[start_rejected:])


def _existing_name(images_root: Path | None, image_id: str) -> str | None:
    if images_root is None:
        return None
    for suffix in IMAGE_SUFFIXES:
        if (images_root / f"{image_id}{suffix}").is_file():
            return f"{image_id}{suffix}"
    return None
