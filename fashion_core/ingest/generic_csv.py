"""Reader for CSV files with a header: long ``image,category,value`` or wide multi-label."""

from __future__ import annotations

from pathlib import Path

from fashion_core.errors import LabelFileError
from fashion_core.ingest.table import (
    LabelLine,
    LabelRow,
    ParsedLabels,
    dedupe,
    name_problem,
    read_label_lines,
    safe_relative_path,
    whole_file_error,
)
from fashion_core.schema import Category, Kind, Schema

EXPECTED = (
    "a CSV with a header: 'image,category,value[,maybe]' (one label per row) or"
    " 'image,<class1>,<class2>,...' with 0/1 columns (multi-label)"
)
DEFAULT_MULTI_CATEGORY = "labels"


def read_generic_csv(
    path: Path, *, schema: Schema | None = None, category: str = DEFAULT_MULTI_CATEGORY
) -> ParsedLabels:
    """Read a generic CSV; its header decides the layout.

    Args:
        path: The CSV file.
        schema: Optional schema to check values against; by default one is derived
            (values in order of first appearance for long files, columns for wide files).
        category: Category name for a wide multi-label file.

    Raises:
        LabelFileError: for an empty, binary or header-less file, or no readable row.
    """
    path = Path(path)
    lines = read_label_lines(path, EXPECTED)
    first = lines[0] if lines else LabelLine(1, [], "no line")
    if first.problem is not None:
        raise LabelFileError(
            str(path), f"the header cannot be read: {first.problem}; expected {EXPECTED}", first.line
        )
    header = [h.lower() for h in first.fields]
    if header[:3] == ["image", "category", "value"]:
        parsed = _read_long(path, lines, header, schema)
    elif header and header[0] == "image" and len(header) >= 2:
        parsed = _read_wide(path, lines, _wide_classes(path, first), schema, category)
    else:
        raise LabelFileError(
            str(path), f"unrecognised header {first.fields[:8]!r}; expected {EXPECTED}", first.line
        )
    if not parsed.rows:
        raise whole_file_error(path, EXPECTED, parsed.rejected)
    return dedupe(parsed)


def _wide_classes(path: Path, header: LabelLine) -> list[str]:
    """The wide layout's header: ``image`` then class names, each usable as a value name."""
    classes = header.fields[1:]
    for name in classes:
        problem = "class column with an empty name" if not name else name_problem("class", name)
        if problem:
            raise LabelFileError(str(path), f"header: {problem}", header.line)
    if len(set(classes)) != len(classes):
        raise LabelFileError(str(path), f"header names a class twice: {classes[:20]}", header.line)
    return header.fields


def _long_problem(image: str | None, raw_image: str, cat: str, value: str) -> str | None:
    if image is None:
        return f"image path {raw_image!r} is outside the images root"
    if not cat or not value:
        return "empty category or value"
    return name_problem("category", cat) or name_problem("value", value)


def _read_long(path: Path, lines: list[LabelLine], header: list[str], schema: Schema | None) -> ParsedLabels:
    has_maybe = "maybe" in header
    seen: dict[str, list[str]] = {}
    raw_rows = []
    rejected = []
    for item in lines[1:]:
        line, fields = item.line, item.fields
        if item.problem is not None:
            rejected.append((line, item.problem))
            continue
        if len(fields) != len(header):
            rejected.append((line, f"expected {len(header)} fields, found {len(fields)}"))
            continue
        image = safe_relative_path(fields[0])
        cat, value = fields[1], fields[2]
        problem = _long_problem(image, fields[0], cat, value)
        if problem is not None:
            rejected.append((line, problem))
            continue
        maybe = fields[header.index("maybe")] if has_maybe else ""
        values = seen.setdefault(cat, [])
        if value not in values:
            values.append(value)
        raw_rows.append((line, image, cat, value, maybe))
    if schema is None:
        schema = Schema("csv", tuple(Category(c, tuple(v), Kind.SINGLE) for c, v in seen.items()))
    parsed = ParsedLabels(schema)
    for line, reason in rejected:
        parsed.reject(str(path), line, reason)
    for line, image, cat, value, maybe in raw_rows:
        if not schema.has(cat) or value not in schema.category(cat).values:
            parsed.reject(str(path), line, f"{value!r} is not a value of category {cat!r}")
            continue
        parsed.rows.append(LabelRow(image, cat, value, maybe, str(path), line))
    return parsed


def _read_wide(
    path: Path, lines: list[LabelLine], header: list[str], schema: Schema | None, category: str
) -> ParsedLabels:
    classes = tuple(header[1:])
    if schema is None:
        schema = Schema("csv", (Category(category, classes, Kind.MULTI),))
    cat = schema.categories[0]
    parsed = ParsedLabels(schema)
    for item in lines[1:]:
        line, fields = item.line, item.fields
        if item.problem is not None:
            parsed.reject(str(path), line, item.problem)
            continue
        if len(fields) != len(header):
            parsed.reject(str(path), line, f"expected {len(header)} fields, found {len(fields)}")
            continue
        image = safe_relative_path(fields[0])
        if image is None:
            parsed.reject(str(path), line, f"image path {fields[0]!r} is outside the images root")
            continue
        bad = [f for f in fields[1:] if f not in ("0", "1")]
        if bad:
            parsed.reject(str(path), line, f"class columns must be 0 or 1, found {bad[0]!r}")
            continue
        value = "|".join(c for c, f in zip(classes, fields[1:]) if f == "1")
        parsed.rows.append(LabelRow(image, cat.name, value, "", str(path), line))
    return parsed
