"""FashionAI label.csv reading and import: good rows, every kind of bad row, duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_core.errors import LabelFileError
from fashion_core.ingest import encode_code, import_labels, read_fashionai
from fashion_core.schema import FASHIONAI
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"


def _images(root: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        write_image(root / name, seed=i)


def test_reads_values_and_maybe_marks(tmp_path: Path) -> None:
    f = tmp_path / "label.csv"
    f.write_text(
        "Images/s/1.jpg,sleeve_length_labels,nnynnnnnn\n"
        "Images/c/2.jpg,collar_design_labels,nmnny\n"
    )
    parsed = read_fashionai([f])
    assert not parsed.rejected
    by_image = {r.image: r for r in parsed.rows}
    assert by_image["Images/s/1.jpg"].value == "Cup Sleeves"
    assert by_image["Images/c/2.jpg"].value == "Rib Collar"
    assert by_image["Images/c/2.jpg"].maybe == "Shirt Collar"
    assert by_image["Images/c/2.jpg"].line == 2


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Images/a.jpg,sleeve_length_labels,nny", "has 3 marks but sleeve_length_labels has 9"),
        ("Images/a.jpg,sleeve_length_labels,nnnnnnnnn", "has no 'y'"),
        ("Images/a.jpg,sleeve_length_labels,nynnnnnny", "more than one 'y'"),
        ("Images/a.jpg,hat_labels,nny", "unknown attr_key 'hat_labels'"),
        ("../../etc/passwd,sleeve_length_labels,nynnnnnnn", "outside the images root"),
        ("/etc/passwd,sleeve_length_labels,nynnnnnnn", "outside the images root"),
        ("Images/a.jpg,sleeve_length_labels,nyxnnnnnn", "may only contain y, n and m"),
        ("Images/a.jpg,sleeve_length_labels", "expected 3 fields"),
    ],
)
def test_each_bad_row_is_reported_with_file_line_and_reason(tmp_path: Path, row: str, reason: str) -> None:
    f = tmp_path / "label.csv"
    f.write_text(f"Images/ok.jpg,sleeve_length_labels,ynnnnnnnn\n{row}\n")
    parsed = read_fashionai([f])
    assert [r.image for r in parsed.rows] == ["Images/ok.jpg"]
    assert len(parsed.rejected) == 1
    rej = parsed.rejected[0]
    assert rej.file == str(f) and rej.line == 2
    assert reason in rej.reason


def test_round_files_combined_and_duplicates_reported(tmp_path: Path) -> None:
    r1, r2 = tmp_path / "r1.csv", tmp_path / "r2.csv"
    r1.write_text("Images/1.jpg,sleeve_length_labels,nynnnnnnn\nImages/2.jpg,sleeve_length_labels,nnynnnnnn\n")
    r2.write_text("Images/1.jpg,sleeve_length_labels,nynnnnnnn\nImages/2.jpg,sleeve_length_labels,nnnynnnnn\n"
                  "Images/3.jpg,sleeve_length_labels,nnnnynnnn\n")
    parsed = read_fashionai([r1, r2])
    assert sorted(r.image for r in parsed.rows) == ["Images/1.jpg", "Images/2.jpg", "Images/3.jpg"]
    assert len(parsed.duplicates) == 2
    same = {d.image: d.same_value for d in parsed.duplicates}
    assert same == {"Images/1.jpg": True, "Images/2.jpg": False}
    # The conflicting repeat is also a rejection naming where the kept row is.
    assert len(parsed.rejected) == 1 and f"{r1}:2" in parsed.rejected[0].reason
    assert next(r for r in parsed.rows if r.image == "Images/2.jpg").value == "Cup Sleeves"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"id,url,0,1,0\n1,http://x/1.jpg,0,1,0\n", "no row could be read"),
        (b"\xff\xfe\xfa bad bytes", "not UTF-8"),
    ],
)
def test_wholly_wrong_file_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "label.csv"
    f.write_bytes(content)
    with pytest.raises(LabelFileError) as info:
        read_fashionai([f])
    assert str(f) in str(info.value) and message in str(info.value)


def test_import_rejects_missing_unreadable_and_non_image_files(tmp_path: Path, store) -> None:
    root = tmp_path / "data"
    _images(root, ["Images/s/ok1.jpg", "Images/s/ok2.jpg"])
    (root / "Images/s/notimage.jpg").write_text("<html>not an image</html>")
    (root / "Images/s/folder.jpg").mkdir()
    f = tmp_path / "label.csv"
    rows = ["ok1", "ok2", "notimage", "missing", "folder"]
    f.write_text("".join(f"Images/s/{n}.jpg,{SLEEVE},nynnnnnnn\n" for n in rows))
    report = import_labels(store, dataset="d", fmt="fashionai", files=[f], images_root=root)
    assert (report.images, report.annotations, report.rows_read) == (2, 2, 5)
    reasons = {r.line: r.reason for r in report.rejected}
    assert "not an image" in reasons[3]
    assert "missing" in reasons[4]
    assert "not a file" in reasons[5]
    assert all(r.file == str(f) for r in report.rejected)


def test_import_with_no_readable_image_imports_nothing(tmp_path: Path, store) -> None:
    f = tmp_path / "label.csv"
    f.write_text(f"Images/none.jpg,{SLEEVE},nynnnnnnn\n")
    (tmp_path / "data").mkdir()
    with pytest.raises(LabelFileError, match="no row has a readable image"):
        import_labels(store, dataset="d", fmt="fashionai", files=[f], images_root=tmp_path / "data")
    assert store.datasets() == []


def test_encode_code_round_trips() -> None:
    cat = FASHIONAI.category(SLEEVE)
    code = encode_code(cat, "Long Sleeves", ["Wrist Length"])
    assert code == "nnnnnnmyn"
