"""Whole-dataset writes: all or nothing, replace keeps the edits it can and counts the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_core.cli import main
from fashion_core.errors import StoreError
from fashion_core.ingest import import_labels
from fashion_core.schema import FASHIONAI
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore
from fashion_core.store.datasets import write_dataset
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"
COLLAR = "collar_design_labels"


def _source(tmp_path: Path, names: list[str], collar: bool = True) -> tuple[Path, Path]:
    root = tmp_path / "data"
    lines = []
    for i, name in enumerate(names):
        write_image(root / f"Images/{name}.jpg", seed=i)
        lines.append(f"Images/{name}.jpg,{SLEEVE},nynnnnnnn\n")
        if collar:
            lines.append(f"Images/{name}.jpg,{COLLAR},ynnnn\n")
    label = tmp_path / f"label_{len(names)}_{collar}.csv"
    label.write_text("".join(lines))
    return label, root


def _import(store: LabelStore, label: Path, root: Path, **kw):
    return import_labels(store, dataset="d", fmt="fashionai", files=[label], images_root=root, **kw)


def _id(store: LabelStore, name: str) -> int:
    return store.image_ids("d")[f"Images/{name}.jpg"]


def test_replace_keeps_edits_of_images_still_there_and_counts_the_dropped(tmp_path: Path, store) -> None:
    label, root = _source(tmp_path, ["a", "b", "c"])
    _import(store, label, root)
    first = store.edit_label("d", _id(store, "a"), SLEEVE, "Cup Sleeves", annotator="ann")
    collar = store.edit_label("d", _id(store, "a"), COLLAR, "Rib Collar", annotator="ann")
    store.edit_label("d", _id(store, "c"), SLEEVE, "Sleeveless", annotator="ann")
    undo = store.undo_edit(first.id, annotator="ann")

    label2, root2 = _source(tmp_path, ["a", "b"], collar=False)  # c gone
    report = _import(store, label2, root2, replace=True)

    assert (report.replaced, report.edits_kept, report.edits_dropped) == (True, 3, 1)
    assert report.to_dict()["edits_dropped"] == 1
    history = store.edit_history("d")
    assert set(history["id"]) == {first.id, collar.id, undo.id}  # ids kept: the undo link holds
    assert set(history["image_id"]) == {_id(store, "a")}
    assert store.current_value("d", _id(store, "a"), SLEEVE) == "Sleeveless"
    assert store.current_value("d", _id(store, "a"), COLLAR) == "Rib Collar"
    assert store.counts("d") == {"images": 2, "annotations": 2, "label_edits": 3}


def test_replace_drops_edits_of_categories_no_longer_in_the_schema(tmp_path: Path, store) -> None:
    root = tmp_path / "imgs"
    write_image(root / "a.jpg")
    first = tmp_path / "first.csv"
    first.write_text("image,category,value\na.jpg,color,red\na.jpg,fit,slim\n")
    second = tmp_path / "second.csv"
    second.write_text("image,category,value\na.jpg,color,red\n")
    import_labels(store, dataset="d", fmt="csv", files=[first], images_root=root)
    store.edit_label("d", _id_of(store, "a.jpg"), "fit", None, annotator="ann")
    store.edit_label("d", _id_of(store, "a.jpg"), "color", None, annotator="ann")
    report = import_labels(store, dataset="d", fmt="csv", files=[second], images_root=root, replace=True)
    assert (report.edits_kept, report.edits_dropped) == (1, 1)
    assert list(store.edit_history("d")["category"]) == ["color"]


def _id_of(store: LabelStore, path: str) -> int:
    return store.image_ids("d")[path]
    assert [d.name for d in store.datasets()] == ["d"]


def test_import_over_an_existing_dataset_needs_replace(tmp_path: Path, store) -> None:
    label, root = _source(tmp_path, ["a"])
    _import(store, label, root)
    with pytest.raises(StoreError, match="already exists; choose another name, or replace it"):
        _import(store, label, root)
    assert store.counts("d")["images"] == 1


def test_an_empty_leftover_dataset_does_not_block_a_plain_import(tmp_path: Path, store) -> None:
    store.create_dataset("d", FASHIONAI, tmp_path, "fashionai")  # as an interrupted import left it
    label, root = _source(tmp_path, ["a", "b"])
    report = _import(store, label, root)
    assert report.images == 2 and store.counts("d")["images"] == 2


def test_a_failure_inside_the_write_leaves_the_old_dataset_whole(tmp_path: Path, store) -> None:
    label, root = _source(tmp_path, ["a", "b"])
    _import(store, label, root)
    edit = store.edit_label("d", _id(store, "a"), SLEEVE, "Cup Sleeves", annotator="ann")
    before = store.current_labels("d")
    with pytest.raises(StoreError, match="unknown image"):
        write_dataset(
            store,
            "d",
            FASHIONAI,
            root,
            "fashionai",
            [ImageRecord("Images/a.jpg")],
            [AnnotationRecord("Images/zzz.jpg", SLEEVE, "Cup Sleeves")],
            replace=True,
        )
    assert [d.name for d in store.datasets()] == ["d"]
    assert store.current_labels("d").equals(before)
    assert store.edit(edit.id).image_id == _id(store, "a")


def test_a_failed_first_import_leaves_no_dataset(tmp_path: Path, store) -> None:
    with pytest.raises(StoreError):
        write_dataset(
            store,
            "new",
            FASHIONAI,
            tmp_path,
            "fashionai",
            [ImageRecord("x.jpg")],
            [AnnotationRecord("y.jpg", SLEEVE, "Cup Sleeves")],
        )
    assert store.datasets() == []


def test_cli_ingest_replace_says_what_it_kept_and_dropped(tmp_path: Path, capsys) -> None:
    label, root = _source(tmp_path, ["a", "b"])
    home = str(tmp_path / "ws")
    base = [
        "--home",
        home,
        "ingest",
        str(label),
        "--format",
        "fashionai",
        "--dataset",
        "d",
        "--images-root",
        str(root),
    ]
    assert main(base) == 0
    assert main(base) == 1
    assert "already exists" in capsys.readouterr().err
    assert main([*base, "--replace"]) == 0
    assert "kept 0 edits" in capsys.readouterr().out


def test_cli_demo_data_refuses_to_replace_before_drawing(tmp_path: Path, capsys) -> None:
    label, root = _source(tmp_path, ["a"])
    home = tmp_path / "ws"
    main(
        [
            "--home",
            str(home),
            "ingest",
            str(label),
            "--format",
            "fashionai",
            "--dataset",
            "mine",
            "--images-root",
            str(root),
        ]
    )
    code = main(["--home", str(home), "demo-data", "--images", "8", "--dataset", "mine"])
    assert code == 1 and "already exists" in capsys.readouterr().err
    assert not (home / "demo").exists()  # nothing drawn
