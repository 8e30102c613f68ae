"""Gallery queries: a dataset's images filtered by label, a page at a time, kept current cheaply."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from fashion_core.errors import FashionCoreError, StoreError, UnknownDatasetError
from fashion_core.schema import Category, Kind, Schema, normalize_value, split_value
from fashion_core.store import EditRecord, LabelStore

MAYBE_CHOICES = ("any", "with", "without")
EDITED_CHOICES = ("any", "edited", "unedited")
NO_VALUE = "(no value)"  # multi-label filter choice: images with no positive value
DEFAULT_PAGE_SIZE = 60
MAX_PAGE_SIZE = 500
ROW_COLUMNS = ["image_id", "path", "category", "value", "maybe", "edited", "caption"]
RELABEL_MODES = ("set", "add", "remove")

ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class GalleryFilters:
    """What the gallery shows.

    Attributes:
        category: Only images labelled in this category (None: every image).
        values: With a category: only images whose value is one of these (any positive, for
            multi-label; ``NO_VALUE`` matches an empty multi-label). Empty: any value.
        maybe: ``"with"`` / ``"without"`` maybe marks (in the category, else in any), or ``"any"``.
        edited: ``"edited"`` / ``"unedited"`` (has an edit-log row in the category, else in
            any category), or ``"any"``.
        search: An image id, or text found in the image path (case-insensitive).
    """

    category: str | None = None
    values: tuple[str, ...] = ()
    maybe: str = "any"
    edited: str = "any"
    search: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "search", (self.search or "").strip())
        if self.maybe not in MAYBE_CHOICES:
            raise ValueError(f"`maybe` must be one of {MAYBE_CHOICES}. Received: maybe={self.maybe!r}")
        if self.edited not in EDITED_CHOICES:
            raise ValueError(f"`edited` must be one of {EDITED_CHOICES}. Received: edited={self.edited!r}")
        if self.values and not self.category:
            raise ValueError(f"`values` needs a `category`. Received: values={self.values!r}, category=None")


@dataclass(frozen=True)
class GalleryIndex:
    """One dataset's current labels arranged for fast filtering. Read-only: sessions share it.

    Attributes:
        dataset: Dataset name.
        dataset_id: Its id (a dataset re-imported under the same name gets a new one).
        schema: The dataset's schema (stored labels, no label map: these are what you edit).
        version: The ``labels_version`` this index reflects.
        images: ``image_id`` (ascending), ``path``: every image of the dataset.
        labels: ``image_id``, ``category`` (categorical, schema order), ``value``, ``maybe``,
            ``edited``: current labels (excluded cells left out), sorted by image and category.
        touched: Sorted ids of images with any edit-log row.
    """

    dataset: str
    dataset_id: int
    schema: Schema
    version: tuple
    images: pd.DataFrame
    labels: pd.DataFrame
    touched: np.ndarray

    @property
    def last_edit_id(self) -> int:
        return int(self.version[1])


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


def build_gallery_index(store: LabelStore, dataset: str) -> GalleryIndex:
    """Read a dataset's current labels once and arrange them for ``query_gallery``."""
    info = store.dataset(dataset)
    # Version first: an edit landing while we read shows up as a newer version next time,
    # and re-applying it then is harmless.
    version = store.labels_version(dataset)
    labels = store.current_labels(dataset)
    edits = store.edit_history(dataset)
    images = labels[["image_id", "path"]].drop_duplicates("image_id")
    touched = np.unique(edits["image_id"].to_numpy(dtype=np.int64))
    missing = np.setdiff1d(touched, images["image_id"].to_numpy(dtype=np.int64))
    if len(missing):  # every label of these images is excluded; they are still images
        extra = [(int(i), store.image(dataset, int(i))["path"]) for i in missing]
        images = pd.concat([images, pd.DataFrame(extra, columns=["image_id", "path"])])
    if len(images) != store.counts(dataset)["images"]:  # images without any label at all
        images = store.images(dataset)[["image_id", "path"]]
    return GalleryIndex(
        dataset=dataset,
        dataset_id=info.id,
        schema=info.schema,
        version=tuple(version),
        images=images.sort_values("image_id", ignore_index=True),
        labels=_arrange_labels(info.schema, labels),
        touched=touched,
    )


def _arrange_labels(schema: Schema, labels: pd.DataFrame) -> pd.DataFrame:
    out = labels[["image_id", "category", "value", "maybe", "edited"]].copy()
    out["image_id"] = out["image_id"].astype("int64")
    out["category"] = pd.Categorical(out["category"], categories=schema.category_names)
    out["edited"] = out["edited"].astype(bool)
    return out.sort_values(["image_id", "category"], ignore_index=True)


def refresh_gallery_index(index: GalleryIndex, store: LabelStore) -> GalleryIndex:
    """Bring an index up to date: the same one if nothing changed, patched with the new
    edits if only edits were added, else rebuilt.

    Patching costs a few milliseconds where a rebuild reads every label again, which is
    what keeps relabeling responsive on 200,000 images.
    """
    info = store.dataset(index.dataset)
    version = tuple(store.labels_version(index.dataset))
    if version == index.version and info.id == index.dataset_id:
        return index
    same_originals = info.id == index.dataset_id and version[0] == index.version[0]
    if not same_originals or version[1] < index.last_edit_id:
        return build_gallery_index(store, index.dataset)
    if version[1] == index.last_edit_id:  # only label maps changed: they do not touch the gallery
        return replace(index, version=version)
    edits = store.edit_history(index.dataset)
    patched = apply_edits(index, edits[edits["id"] > index.last_edit_id], version)
    return build_gallery_index(store, index.dataset) if patched is None else patched


def apply_edits(index: GalleryIndex, edits: pd.DataFrame, version: tuple) -> GalleryIndex | None:
    """Apply new edit-log rows to an index, as ``LabelStore.current_labels`` would.

    Args:
        index: The index to start from (not changed).
        edits: Edit-log rows newer than the index (columns of ``edit_history``), any order.
        version: The labels version after these edits.

    Returns:
        The patched index, or None when an edit gives a value to a cell the index has no row
        for (a new cell, or one restored after an exclusion): its maybe marks live only in
        the store, so the caller rebuilds.
    """
    latest = edits.sort_values("id").drop_duplicates(["image_id", "category"], keep="last")
    labels = index.labels
    names = index.schema.category_names
    n_cat = len(names)
    codes = np.array([names.index(c) for c in latest["category"]], dtype=np.int64)
    wanted = latest["image_id"].to_numpy(dtype=np.int64) * n_cat + codes
    keys = labels["image_id"].to_numpy(dtype=np.int64) * n_cat + labels["category"].cat.codes.to_numpy()
    if len(keys):
        pos = np.searchsorted(keys, wanted).clip(0, len(keys) - 1)
        found = keys[pos] == wanted
    else:
        pos, found = np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    new_values = latest["new_value"].to_numpy(dtype=object)
    has_value = pd.notna(new_values)
    if (has_value & ~found).any():
        return None
    labels = labels.copy()
    set_pos = pos[has_value & found]
    labels.iloc[set_pos, labels.columns.get_loc("value")] = new_values[has_value & found]
    labels.iloc[set_pos, labels.columns.get_loc("edited")] = True
    drop_pos = pos[~has_value & found]
    labels = labels.drop(index=labels.index[drop_pos]).reset_index(drop=True)
    touched = np.union1d(index.touched, latest["image_id"].to_numpy(dtype=np.int64))
    return replace(index, version=tuple(version), labels=labels, touched=touched)


class GalleryIndexCache:
    """The current gallery index of each dataset, shared by every session of a process.

    Thread-safe: one lock, so two sessions asking at once wait for one build, not two.
    """

    def __init__(self, store: LabelStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._indexes: dict[str, GalleryIndex] = {}

    def get(self, dataset: str) -> GalleryIndex:
        """The index of ``dataset`` as of now (built, patched or reused)."""
        with self._lock:
            current = self._indexes.get(dataset)
            try:
                if current is None:
                    fresh = build_gallery_index(self._store, dataset)
                else:
                    fresh = refresh_gallery_index(current, self._store)
            except UnknownDatasetError:
                self._indexes.pop(dataset, None)
                raise
            self._indexes[dataset] = fresh
            return fresh


def value_choices(category: Category) -> list[str]:
    """The values the gallery can filter a category by (plus ``NO_VALUE`` for multi-label)."""
    return list(category.values) + ([NO_VALUE] if category.kind is Kind.MULTI else [])


def display_value(category: Category, value: str | None) -> str:
    """A stored label as people read it: ``a, b`` for multi-label, ``(no value)`` for none."""
    if value is None:
        return "(excluded)"
    if category.kind is Kind.MULTI:
        return ", ".join(split_value(value)) or NO_VALUE
    return value


def short_category(name: str) -> str:
    """``sleeve_length_labels`` -> ``sleeve length``: for captions where space is short."""
    return name.removesuffix("_labels").replace("_", " ")


def query_gallery(
    index: GalleryIndex, filters: GalleryFilters, *, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
) -> GalleryPage:
    """The images matching ``filters``, ordered by image id, one page of them.

    Args:
        index: From ``build_gallery_index`` / ``GalleryIndexCache``.
        filters: What to show.
        page: 1-based page number; clamped to the pages there are.
        page_size: Images per page, 1 to ``MAX_PAGE_SIZE``.

    Raises:
        SchemaError: if the filter names a category or value the dataset does not have.
    """
    if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise ValueError(f"`page_size` must be between 1 and {MAX_PAGE_SIZE}. Received: page_size={page_size}")
    ids = matching_ids(index, filters)
    total = len(ids)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, int(page)), pages)
    chosen = ids[(page - 1) * page_size : page * page_size]
    return GalleryPage(_page_rows(index, filters.category, chosen), total, page, int(page_size))


def matching_ids(index: GalleryIndex, filters: GalleryFilters) -> np.ndarray:
    """Sorted ids of all images matching ``filters``."""
    if filters.category:
        cat = index.schema.category(filters.category)  # raises SchemaError naming the known ones
        for v in filters.values:
            if v != NO_VALUE or cat.kind is not Kind.MULTI:
                cat.index(v)
        ids = _category_ids(index, cat, filters)
    else:
        ids = _image_ids(index, filters)
    if filters.search:
        ids = np.intersect1d(ids, _search_ids(index, filters.search), assume_unique=True)
    return ids


def _category_ids(index: GalleryIndex, cat: Category, filters: GalleryFilters) -> np.ndarray:
    rows = index.labels[index.labels["category"] == cat.name]
    mask = np.ones(len(rows), dtype=bool)
    if filters.values:
        mask &= _value_mask(rows["value"], cat, filters.values)
    if filters.maybe != "any":
        has_maybe = (rows["maybe"] != "").to_numpy()
        mask &= has_maybe if filters.maybe == "with" else ~has_maybe
    if filters.edited != "any":
        edited = rows["edited"].to_numpy(dtype=bool)
        mask &= edited if filters.edited == "edited" else ~edited
    return rows["image_id"].to_numpy(dtype=np.int64)[mask]  # sorted: labels are sorted by image


def _value_mask(values: pd.Series, cat: Category, chosen: tuple[str, ...]) -> np.ndarray:
    if cat.kind is Kind.SINGLE:
        return values.isin(chosen).to_numpy()
    mask = np.zeros(len(values), dtype=bool)
    wrapped = "|" + values + "|"  # so "style_1" does not match "style_10"
    for v in chosen:
        mask |= (values == "").to_numpy() if v == NO_VALUE else wrapped.str.contains(f"|{v}|", regex=False).to_numpy()
    return mask


def _image_ids(index: GalleryIndex, filters: GalleryFilters) -> np.ndarray:
    ids = index.images["image_id"].to_numpy(dtype=np.int64)
    mask = np.ones(len(ids), dtype=bool)
    if filters.maybe != "any":
        with_maybe = index.labels.loc[index.labels["maybe"] != "", "image_id"].to_numpy(dtype=np.int64)
        has = np.isin(ids, with_maybe)
        mask &= has if filters.maybe == "with" else ~has
    if filters.edited != "any":
        has = np.isin(ids, index.touched)
        mask &= has if filters.edited == "edited" else ~has
    return ids[mask]


def _search_ids(index: GalleryIndex, text: str) -> np.ndarray:
    images = index.images
    mask = images["path"].str.contains(text, case=False, regex=False).to_numpy(dtype=bool)
    key = text.lstrip("#")
    if key.isdigit():
        mask = mask | (images["image_id"] == int(key)).to_numpy()
    return images["image_id"].to_numpy(dtype=np.int64)[mask]


def _page_rows(index: GalleryIndex, category: str | None, ids: np.ndarray) -> pd.DataFrame:
    paths = index.images.set_index("image_id").loc[ids, "path"] if len(ids) else pd.Series(dtype=str)
    labels = index.labels[index.labels["image_id"].isin(ids)]
    if category:
        labels = labels[labels["category"] == category]
    by_image = {int(i): grp for i, grp in labels.groupby("image_id", sort=False)}
    rows = [_row(index.schema, int(i), str(paths.loc[i]), category, by_image.get(int(i))) for i in ids]
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def _row(schema: Schema, image_id: int, path: str, category: str | None, labels: pd.DataFrame | None) -> dict:
    parts, maybes, edited = [], [], False
    for rec in ([] if labels is None else labels.itertuples(index=False)):
        cat = schema.category(str(rec.category))
        shown = display_value(cat, rec.value)
        parts.append(shown if category else f"{short_category(cat.name)}: {shown}")
        maybes += split_value(rec.maybe)
        edited |= bool(rec.edited)
    value = "; ".join(parts) or "(no label)"
    caption = f"#{image_id} · {value}" + (" · edited" if edited else "") + (" · maybe" if maybes else "")
    return {
        "image_id": image_id, "path": path, "category": category or "", "value": value,
        "maybe": ", ".join(maybes), "edited": edited, "caption": caption,
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
        rows.append({
            "category": cat.name, "kind": cat.kind.value,
            "original": None if pd.isna(original) else original,
            "current": None if pd.isna(current) else current,
            "maybe": ", ".join(split_value(mine["maybe"].iloc[0])) if len(mine) else "",
            "edited": latest is not None, "latest_edit_id": latest,
        })
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
        raise ValueError(f"mode={mode!r} needs a multi-label category and values; {category!r} is {cat.kind.value}")
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
