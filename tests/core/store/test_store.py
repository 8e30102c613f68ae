"""The SQLite label store: round trip, edits that never touch originals, undo, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fashion_core.errors import SchemaError, StoreError, UnknownDatasetError
from fashion_core.ingest import import_labels
from fashion_core.labels import label_counts
from fashion_core.store import LabelStore
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"


@pytest.fixture
def dataset(tmp_path: Path, store: LabelStore) -> str:
    root = tmp_path / "data"
    lines = []
    for i in range(6):
        write_image(root / f"Images/{i}.jpg", seed=i)
        code = ["n"] * 9
        code[1 + i % 3] = "y"
        lines.append(f"Images/{i}.jpg,{SLEEVE},{''.join(code)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    import_labels(store, dataset="d", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    return "d"


def test_round_trip_after_reopen(store: LabelStore, dataset: str) -> None:
    before = label_counts(store.dataset(dataset).schema, store.current_labels(dataset))
    reopened = LabelStore(store.db_path)
    assert reopened.counts(dataset) == {"images": 6, "annotations": 6, "label_edits": 0}
    after = label_counts(reopened.dataset(dataset).schema, reopened.current_labels(dataset))
    assert after == before
    assert after[SLEEVE]["Sleeveless"] == 2 and after[SLEEVE]["Cup Sleeves"] == 2
    mode = reopened.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_edit_and_undo_keep_originals(store: LabelStore, dataset: str) -> None:
    original = store.original_labels(dataset)
    image_id = int(original["image_id"].iloc[0])
    edit = store.edit_label(dataset, image_id, SLEEVE, "Long Sleeves", annotator="ann", reason="looks long")
    assert edit.old_value == "Sleeveless" and edit.new_value == "Long Sleeves"
    current = store.current_labels(dataset).set_index("image_id")
    assert current.loc[image_id, "value"] == "Long Sleeves" and bool(current.loc[image_id, "edited"])
    assert store.original_labels(dataset).equals(original)
    undo = store.undo_edit(edit.id, annotator="ann")
    assert undo.undoes == edit.id and undo.new_value == "Sleeveless"
    assert store.current_value(dataset, image_id, SLEEVE) == "Sleeveless"
    assert len(store.edit_history(dataset, image_id)) == 2


def test_exclude_removes_label_and_undo_restores(store: LabelStore, dataset: str) -> None:
    image_id = int(store.original_labels(dataset)["image_id"].iloc[1])
    edit = store.edit_label(dataset, image_id, SLEEVE, None, annotator="ann")
    assert image_id not in set(store.current_labels(dataset)["image_id"])
    store.undo_edit(edit.id, annotator="ann")
    assert image_id in set(store.current_labels(dataset)["image_id"])


def test_only_latest_edit_can_be_undone(store: LabelStore, dataset: str) -> None:
    image_id = int(store.original_labels(dataset)["image_id"].iloc[0])
    first = store.edit_label(dataset, image_id, SLEEVE, "Long Sleeves", annotator="a")
    store.edit_label(dataset, image_id, SLEEVE, "Short Sleeves", annotator="b")
    with pytest.raises(StoreError, match="not the latest"):
        store.undo_edit(first.id, annotator="a")


def test_bad_edits_are_refused(store: LabelStore, dataset: str) -> None:
    image_id = int(store.original_labels(dataset)["image_id"].iloc[0])
    with pytest.raises(SchemaError):
        store.edit_label(dataset, image_id, SLEEVE, "Very Long", annotator="a")
    with pytest.raises(StoreError):
        store.edit_label(dataset, image_id, SLEEVE, "Long Sleeves", annotator="  ")
    with pytest.raises(UnknownDatasetError):
        store.edit_label("nope", image_id, SLEEVE, "Long Sleeves", annotator="a")


def test_concurrent_editors_lose_nothing(store: LabelStore, dataset: str) -> None:
    ids = store.original_labels(dataset)["image_id"].tolist()
    values = ["Long Sleeves", "Short Sleeves"]

    def editor(k: int) -> None:
        other = LabelStore(store.db_path)  # a second browser session's own connection
        for round_ in range(10):
            for image_id in ids:
                other.edit_label(dataset, image_id, SLEEVE, values[(k + round_) % 2], annotator=f"e{k}")

    threads = [threading.Thread(target=editor, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.edit_history(dataset)
    assert len(history) == 2 * 10 * len(ids)
    # Each edit's old value is exactly the previous edit's new value for that image.
    for _, rows in history.sort_values("id").groupby("image_id"):
        olds, news = rows["old_value"].tolist(), rows["new_value"].tolist()
        assert olds[1:] == news[:-1]


def test_edit_clears_maybe_marks(tmp_path: Path, store: LabelStore) -> None:
    root = tmp_path / "m"
    write_image(root / "a.jpg")
    (tmp_path / "m.csv").write_text(f"a.jpg,{SLEEVE},nymnnnnnn\n")
    import_labels(store, dataset="m", fmt="fashionai", files=[tmp_path / "m.csv"], images_root=root)
    assert store.current_labels("m")["maybe"].tolist() == ["Cup Sleeves"]
    store.edit_label("m", 1, SLEEVE, "Short Sleeves", annotator="a")
    assert store.current_labels("m")["maybe"].tolist() == [""]
    assert store.original_labels("m")["maybe"].tolist() == ["Cup Sleeves"]
