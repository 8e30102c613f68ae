"""Take the current labels out: FashionAI ``label.csv``, the JD list, the generic CSV, JSON with provenance.

Each format is the one its importer in ``fashion_core/ingest/`` reads, so export then import
into a new dataset gives the same current labels (through the same label map, if any).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from fashion_core.access import require_acting
from fashion_core.csv_cells import SafeWriter
from fashion_core.errors import ExportError
from fashion_core.labels.view import ACTIVE, LabelSource, label_view
from fashion_core.paths import safe_part
from fashion_core.schema import Kind, Schema, encode_code, split_value
from fashion_core.store import LabelStore, utc_now

LABEL_FORMATS = ("fashionai", "jd", "csv", "json")
SUFFIXES = {"fashionai": ".csv", "jd": ".csv", "csv": ".csv", "json": ".json"}
JSON_FORMAT = 1  # version of the JSON layout (``fashion_core/ingest/json_labels.py`` reads it)


@dataclass(frozen=True)
class LabelExport:
    """One rendered export.

    Attributes:
        dataset: The dataset exported.
        fmt: One of ``LABEL_FORMATS``.
        map_name: The label map read through (None: no map); ``map_version`` its version.
        schema: The schema of the exported values (after the map).
        text: The file's content.
        labels: How many labels (image, category) it holds.
    """

    dataset: str
    fmt: str
    map_name: str | None
    map_version: int | None
    schema: Schema
    text: str
    labels: int

    @property
    def file_name(self) -> str:
        """A suggested download name, e.g. ``demo-fashionai-label.csv``."""
        stem = "label" if self.fmt == "fashionai" else "labels"
        return f"{safe_part(self.dataset)}-{self.fmt}-{stem}{SUFFIXES[self.fmt]}"

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "format": self.fmt, "map": self.map_name,
                "map_version": self.map_version, "labels": self.labels}


def render_labels(store: LabelStore, dataset: str, fmt: str, *,
                  source: LabelSource = ACTIVE) -> LabelExport:
    """The current labels of a dataset (through a label map) as the text of one format.

    Args:
        store: The label store.
        dataset: Dataset name.
        fmt: ``fashionai`` (rows ``path,category,code`` with y/m/n in the schema's value order),
            ``jd`` (``id,url,l1..`` 0/1 flags), ``csv`` (the generic CSV: long
            ``image,category,value,maybe``, or wide 0/1 columns for one multi-label category),
            ``json`` (every label with its provenance).
        source: Which labels: ``ACTIVE`` (the dataset's active map), ``NO_MAP`` or a named map.

    Raises:
        ExportError: Unknown format, or a schema the format cannot express (it says which to use).
    """
    require_acting("export")
    if fmt not in LABEL_FORMATS:
        raise ExportError(f"`format` must be one of {list(LABEL_FORMATS)}. Received: format={fmt!r}")
    view = label_view(store, dataset, source)
    labels = view.labels.sort_values(["image_id", "category"], kind="stable").reset_index(drop=True)
    if fmt == "fashionai":
        text = _fashionai(view.schema, labels)
    elif fmt == "jd":
        text = _jd(view.schema, labels, store.images(dataset))
    elif fmt == "csv":
        text = _generic_csv(view.schema, labels)
    else:
        text = _json(store, dataset, view.schema, labels, view.map_name, view.map_version)
    return LabelExport(dataset, fmt, view.map_name, view.map_version, view.schema, text, len(labels))


def export_labels(store: LabelStore, dataset: str, fmt: str, out: Path, *,
                  source: LabelSource = ACTIVE, overwrite: bool = False) -> LabelExport:
    """Write ``render_labels`` output to ``out`` atomically (temp file, then rename).

    Raises:
        ExportError: ``out`` exists (without ``overwrite``), its folder is missing, or see
            ``render_labels``.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists; choose another --out or remove it first.")
    if not out.parent.is_dir():
        raise ExportError(f"Folder {out.parent} does not exist; create it or choose another --out.")
    export = render_labels(store, dataset, fmt, source=source)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(export.text)
    os.replace(tmp, out)
    return export


# -- the formats ------------------------------------------------------------------------------------


def _writer() -> tuple[io.StringIO, Any]:
    buffer = io.StringIO()
    return buffer, SafeWriter(buffer, lineterminator="\n")  # labels come from data: no formulas


def _fashionai(schema: Schema, labels: pd.DataFrame) -> str:
    multi = [c.name for c in schema.categories if c.kind is Kind.MULTI]
    if multi:
        raise ExportError(f"FashionAI label.csv holds single-choice categories only; {multi} are multi-label:"
                          " export them as jd, csv or json.")
    buffer, out = _writer()
    for row in labels.itertuples(index=False):
        cat = schema.category(row.category)
        maybe = [m for m in split_value(row.maybe) if m != row.value]
        out.writerow([row.path, row.category, encode_code(cat, row.value, maybe)])
    return buffer.getvalue()


def _jd(schema: Schema, labels: pd.DataFrame, images: pd.DataFrame) -> str:
    if len(schema.categories) != 1 or schema.categories[0].kind is not Kind.MULTI:
        raise ExportError(f"The JD list holds one multi-label category; schema {schema.name!r} has"
                          f" {schema.category_names}: export it as fashionai, csv or json.")
    cat = schema.categories[0]
    facts = images.set_index("image_id")
    buffer, out = _writer()
    out.writerow(["id", "url", *cat.values])
    for row in labels.itertuples(index=False):
        external, url = facts.at[row.image_id, "external_id"], facts.at[row.image_id, "url"]
        out.writerow([_jd_id(row.path, external), url if isinstance(url, str) else "",
                      *(int(v in split_value(row.value)) for v in cat.values)])
    return buffer.getvalue()


def _jd_id(path: str, external_id: Any) -> str:
    """The id the JD importer turns back into this image's file (``<id>.<ext>`` at the images root)."""
    if isinstance(external_id, str) and external_id:
        return external_id
    pure = PurePosixPath(path)
    if len(pure.parts) != 1:
        raise ExportError(f"Image {path!r} is in a sub-folder: a JD id names a file at the images root."
                          " Export this dataset as csv or json instead.")
    return pure.stem


def _generic_csv(schema: Schema, labels: pd.DataFrame) -> str:
    kinds = {c.kind for c in schema.categories}
    buffer, out = _writer()
    if kinds == {Kind.MULTI}:
        if len(schema.categories) != 1:
            raise ExportError(f"The generic CSV holds one multi-label category as 0/1 columns; {schema.category_names}"
                              " are several: export json instead.")
        cat = schema.categories[0]
        out.writerow(["image", *cat.values])
        for row in labels.itertuples(index=False):
            out.writerow([row.path, *(int(v in split_value(row.value)) for v in cat.values)])
        return buffer.getvalue()
    if Kind.MULTI in kinds:
        raise ExportError("The generic CSV holds either single-choice or one multi-label category, not both:"
                          " export json instead.")
    out.writerow(["image", "category", "value", "maybe"])
    for row in labels.itertuples(index=False):
        out.writerow([row.path, row.category, row.value, row.maybe or ""])
    return buffer.getvalue()


def _json(store: LabelStore, dataset: str, schema: Schema, labels: pd.DataFrame, map_name: str | None,
          map_version: int | None) -> str:
    latest = _latest_edits(store, dataset)
    facts = store.images(dataset).set_index("image_id")
    images: dict[int, dict[str, Any]] = {}
    for row in labels.itertuples(index=False):
        image = images.get(row.image_id)
        if image is None:
            external, url = facts.at[row.image_id, "external_id"], facts.at[row.image_id, "url"]
            image = images[row.image_id] = {"image_id": int(row.image_id), "path": row.path,
                                            "external_id": external if isinstance(external, str) else None,
                                            "url": url if isinstance(url, str) else None, "labels": {}}
        image["labels"][row.category] = {"value": row.value, "maybe": row.maybe or "",
                                         **_provenance(bool(row.edited), latest.get((row.image_id, row.category)))}
    doc = {"format": JSON_FORMAT, "dataset": dataset, "map": map_name, "map_version": map_version,
           "exported_at": utc_now(), "schema": schema.to_dict(), "images": list(images.values())}
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def _latest_edits(store: LabelStore, dataset: str) -> dict[tuple[int, str], dict[str, Any]]:
    log = store.edit_history(dataset)  # newest first: the first row of a cell is its latest edit
    latest = log.drop_duplicates(["image_id", "category"], keep="first")
    return {(int(r.image_id), r.category): {"by": r.annotator, "at": r.created_at, "edit_id": int(r.id),
                                            "accepted_suggestion": bool(r.accepted_suggestion)}
            for r in latest.itertuples(index=False)}


def _provenance(edited: bool, edit: dict[str, Any] | None) -> dict[str, Any]:
    if edited and edit is not None:
        return {"source": "edited", **edit}
    return {"source": "original", "by": None, "at": None}
