"""JD lists, folder trees and generic CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_core.errors import LabelFileError
from fashion_core.ingest import import_labels, read_folders, read_generic_csv, read_jd
from fashion_core.labels import label_counts
from fashion_core.schema import Kind
from tests.conftest import write_image


def test_jd_list_multi_hot_and_bad_rows(tmp_path: Path) -> None:
    f = tmp_path / "list.txt"
    ones = ",".join(["1", "0", "1"] + ["0"] * 10)
    f.write_text(
        f"a1,http://x/a1.jpg,{ones}\n"
        f"a2,http://x/a2.jpg,{','.join(['0'] * 13)}\n"
        f"a3,http://x/a3.jpg,1,0\n"
        f"a4,http://x/a4.jpg,{','.join(['2'] + ['0'] * 12)}\n"
        f"../a5,http://x/a5.jpg,{ones}\n"
    )
    parsed = read_jd([f])
    rows = {r.external_id: r for r in parsed.rows}
    assert rows["a1"].value == "style_01|style_03" and rows["a1"].image == "a1.jpg"
    assert rows["a1"].url == "http://x/a1.jpg"
    assert rows["a2"].value == ""
    assert {r.line for r in parsed.rejected} == {3, 4, 5}


def test_jd_import_counts_positives(tmp_path: Path, store) -> None:
    root = tmp_path / "imgs"
    for i in range(3):
        write_image(root / f"{i}.jpg", seed=i)
    f = tmp_path / "list.txt"
    f.write_text("".join(f"{i},http://x/{i}.jpg,{','.join('1' if k <= i else '0' for k in range(13))}\n" for i in range(4)))
    report = import_labels(store, dataset="jd", fmt="jd", files=[f], images_root=root)
    assert report.images == 3 and len(report.rejected) == 1 and "missing" in report.rejected[0].reason
    counts = label_counts(store.dataset("jd").schema, store.current_labels("jd"))["style"]
    assert counts["style_01"] == 3 and counts["style_02"] == 2 and counts["style_03"] == 1


def test_folders_multi_category_tree(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_image(root / "sleeve_length_labels/Long Sleeves/a.jpg")
    write_image(root / "sleeve_length_labels/Sleeveless/b.jpg")
    write_image(root / "neck_design_labels/Turtle Neck/c.png", fmt="PNG")
    (root / "neck_design_labels/Turtle Neck/notes.txt").write_text("x")
    parsed = read_folders(root)
    assert parsed.schema.name == "fashionai"  # FashionAI names keep FashionAI's value order
    assert {(r.category, r.value) for r in parsed.rows} == {
        ("sleeve_length_labels", "Long Sleeves"), ("sleeve_length_labels", "Sleeveless"),
        ("neck_design_labels", "Turtle Neck"),
    }
    assert len(parsed.rejected) == 1 and "notes.txt" in parsed.rejected[0].reason


def test_folders_single_category_tree(tmp_path: Path) -> None:
    root = tmp_path / "colors"
    write_image(root / "red/a.jpg")
    write_image(root / "blue/b.jpg")
    parsed = read_folders(root, category="color")
    assert parsed.schema.category("color").values == ("blue", "red")
    assert sorted(r.image for r in parsed.rows) == ["blue/b.jpg", "red/a.jpg"]


def test_folders_empty_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty/x").mkdir(parents=True)
    with pytest.raises(LabelFileError):
        read_folders(tmp_path / "empty")


def test_generic_csv_long_and_wide(tmp_path: Path) -> None:
    long = tmp_path / "long.csv"
    long.write_text("image,category,value\na.jpg,color,red\nb.jpg,color,blue\nc.jpg,color\n")
    parsed = read_generic_csv(long)
    assert parsed.schema.category("color").values == ("red", "blue")
    assert len(parsed.rows) == 2 and parsed.rejected[0].line == 4
    wide = tmp_path / "wide.csv"
    wide.write_text("image,casual,formal,sport\na.jpg,1,0,1\nb.jpg,0,0,0\nc.jpg,1,x,0\n")
    parsed = read_generic_csv(wide, category="style")
    cat = parsed.schema.category("style")
    assert cat.kind is Kind.MULTI and cat.values == ("casual", "formal", "sport")
    assert [r.value for r in parsed.rows] == ["casual|sport", ""]
    assert parsed.rejected[0].line == 4


def test_generic_csv_unknown_header(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("foo,bar\n1,2\n")
    with pytest.raises(LabelFileError, match="unrecognised header"):
        read_generic_csv(f)
