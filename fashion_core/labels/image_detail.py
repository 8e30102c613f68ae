"""What the image detail view shows of one image: its labels as people read them, undo choices, edit log.

Pure functions over ``gallery.image_labels`` and ``LabelStore.edit_history`` tables, so the view
(``ui/image_detail.py``) only draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from fashion_core.labels.gallery import display_value, short_category
from fashion_core.schema import Schema

HISTORY_COLUMNS = ["id", "created_at", "annotator", "category", "old_value", "new_value", "reason", "undoes"]
NO_LABEL, EXCLUDED = "(no label)", "(excluded)"


@dataclass(frozen=True)
class UndoChoice:
    """One edit the view offers to undo: the latest edit of a category.

    Attributes:
        edit_id: The edit an undo reverts.
        category: Its category.
        back_to: The value the undo restores, as people read it.
    """

    edit_id: int
    category: str
    back_to: str

    @property
    def label(self) -> str:
        """The undo button's text."""
        return f"Undo edit #{self.edit_id} of {short_category(self.category)} (back to {self.back_to})"


def shown_labels(schema: Schema, table: pd.DataFrame) -> pd.DataFrame:
    """The categories the image has a label or an edit in, values as people read them.

    Args:
        schema: The dataset's schema.
        table: ``gallery.image_labels(...)`` of the image.

    Returns:
        Columns ``category, original, current, maybe, edited``; an edited cell without a
        current value reads ``(excluded)``, a never-labelled one ``(no label)``.
    """
    shown = table[table["original"].notna() | table["current"].notna() | table["edited"]].copy()
    cats = [schema.category(c) for c in shown["category"]]
    shown["original"] = [display_value(c, v) for c, v in zip(cats, shown["original"])]
    shown["current"] = [
        display_value(c, v, EXCLUDED if e else NO_LABEL)
        for c, v, e in zip(cats, shown["current"], shown["edited"])
    ]
    return shown[["category", "original", "current", "maybe", "edited"]]


def undo_choices(schema: Schema, table: pd.DataFrame, history: pd.DataFrame) -> list[UndoChoice]:
    """The latest edit of every edited category, with the value undoing it restores."""
    choices = []
    for row in table[table["latest_edit_id"].notna()].itertuples(index=False):
        edit_id = int(row.latest_edit_id)
        old = history.loc[history["id"] == edit_id, "old_value"].iloc[0]
        back_to = display_value(schema.category(row.category), None if pd.isna(old) else old)
        choices.append(UndoChoice(edit_id, row.category, back_to))
    return choices


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """The edit log as shown: no old value reads ``(no label)``, no new value ``(excluded)``,
    ``undoes`` as ``#id`` on undo rows and empty elsewhere, missing reasons empty."""
    shown = history[HISTORY_COLUMNS].astype({"old_value": object, "new_value": object})
    shown["old_value"] = shown["old_value"].where(shown["old_value"].notna(), NO_LABEL)
    shown["new_value"] = shown["new_value"].where(shown["new_value"].notna(), EXCLUDED)
    shown["undoes"] = shown["undoes"].map(lambda v: "" if pd.isna(v) else f"#{int(v)}")
    shown["reason"] = shown["reason"].fillna("")
    return shown


def relabel_category(names: list[str], table: pd.DataFrame, wanted: str | None) -> int:
    """Index in ``names`` of the category the relabel form starts on: ``wanted`` if it is one,
    else the first category the image has a label in, else the first category."""
    if wanted in names:
        return names.index(wanted)
    labelled = table.loc[table["current"].notna(), "category"].tolist()
    return names.index(labelled[0]) if labelled else 0


KEY_OF = "1234567890"  # number keys pick the first ten values of a single-choice category
INVISIBLE = "Invisible"


class Suggester(Protocol):
    """What the detail view needs of the labelling assistant's fit (``analysis.assist.Suggestions``)."""

    def suggest(self, image_id: int, category: str) -> tuple[str, float] | None: ...


def suggestion_for(model: Suggester | None, image_id: int, category: str) -> tuple[str, float] | None:
    """The model's likeliest value of an image in a category and its probability (None: no model)."""
    return model.suggest(int(image_id), category) if model is not None else None


def new_label_index(values: Sequence[str], current: str | None, suggestion: str | None) -> int:
    """Which value the relabel form preselects: the current label, else the model's suggestion,
    else the first value that is not ``Invisible`` (a new label should not default to it)."""
    for wanted in (current, suggestion):
        if wanted in values:
            return list(values).index(wanted)
    return next((n for n, v in enumerate(values) if v != INVISIBLE), 0)
