"""The Label page's queues: which (image, category) cells to label next, and recording a label.

Modes: *no label yet*, *label next* (active learning over the assistant's probabilities and
cached features), *model disagrees*, *review another person's labels* and *complete the other
categories* (images labelled in one category, the model proposing the others). Every label
goes through the store's edit log with who, when and whether it accepted the suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fashion_core.analysis.active_learning import rank_queue
from fashion_core.analysis.assist import Suggestions
from fashion_core.errors import FashionCoreError
from fashion_core.schema import Kind
from fashion_core.store import EditRecord, LabelStore

MODES: dict[str, str] = {
    "no_label": "No label yet",
    "label_next": "Label next (the model is least sure)",
    "disagrees": "Model disagrees",
    "review": "Review another person's labels",
    "complete": "Complete the other categories",
}
REASON = "label page: {mode}"
MAYBE_NOTE = " (unsure)"
DEFAULT_LIMIT = 500


class QueueError(FashionCoreError, ValueError):
    """A queue cannot be built as asked (unknown mode, category that cannot be labelled here)."""


@dataclass(frozen=True)
class QueueItem:
    """One cell to label: an image in a category, its label now and the model's suggestion."""

    image_id: int
    path: str
    category: str
    current: str | None = None
    suggestion: str | None = None
    probability: float | None = None
    by: str | None = None  # for review: who set the current label


def labelable_categories(store: LabelStore, dataset: str) -> list[str]:
    """The dataset's single-choice categories (multi-label ones are labelled on the Browse page)."""
    return [c.name for c in store.dataset(dataset).schema.categories if c.kind is Kind.SINGLE]


def build_queue(store: LabelStore, dataset: str, mode: str, *, category: str | None = None,
                annotator: str = "", suggestions: Suggestions | None = None,
                features: tuple[np.ndarray, np.ndarray] | None = None, skip: set[tuple[int, str]] | None = None,
                limit: int = DEFAULT_LIMIT) -> list[QueueItem]:
    """The cells of a queue, in the order to label them.

    Args:
        store: The label store.
        dataset: Dataset name.
        mode: A key of ``MODES``.
        category: One single-choice category, or None for all of them.
        annotator: The labeller (``review`` shows labels set by anybody else).
        suggestions: The assistant's latest fit (None: no model yet; *label next*,
            *model disagrees* and *complete* then fall back to plain orders or are empty).
        features: ``(image_ids, features)`` for *label next*'s diversity.
        skip: Cells skipped this session, left out.
        limit: Queue length at most.

    Raises:
        QueueError: Unknown mode or a category that is not single-choice.
    """
    if mode not in MODES:
        raise QueueError(f"`mode` must be one of {list(MODES)}. Received: mode={mode!r}")
    cats = labelable_categories(store, dataset)
    if category is not None and category not in cats:
        raise QueueError(f"{category!r} is not a single-choice category of {dataset!r}; choose one of {cats}.")
    chosen = [category] if category else cats
    labels = store.current_labels(dataset)
    images = store.images(dataset)[["image_id", "path"]]
    if mode == "review":
        cells = _review_cells(store, dataset, labels, chosen, annotator)
    elif mode == "disagrees":
        cells = _disagree_cells(labels[labels["category"].isin(chosen)], suggestions)
    else:
        cells = _unlabelled_cells(images, labels, chosen, complete=(mode == "complete"),
                                  one_category=category is not None)
        cells = _ordered(cells, mode, suggestions, features, labels)
    skip = skip or set()
    items = []
    for row in cells.itertuples(index=False):
        if (int(row.image_id), row.category) in skip:
            continue
        items.append(_item(row, suggestions))
        if len(items) >= limit:
            break
    return items


def _item(row: tuple, suggestions: Suggestions | None) -> QueueItem:
    guess = suggestions.suggest(row.image_id, row.category) if suggestions else None
    current = getattr(row, "value", None)
    return QueueItem(int(row.image_id), row.path, row.category, current if isinstance(current, str) else None,
                     guess[0] if guess else None, round(guess[1], 4) if guess else None, getattr(row, "by", None))


def _unlabelled_cells(images: pd.DataFrame, labels: pd.DataFrame, categories: list[str], *,
                      complete: bool, one_category: bool) -> pd.DataFrame:
    """(image, category) cells without a label.

    ``complete``: only of images labelled in another category. Otherwise, over all categories,
    only of images with no label at all (a FashionAI image labelled in one category is not
    "unlabelled"); over one category, every image without a label in it.
    """
    labelled = set(zip(labels["image_id"].astype(int), labels["category"]))
    has_any = set(labels["image_id"].astype(int))
    rows = []
    for image_id, path in zip(images["image_id"].astype(int), images["path"]):
        if (complete and image_id not in has_any) or (not complete and not one_category and image_id in has_any):
            continue
        rows += [(image_id, path, c) for c in categories if (image_id, c) not in labelled]
    return pd.DataFrame(rows, columns=["image_id", "path", "category"])


def _ordered(cells: pd.DataFrame, mode: str, suggestions: Suggestions | None,
             features: tuple[np.ndarray, np.ndarray] | None, labels: pd.DataFrame) -> pd.DataFrame:
    if suggestions is None or cells.empty:
        return cells
    if mode == "complete":  # the surest proposals first: a person accepts them quickly
        probs = [(suggestions.suggest(i, c) or ("", 0.0))[1] for i, c in zip(cells["image_id"], cells["category"])]
        return cells.assign(_p=probs).sort_values("_p", ascending=False, kind="stable").drop(columns="_p")
    if mode != "label_next" or features is None:
        return cells
    parts = [_label_next(group, cat, suggestions, features, labels).assign(_turn=range(len(group)))
             for cat, group in cells.groupby("category", sort=False)]
    # Categories take turns (each one's least-sure cell, then each one's next): one after another,
    # a 500-cell queue over all categories would hold mostly the first category's cells.
    return pd.concat(parts, ignore_index=True).sort_values("_turn", kind="stable").drop(columns="_turn")


def _label_next(group: pd.DataFrame, category: str, suggestions: Suggestions,
                features: tuple[np.ndarray, np.ndarray], labels: pd.DataFrame) -> pd.DataFrame:
    """One category's unlabelled cells in active-learning order (least margin, rewarding distance from the labelled)."""
    ids, matrix = features
    if category not in suggestions.probs or not np.array_equal(ids, suggestions.image_ids):
        return group
    row_of = {int(i): r for r, i in enumerate(ids)}
    labelled = np.zeros(len(ids), bool)
    labelled[[row_of[int(i)] for i in labels.loc[labels["category"] == category, "image_id"] if int(i) in row_of]] = True
    wanted = np.zeros(len(ids), bool)
    wanted[[row_of[int(i)] for i in group["image_id"] if int(i) in row_of]] = True
    order = rank_queue(suggestions.probs[category], matrix, labelled, exclude=~wanted & ~labelled,
                       limit=min(len(group), DEFAULT_LIMIT))
    rank = {int(ids[r]): n for n, r in enumerate(order)}
    return group.assign(_r=group["image_id"].map(lambda i: rank.get(int(i), len(rank)))).sort_values(
        "_r", kind="stable").drop(columns="_r")


def _disagree_cells(labels: pd.DataFrame, suggestions: Suggestions | None) -> pd.DataFrame:
    """Labelled cells whose label is not the model's likeliest value, the surest disagreements first."""
    if suggestions is None:
        return labels.iloc[:0]
    guesses = [suggestions.suggest(i, c) for i, c in zip(labels["image_id"], labels["category"])]
    keep = [g is not None and g[0] != v for g, v in zip(guesses, labels["value"])]
    probs = [g[1] if g else 0.0 for g in guesses]
    out = labels.assign(_p=probs)[np.array(keep, dtype=bool)]
    return out.sort_values("_p", ascending=False, kind="stable").drop(columns="_p")


def _review_cells(store: LabelStore, dataset: str, labels: pd.DataFrame, categories: list[str],
                  annotator: str) -> pd.DataFrame:
    """Cells whose label in force was set by another person (latest edit not by ``annotator``), newest first."""
    log = store.edit_history(dataset)
    latest = log.drop_duplicates(["image_id", "category"], keep="first")
    latest = latest[latest["category"].isin(categories) & latest["new_value"].notna()
                    & (latest["annotator"] != annotator.strip())]
    cells = latest[["image_id", "category", "annotator"]].rename(columns={"annotator": "by"})
    return cells.merge(labels[["image_id", "path", "category", "value"]], on=["image_id", "category"])


# -- recording ----------------------------------------------------------------------------------------------


def record_label(store: LabelStore, dataset: str, item: QueueItem, value: str, *, annotator: str, mode: str,
                 unsure: bool = False) -> EditRecord:
    """Write a label from the queue through the edit log.

    The edit is marked as an accepted suggestion when ``value`` is the model's suggestion;
    ``unsure`` (the ``m`` key) is noted in the reason. ``item.current`` is the label the person
    saw: if someone changed it since, the edit is refused (``EditConflictError``) and nothing is written.
    """
    reason = REASON.format(mode=mode) + (MAYBE_NOTE if unsure else "")
    return store.edit_label(dataset, item.image_id, item.category, value, annotator=annotator, reason=reason,
                            suggestion_accepted=item.suggestion is not None and value == item.suggestion,
                            expected=item.current)


def undo_label(store: LabelStore, edit_id: int, *, annotator: str) -> EditRecord:
    """Undo a label given on the queue (only the latest change of its cell can be undone)."""
    return store.undo_edit(edit_id, annotator=annotator, reason=f"label page: undo edit {edit_id}")


def queue_item(store: LabelStore, dataset: str, image_id: int, category: str,
               suggestions: Suggestions | None) -> QueueItem:
    """One cell as the page shows it now: its path, label in force and the model's suggestion."""
    path = str(store.image(dataset, image_id)["path"])
    guess = suggestions.suggest(image_id, category) if suggestions else None
    return QueueItem(int(image_id), path, category, store.current_value(dataset, image_id, category),
                     guess[0] if guess else None, round(guess[1], 4) if guess else None)
