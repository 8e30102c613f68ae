"""Gallery queries: a dataset's images filtered by current label, a page at a time, and bulk relabel."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fashion_core.errors import FashionCoreError, StoreError
from fashion_core.schema import Category, Kind, Schema, normalize_value, split_value
from fashion_core.store import EditRecord, LabelStore
from fashion_core.store.gallery import (  # the filter model lives with its SQL; pages import it from here
    EDITED_CHOICES,  # noqa: F401
    MAYBE_CHOICES,  # noqa: F401
    NO_LABEL,
    NO_VALUE,
    GalleryFilters,
)

DEFAULT_PAGE_SIZE = 60
MAX_PAGE_SIZE = 500
ROW_COLUMNS = ["image_id", "path", "category", "value", "maybe", "edited", "caption"]
RELABEL_MODES = ("set", "add", "remove")

ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class GalleryPage:
    """One page of the gallery: its rows (columns ``ROW_COLUMNS``) and how many images match."""

    rows: pd.DataFrame
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def value_choices(category: Category) -> list[str]:
    """The values the gallery can filter a category by: ``NO_LABEL`` (images with no label in it
    yet), the category's values, and ``NO_VALUE`` for multi-label."""
    return [NO_LABEL, *category.values] + ([NO_VALUE] if category.kind is Kind.MULTI else [])


def step_ids(ids: np.ndarray, image_id: int) -> tuple[int | None, int | None]:
    """The images before and after ``image_id`` in the ascending ids a filter matches.

    The image itself need not match any more (it was just relabelled out of the filter):
    Previous / Next then go to its neighbours by id, so stepping keeps working.
    """
    ids = np.asarray(ids, dtype=np.int64)
    left = int(np.searchsorted(ids, int(image_id), side="left"))
    right = int(np.searchsorted(ids, int(image_id), side="right"))
    return (int(ids[left - 1]) if left > 0 else None, int(ids[right]) if right < len(ids) else None)


def display_value(category: Category, value: str | None, missing: str = "(no label)") -> str:
    """A stored label as people read it: ``a, b`` for multi-label, ``(no value)`` for an empty
    one, ``missing`` for None (no label, or excluded: say which when you know)."""
    if value is None:
        return missing
    if category.kind is Kind.MULTI:
        return ", ".join(split_value(value)) or NO_VALUE
    return value


def short_category(name: str) -> str:
    """``sleeve_length_labels`` -> ``sleeve length``: for captions where space is short."""
    return name.removesuffix("_labels").replace("_", " ")


def query_gallery(
    store: LabelStore,
    dataset: str,
    filters: GalleryFilters,
    *,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> GalleryPage:
    """The images matching ``filters``, ordered by image id, one page of them.

    Args:
        store: The label store.
        dataset: Dataset name.
        filters: What to show.
        page: 1-based page number; clamped to the pages there are.
        page_size: Images per page, 1 to ``MAX_PAGE_SIZE``.

    Raises:
        SchemaError: if the filter names a category or value the dataset does not have.
    """
    ids = matching_ids(store, dataset, filters)
    return slice_page(store, dataset, ids, filters.category, page=page, page_size=page_size)


def slice_page(
    store: LabelStore, dataset: str, ids: np.ndarray, category: str | None, *, page: int, page_size: int
) -> GalleryPage:
    """One page of an id list from ``matching_ids``, with paths, labels and captions."""
    if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise ValueError(
            f"`page_size` must be between 1 and {MAX_PAGE_SIZE}. Received: page_size={page_size}"
        )
    total = len(ids)
    page = min(max(1, int(page)), max(1, math.ceil(total / page_size)))
    chosen = [int(i) for i in ids[(page - 1) * page_size : page * page_size]]
    return GalleryPage(page_rows(store, dataset, chosen, category), total, page, int(page_size))


def matching_ids(store: LabelStore, dataset: str, filters: GalleryFilters) -> np.ndarray:
    """Ids of all images of ``dataset`` matching ``filters``, ascending (one SQL query).

    Raises:
        SchemaError: if the filter names a category or value the dataset does not have.
    """
    info = store.dataset(dataset)
    category = info.schema.category(filters.category) if filters.category else None  # SchemaError naming the known ones
    return store.gallery_ids(info.id, filters, category)


def current_labels_of(store: LabelStore, dataset: str, image_ids: Sequence[int]) -> pd.DataFrame:
    """The labels in force of some images: ``image_id, category, value, maybe, edited``.

    The same rows ``LabelStore.current_labels`` has for them (excluded cells left out),
    without reading the rest of the dataset.
    """
    rows = store.gallery_labels(store.dataset(dataset).id, image_ids)
    frame = pd.DataFrame(rows, columns=["image_id", "category", "value", "maybe", "edited"])
    return frame.astype({"image_id": "int64", "edited": bool})


def page_rows(
    store: LabelStore, dataset: str, image_ids: Sequence[int], category: str | None
) -> pd.DataFrame:
    """Gallery rows (``ROW_COLUMNS``) of some images, in the given order.

    Args:
        store: The label store.
        dataset: Dataset name.
        image_ids: The images of the page.
        category: The category the gallery is filtered by (its value is shown), or None
            (every label of the image is shown).
    """
    info = store.dataset(dataset)
    ids = [int(i) for i in image_ids]
    paths = store.gallery_paths(info.id, ids)
    by_image: dict[int, list[tuple]] = {}
    for row in store.gallery_labels(info.id, ids):
        if not category or row[1] == category:
            by_image.setdefault(int(row[0]), []).append(row)
    rows = [_row(info.schema, i, paths.get(i, ""), category, by_image.get(i, [])) for i in ids]
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def _row(schema: Schema, image_id: int, path: str, category: str | None, labels: list[tuple]) -> dict:
    parts, maybes, edited = [], [], False
    for _, cat_name, value, maybe, was_edited in labels:
        cat = schema.category(cat_name)
        shown = display_value(cat, value)
        parts.append(shown if category else f"{short_category(cat.name)}: {shown}")
        maybes += split_value(maybe)
        edited |= bool(was_edited)
    value = "; ".join(parts) or "(no label)"
    caption = f"#{image_id} · {value}" + (" · edited" if edited else "") + (" · maybe" if maybes else "")
    return {
        "image_id": image_id,
        "path": path,
        "category": category or "",
        "value": value,
        "maybe": ", ".join(maybes),
        "edited": edited,
        "caption": caption,
    }


def image_labels(schema: Schema, labels: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """One image's label in every category: original, current, maybe marks and latest edit.

    Args:
        schema: The dataset's schema.
        labels: The image's current label rows (``GalleryIndex.labels`` or ``current_labels``).
        history: The image's edit log, ``LabelStore.edit_history(dataset, image_id)``.

    Returns:
        One row per category in schema order: ``category``, ``kind``, ``original`` and
        ``current`` (None: no label / excluded), ``maybe``, ``edited`` and ``latest_edit_id``
        (the edit an Undo would revert, or None). The original of an edited cell is the old
        value of its first edit: edits are append-only, so that is what import wrote.
    """
    rows = []
    for cat in schema.categories:
        cell = history[history["category"] == cat.name].sort_values("id")
        mine = labels[labels["category"] == cat.name]
        current = str(mine["value"].iloc[0]) if len(mine) else None
        if len(cell):
            original, current = cell["old_value"].iloc[0], cell["new_value"].iloc[-1]
            latest = int(cell["id"].iloc[-1])
        else:
            original, latest = current, None
        rows.append(
            {
                "category": cat.name,
                "kind": cat.kind.value,
                "original": None if pd.isna(original) else original,
                "current": None if pd.isna(current) else current,
                "maybe": ", ".join(split_value(mine["maybe"].iloc[0])) if len(mine) else "",
                "edited": latest is not None,
                "latest_edit_id": latest,
            }
        )
    columns = ["category", "kind", "original", "current", "maybe", "edited", "latest_edit_id"]
    # object columns keep None as None (a str column would turn it into NaN).
    table = pd.DataFrame(rows, columns=columns, dtype=object)
    return table.astype({"edited": bool, "latest_edit_id": "Int64"})


@dataclass
class RelabelReport:
    """The outcome of a bulk relabel or undo: edits made, images left alone, failures with why."""

    edits: list[EditRecord] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def edit_ids(self) -> list[int]:
        return [e.id for e in self.edits]


def relabel_images(
    store: LabelStore,
    dataset: str,
    image_ids: Iterable[int],
    category: str,
    value: str | Sequence[str] | None,
    *,
    annotator: str,
    mode: str = "set",
    reason: str | None = None,
    on_progress: ProgressFn | None = None,
) -> RelabelReport:
    """Relabel many images in one category: one edit-log row each, originals untouched.

    Args:
        store: The label store.
        dataset: Dataset name.
        image_ids: The images (duplicates ignored).
        category: The category to change.
        value: Single-choice: a value name. Multi-label: value names (or ``a|b``). None:
            exclude the images from the category (mode ``"set"`` only).
        annotator: Recorded with every edit.
        mode: ``"set"`` replaces the label; ``"add"`` / ``"remove"`` (multi-label only) add
            values to, or remove them from, what each image has.
        reason: Optional, recorded with every edit.
        on_progress: Called with (images done, images in all).

    Returns:
        The edits made, the images that already had the label, and the failures with why.

    Raises:
        SchemaError, ValueError, StoreError: for bad arguments, before anything is edited.
    """
    cat = store.dataset(dataset).schema.category(category)
    if mode not in RELABEL_MODES:
        raise ValueError(f"`mode` must be one of {RELABEL_MODES}. Received: mode={mode!r}")
    if mode != "set" and (cat.kind is not Kind.MULTI or value is None):
        raise ValueError(
            f"mode={mode!r} needs a multi-label category and values; {category!r} is {cat.kind.value}"
        )
    target = None if value is None else normalize_value(cat, value)
    if not (annotator or "").strip():
        raise StoreError("An edit needs an annotator name.")
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    report = RelabelReport()
    for done, image_id in enumerate(ids, start=1):
        try:
            old = store.current_value(dataset, image_id, category)
            new = _relabelled(cat, old, target, mode)
            if new == old:
                report.unchanged.append(image_id)
            else:
                edit = store.edit_label(dataset, image_id, category, new, annotator=annotator, reason=reason)
                report.edits.append(edit)
        except FashionCoreError as exc:  # one bad image must not stop the batch
            report.failed[image_id] = str(exc)
        if on_progress:
            on_progress(done, len(ids))
    return report


def _relabelled(cat: Category, old: str | None, target: str | None, mode: str) -> str | None:
    if mode == "set":
        return target
    if old is None and mode == "remove":
        return None  # nothing to remove from; leave an excluded cell excluded
    have, change = set(split_value(old)), set(split_value(target))
    return normalize_value(cat, have | change if mode == "add" else have - change)


def undo_edits(
    store: LabelStore,
    edit_ids: Iterable[int],
    *,
    annotator: str,
    reason: str | None = None,
    on_progress: ProgressFn | None = None,
) -> RelabelReport:
    """Undo several edits (newest first); one that is no longer the latest of its cell fails
    with the reason and the others go ahead."""
    ids = sorted(dict.fromkeys(int(i) for i in edit_ids), reverse=True)
    report = RelabelReport()
    for done, edit_id in enumerate(ids, start=1):
        try:
            report.edits.append(store.undo_edit(edit_id, annotator=annotator, reason=reason))
        except FashionCoreError as exc:
            report.failed[edit_id] = str(exc)
        if on_progress:
            on_progress(done, len(ids))
    return report
