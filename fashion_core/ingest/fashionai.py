"""Reader for FashionAI ``label.csv`` files: ``image_path,attr_key,code`` rows, no header."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fashion_core.errors import LabelFileError
from fashion_core.ingest.table import (
    LabelRow,
    ParsedLabels,
    dedupe,
    read_label_lines,
    safe_relative_path,
    whole_file_error,
)
from fashion_core.schema import FASHIONAI, Category, Schema, encode_code  # noqa: F401 - encode_code re-exported

EXPECTED = "a FashionAI label.csv (rows 'image_path,attr_key,code' such as 'Images/x/1.jpg,sleeve_length_labels,nnynnnnnn')"


def read_fashionai(files: Sequence[Path], *, schema: Schema = FASHIONAI) -> ParsedLabels:
    """Read and combine FashionAI label files (e.g. round 1 and round 2).

    Args:
        files: One or more ``label.csv`` files; later duplicates of an (image, category)
            are reported and the first kept.
        schema: The categories and values that ``attr_key`` and ``code`` refer to.

    Returns:
        The accepted rows plus every rejected row with file, line and reason.

    Raises:
        LabelFileError: if a file is empty, binary, not text, or has no readable row.
    """
    if not files:
        raise LabelFileError("<none>", "no label file given")
    parsed = ParsedLabels(schema)
    for path in files:
        _read_one(Path(path), parsed)
    return dedupe(parsed)


def _read_one(path: Path, parsed: ParsedLabels) -> None:
    lines = read_label_lines(path, EXPECTED)
    source = str(path)
    start_rows, start_rejected = len(parsed.rows), len(parsed.rejected)
    categories = {c.name: c for c in parsed.schema.categories}
    for item in lines:
        line = item.line
        row_or_reason = item.problem or _parse_row(item.fields, categories, source, line)
        if isinstance(row_or_reason, str):
            parsed.reject(source, line, row_or_reason)
        else:
            parsed.rows.append(row_or_reason)
    if len(parsed.rows) == start_rows:
        raise whole_file_error(path, EXPECTED, parsed.rejected[start_rejected:])


def _parse_row(
    fields: list[str], categories: dict[str, Category], source: str, line: int
) -> LabelRow | str:
    """A LabelRow, or the reason the row is rejected."""
    if len(fields) != 3:
        return f"expected 3 fields (image_path,attr_key,code), found {len(fields)}"
    raw_path, attr_key, code = (f.strip() for f in fields)
    category = categories.get(attr_key)
    if category is None:
        return f"unknown attr_key {attr_key!r}"
    image = safe_relative_path(raw_path)
    if image is None:
        return f"image path {raw_path!r} is outside the images root"
    code = code.lower()
    if len(code) != len(category.values):
        return (
            f"code {code!r} has {len(code)} marks but {attr_key} has {len(category.values)} values"
        )
    if set(code) - set("ynm"):
        return f"code {code!r} may only contain y, n and m"
    if code.count("y") == 0:
        return f"code {code!r} has no 'y'"
    if code.count("y") > 1:
        return f"code {code!r} has more than one 'y' in single-choice {attr_key}"
    value = category.values[code.index("y")]
    maybe = "|".join(v for v, mark in zip(category.values, code) if mark == "m")
    return LabelRow(image, attr_key, value, maybe, source, line)
