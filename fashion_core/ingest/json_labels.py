"""Reader for the studio's own JSON label export (``fashion_core/labels/export_labels.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from fashion_core.errors import LabelFileError, SchemaError
from fashion_core.ingest.table import LabelRow, ParsedLabels, dedupe, read_label_text, safe_relative_path
from fashion_core.schema import Schema, normalize_value, split_value

EXPECTED = "a JSON label export ({'format': 1, 'schema': {...}, 'images': [{'path', 'labels': {...}}]})"


def read_json_labels(path: Path, *, schema: Schema | None = None) -> ParsedLabels:
    """Read a JSON label export; its own schema is used unless ``schema`` is given.

    Rows are numbered by their image's position in ``images`` (1-based) in rejections.

    Raises:
        LabelFileError: Not JSON, no ``images`` list or schema, or no readable label.
    """
    path = Path(path)
    try:
        doc = json.loads(read_label_text(path, EXPECTED))
        schema = schema or Schema.from_dict(doc["schema"])
        images = doc["images"]
    except (json.JSONDecodeError, KeyError, TypeError, SchemaError) as exc:
        raise LabelFileError(str(path), f"not {EXPECTED}: {exc}") from None
    if not isinstance(images, list):
        raise LabelFileError(str(path), f"'images' must be a list; expected {EXPECTED}")
    parsed = ParsedLabels(schema)
    for n, image in enumerate(images, start=1):
        _read_image(image, n, str(path), parsed)
    if not parsed.rows:
        first = parsed.rejected[0].reason if parsed.rejected else "no labels"
        raise LabelFileError(str(path), f"no label could be read (first problem: {first})")
    return dedupe(parsed)


def _read_image(image: object, n: int, source: str, parsed: ParsedLabels) -> None:
    if not isinstance(image, dict) or not isinstance(image.get("labels"), dict):
        parsed.reject(source, n, "an image entry needs 'path' and a 'labels' object")
        return
    rel = safe_relative_path(str(image.get("path") or ""))
    if rel is None:
        parsed.reject(source, n, f"image path {image.get('path')!r} is outside the images root")
        return
    for category, label in image["labels"].items():
        try:
            cat = parsed.schema.category(category)
            value = normalize_value(cat, str(label["value"]))
            maybe_names = split_value(label.get("maybe") or "")
            for name in maybe_names:
                cat.index(name)  # a maybe mark must name a value of the category too
            maybe = "|".join(maybe_names)
        except (SchemaError, KeyError, TypeError) as exc:
            parsed.reject(source, n, f"{rel} {category}: {exc}")
            continue
        parsed.rows.append(LabelRow(rel, category, value, maybe, source, n, image.get("external_id"),
                                    image.get("url")))
