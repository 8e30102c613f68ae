"""The regroup sequence shared by the Regroup page and the CLI: form and flags give the same steps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fashion_core.errors import LabelMapError
from fashion_core.labels import (
    LabelMap,
    MaybePolicy,
    Op,
    Step,
    form_step,
    preview_map,
    save_draft,
    start_draft,
    steps_from_flags,
    steps_note,
)
from fashion_core.labels import maps as label_maps
from fashion_core.labels.regroup import add_steps
from fashion_core.schema import FASHIONAI
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore

SLEEVE = "sleeve_length_labels"


def _labels(values: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": range(len(values)),
            "path": [f"i{i}.jpg" for i in range(len(values))],
            "category": SLEEVE,
            "value": values,
            "maybe": "",
            "edited": False,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    store = LabelStore.open(tmp_path / "ws")
    store.create_dataset("d", FASHIONAI, tmp_path, "test")
    paths = ["a.jpg", "b.jpg"]
    store.add_images("d", [ImageRecord(p) for p in paths])
    store.add_annotations("d", [AnnotationRecord(p, SLEEVE, "Long Sleeves") for p in paths])
    yield store
    store.close()


def test_form_and_flags_make_the_same_steps() -> None:
    flags = [
        ("merge", "Short Sleeves, Cup Sleeves=>Short"),
        ("rename", "Long Sleeves=>Long"),
        ("drop", " Invisible "),
    ]
    form = [
        form_step(SLEEVE, "merge", ["Short Sleeves", "Cup Sleeves"], target=" Short "),
        form_step(SLEEVE, Op.RENAME, ["Long Sleeves"], target="Long"),
        form_step(SLEEVE, "drop", ["Invisible"]),
        form_step(SLEEVE, "maybe", policy="drop"),
    ]
    assert steps_from_flags(SLEEVE, flags, maybe="drop") == form
    assert form[-1] == Step(Op.MAYBE, SLEEVE, policy=MaybePolicy.DROP)


def test_form_and_flag_errors_say_what_is_missing() -> None:
    with pytest.raises(LabelMapError, match="Select the values first"):
        form_step(SLEEVE, "merge", [], target="x")
    with pytest.raises(LabelMapError, match="target missing"):
        form_step(SLEEVE, "merge", ["Short Sleeves"], target="  ")
    with pytest.raises(LabelMapError, match="Nothing to do"):
        steps_from_flags(SLEEVE, [])
    with pytest.raises(LabelMapError, match="Unknown step flag 'split'"):
        steps_from_flags(SLEEVE, [("split", "a")])
    with pytest.raises(LabelMapError, match="Unknown step 'split'"):
        form_step(SLEEVE, "split", ["a"])


def test_add_steps_checks_against_the_schema_as_the_draft_left_it() -> None:
    draft = add_steps(LabelMap("draft"), FASHIONAI, form_step(SLEEVE, "drop", ["Invisible"]))
    assert draft.steps == (Step(Op.DROP, SLEEVE, ("Invisible",)),)
    with pytest.raises(LabelMapError, match="'Invisible' is not a value"):
        add_steps(draft, FASHIONAI, form_step(SLEEVE, "drop", ["Invisible"]))


def test_preview_counts_before_and_after() -> None:
    labels = _labels(["Short Sleeves", "Cup Sleeves", "Cup Sleeves", "Long Sleeves"])
    draft = LabelMap("m", (form_step(SLEEVE, "merge", ["Short Sleeves", "Cup Sleeves"], target="Short"),))
    table = preview_map(draft, FASHIONAI, labels).counts(SLEEVE).set_index("value")
    assert table.loc["Cup Sleeves", "before"] == 2 and table.loc["Cup Sleeves", "after"] == 0
    assert table.loc["Short", "before"] == 0 and table.loc["Short", "after"] == 3
    assert table.loc["Long Sleeves"].tolist() == [1, 1]


def test_save_draft_names_checks_saves_and_activates(store: LabelStore) -> None:
    draft = add_steps(start_draft(store, None), FASHIONAI, form_step(SLEEVE, "drop", ["Invisible"]))
    assert draft.name == "draft"
    with pytest.raises(LabelMapError, match="non-empty"):
        save_draft(store, "d", draft, name="  ")
    saved = save_draft(store, "d", draft, name=" sleeves ", note="  ", activate=True)
    assert (saved.name, saved.version, saved.steps) == ("sleeves", 1, draft.steps)
    assert store.dataset("d").active_map == "sleeves"
    assert label_maps.list_maps(store, "sleeves")[0].note is None
    again = start_draft(store, "sleeves")  # the CLI's --save builds on the latest version
    assert again.steps == draft.steps and again.version == 1
    second = save_draft(
        store, "d", again.with_steps(form_step(SLEEVE, "maybe", policy="keep")), note=steps_note([])
    )
    assert second.version == 2 and label_maps.list_maps(store, "sleeves")[-1].note == "no change"
    bad = LabelMap("bad", (Step(Op.DROP, SLEEVE, ("Nope",)),))
    with pytest.raises(LabelMapError, match="Nope"):
        save_draft(store, "d", bad)
    assert "bad" not in label_maps.map_names(store)
