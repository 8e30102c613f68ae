"""Folder export through a label map: one folder per value, hard links, originals untouched."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from fashion_core.errors import ExportError, SchemaError
from fashion_core.ingest import encode_code, import_labels
from fashion_core.labels import (
    NO_MAP,
    LabelSource,
    Op,
    Step,
    export_folders,
    label_counts,
    label_view,
    parse_merge,
)
from fashion_core.labels import maps as label_maps
from fashion_core.labels.export_folders import REPORT_NAME, safe_folder_name
from fashion_core.schema import FASHIONAI
from fashion_core.store import LabelStore
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"
LAPEL = "lapel_design_labels"
ROWS = [
    ("a/1.jpg", SLEEVE, "Cup Sleeves"),
    ("b/1.jpg", SLEEVE, "Short Sleeves"),  # same name: a clash after merge
    ("a/2.jpg", SLEEVE, "3/4 Sleeves"),
    ("a/3.jpg", SLEEVE, "Long Sleeves"),
    ("a/4.jpg", SLEEVE, "Wrist Length"),
    ("a/5.jpg", SLEEVE, "Invisible"),
    ("c/6.jpg", LAPEL, "Notched"),
    ("c/7.jpg", LAPEL, "Collarless"),
]


@pytest.fixture
def dataset(tmp_path: Path, store: LabelStore) -> str:
    root = tmp_path / "data"
    lines = []
    for i, (path, cat, value) in enumerate(ROWS):
        write_image(root / path, seed=i)
        lines.append(f"{path},{cat},{encode_code(FASHIONAI.category(cat), value)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    import_labels(store, dataset="d", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    label_maps.install_example_maps(store)
    return "d"


def _files(out: Path) -> dict[str, dict[str, list[str]]]:
    tree: dict[str, dict[str, list[str]]] = {}
    for cat in sorted(p for p in out.iterdir() if p.is_dir()):
        tree[cat.name] = {v.name: sorted(f.name for f in v.iterdir()) for v in sorted(cat.iterdir())}
    return tree


def _digest(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_folders_match_the_map_and_originals_stay(tmp_path: Path, store: LabelStore, dataset: str) -> None:
    root = store.dataset(dataset).images_root
    before = _digest(root)
    out = tmp_path / "out"
    report = export_folders(store, dataset, out, source=LabelSource.named("fashionai_source"))
    tree = _files(out)
    view = label_view(store, dataset, LabelSource.named("fashionai_source"))
    expected = label_counts(view.schema, view.labels)
    for cat, counts in expected.items():
        written = {v: len(tree.get(cat, {}).get(report.folders[cat][v], [])) for v in counts}
        assert written == counts, cat
    assert report.counts[SLEEVE] == {"Short Sleeves": 2, "Elbow Sleeves": 1, "Long Sleeves": 2}
    assert tree[SLEEVE]["Short Sleeves"] == sorted(
        [f"{_id(store, 'a/1.jpg')}_1.jpg", f"{_id(store, 'b/1.jpg')}_1.jpg"]
    )
    assert tree[LAPEL] == {"Invisible": ["7.jpg"], "Notched": ["6.jpg"]}
    assert "Invisible" not in tree[SLEEVE]  # dropped by the map
    assert _digest(root) == before  # nothing moved, changed or added among the originals
    assert report.linked == 7 and report.copied == 0 and not report.missing
    linked = out / SLEEVE / "Elbow Sleeves" / "2.jpg"
    assert os.path.samefile(linked, root / "a/2.jpg") and (root / "a/2.jpg").stat().st_nlink == 2
    assert (out / REPORT_NAME).is_file()


def _id(store: LabelStore, path: str) -> int:
    return store.image_ids("d")[path]


def test_value_with_slash_gets_a_safe_folder(tmp_path: Path, store: LabelStore, dataset: str) -> None:
    report = export_folders(store, dataset, tmp_path / "out", source=NO_MAP, categories=[SLEEVE])
    assert report.folders[SLEEVE]["3/4 Sleeves"] == "3_4 Sleeves"
    assert (tmp_path / "out" / SLEEVE / "3_4 Sleeves" / "2.jpg").is_file()
    assert sorted(os.listdir(tmp_path / "out")) == [REPORT_NAME, SLEEVE]
    assert safe_folder_name("..") == "_" and safe_folder_name("a:b*c?") == "a_b_c_"


def test_active_map_is_the_default_and_copies_when_links_fail(
    tmp_path: Path, store: LabelStore, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    label_maps.add_steps(store, "mine", [parse_merge("Cup Sleeves,Short Sleeves=>Short", SLEEVE)])
    label_maps.activate_map(store, dataset, "mine")
    calls = []

    def cross_device(src: Path, dst: Path) -> None:
        calls.append(src)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)  # the os module export_folders links through
    report = export_folders(store, dataset, tmp_path / "out")
    assert report.map_name == "mine" and report.counts[SLEEVE]["Short"] == 2
    assert report.copied == len(ROWS) and report.linked == 0
    assert len(calls) == 1  # one failure is enough to stop trying links
    copy = tmp_path / "out" / SLEEVE / "Short"
    assert not any(
        os.path.samefile(f, store.image_path(dataset, _id(store, "a/1.jpg"))) for f in copy.iterdir()
    )


def test_missing_images_are_reported_not_fatal(tmp_path: Path, store: LabelStore, dataset: str) -> None:
    (store.dataset(dataset).images_root / "a/3.jpg").unlink()
    report = export_folders(store, dataset, tmp_path / "out", source=NO_MAP)
    assert [m["path"] for m in report.missing] == ["a/3.jpg"]
    assert "not found" in report.missing[0]["reason"]
    assert report.linked == len(ROWS) - 1


def test_bad_out_folders_and_categories_are_refused(tmp_path: Path, store: LabelStore, dataset: str) -> None:
    root = store.dataset(dataset).images_root
    with pytest.raises(ExportError, match="inside the dataset's images root"):
        export_folders(store, dataset, root / "export")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(ExportError, match="exists and is not empty"):
        export_folders(store, dataset, tmp_path / "full")
    with pytest.raises(SchemaError, match="Unknown category 'hat'"):
        export_folders(store, dataset, tmp_path / "out", categories=["hat"])


def test_multi_label_images_go_into_every_positive_folder(tmp_path: Path, store: LabelStore) -> None:
    root = tmp_path / "jd"
    lines = ["id,url," + ",".join(f"l{i}" for i in range(1, 14)) + "\n"]
    for i, flags in enumerate(["1" + "0" * 12, "11" + "0" * 11, "0" * 13, "01" + "0" * 11]):
        write_image(root / f"{i}.jpg", seed=i)
        lines.append(f"{i},http://127.0.0.1/{i}.jpg," + ",".join(flags) + "\n")
    (tmp_path / "jd.csv").write_text("".join(lines))
    import_labels(store, dataset="jd", fmt="jd", files=[tmp_path / "jd.csv"], images_root=root)
    label_maps.save_map(store, label_maps.LabelMap("j", (Step(Op.DROP, "style", ("style_02",)),)))
    report = export_folders(store, "jd", tmp_path / "out", source=LabelSource.named("j"))
    assert report.counts["style"] == {"style_01": 2}
    assert report.no_positive == {"style": 2}  # the all-zero image and the one whose only extra was dropped
    assert sorted(os.listdir(tmp_path / "out" / "style" / "style_01")) == ["0.jpg", "1.jpg"]


@pytest.mark.slow
def test_keras_reads_the_export(tmp_path: Path, store: LabelStore, dataset: str) -> None:
    import keras

    export_folders(store, dataset, tmp_path / "out", source=LabelSource.named("fashionai_source"), categories=[SLEEVE])
    ds = keras.utils.image_dataset_from_directory(
        tmp_path / "out" / SLEEVE, image_size=(24, 24), batch_size=8
    )
    assert ds.class_names == ["Elbow Sleeves", "Long Sleeves", "Short Sleeves"]
    assert sum(int(x.shape[0]) for x, _ in ds) == 5
