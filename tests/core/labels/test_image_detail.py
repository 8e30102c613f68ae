"""The image detail view's tables: labels as people read them, undo choices, the edit log."""

from __future__ import annotations

import pandas as pd

from fashion_core.labels import history_table, relabel_category, shown_labels, undo_choices
from fashion_core.labels.gallery import image_labels
from fashion_core.schema import Category, Kind, Schema

SCHEMA = Schema(
    "t",
    (
        Category("sleeve", ("Long", "Short"), Kind.SINGLE),
        Category("style", ("formal", "casual", "sporty"), Kind.MULTI),
        Category("coat", ("Short", "Long"), Kind.SINGLE),
        Category("pant", ("Full", "Cropped"), Kind.SINGLE),
    ),
)
# Edit 1 set sleeve Long -> Short; edit 2 excluded style; edit 3 undid edit 2 then edit 4 excluded it again.
HISTORY = pd.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "created_at": ["t1", "t2", "t3", "t4"],
        "annotator": ["ann"] * 4,
        "category": ["sleeve", "style", "style", "style"],
        "old_value": ["Long", "formal|casual", None, "formal|casual"],
        "new_value": ["Short", None, "formal|casual", None],
        "reason": ["blurry", None, None, None],
        "undoes": [None, None, 2, None],
    }
)
CURRENT = pd.DataFrame(
    {"category": ["sleeve", "coat"], "value": ["Short", "Long"], "maybe": ["", ""], "edited": [True, False]}
)


def _table() -> pd.DataFrame:
    return image_labels(SCHEMA, CURRENT, HISTORY)


def test_shown_labels_read_like_people_say_them() -> None:
    shown = shown_labels(SCHEMA, _table()).set_index("category")
    assert list(shown.index) == ["sleeve", "style", "coat"]  # pant: never labelled, never edited
    assert shown.loc["sleeve", ["original", "current"]].tolist() == ["Long", "Short"]
    assert shown.loc["style", ["original", "current"]].tolist() == ["formal, casual", "(excluded)"]
    assert shown.loc["coat", ["original", "current"]].tolist() == ["Long", "Long"]


def test_undo_choices_are_the_latest_edit_of_each_category() -> None:
    choices = undo_choices(SCHEMA, _table(), HISTORY)
    assert [(c.edit_id, c.category, c.back_to) for c in choices] == [
        (1, "sleeve", "Long"),
        (4, "style", "formal, casual"),
    ]
    assert choices[0].label == "Undo edit #1 of sleeve (back to Long)"


def test_history_table_names_missing_values() -> None:
    shown = history_table(HISTORY)
    assert shown["old_value"].tolist() == ["Long", "formal|casual", "(no label)", "formal|casual"]
    assert shown["new_value"].tolist() == ["Short", "(excluded)", "formal|casual", "(excluded)"]
    assert shown["undoes"].tolist() == ["", "", "#2", ""]
    assert shown["reason"].tolist() == ["blurry", "", "", ""]


def test_relabel_form_starts_on_the_wanted_else_the_first_labelled_category() -> None:
    names = SCHEMA.category_names
    assert relabel_category(names, _table(), "pant") == 3
    assert relabel_category(names, _table(), None) == 0
    assert relabel_category(names, _table(), "hat") == 0
    unlabelled = _table().assign(current=[None, None, "Long", None])
    assert relabel_category(names, unlabelled, None) == 2


def test_new_label_preselects_current_then_suggestion_never_invisible_by_default():
    from fashion_core.labels import new_label_index, suggestion_for

    values = ("Invisible", "Short", "Long")
    assert new_label_index(values, "Long", "Short") == 2  # the label in force first
    assert new_label_index(values, None, "Short") == 1  # else the model's suggestion
    assert new_label_index(values, None, None) == 1  # else not Invisible
    assert new_label_index(("Invisible",), None, None) == 0

    class Model:
        def suggest(self, image_id, category):
            return ("Long", 0.8) if (image_id, category) == (3, "c") else None

    assert suggestion_for(Model(), 3, "c") == ("Long", 0.8)
    assert suggestion_for(Model(), 4, "c") is None and suggestion_for(None, 3, "c") is None
