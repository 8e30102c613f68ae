"""Every reader turns every malformed line into a rejected row with file, line and reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fashion_core.download.listfile import iter_rows
from fashion_core.errors import LabelFileError
from fashion_core.ingest import read_fashionai, read_folders, read_generic_csv, read_jd
from fashion_core.ingest.table import MAX_LINE_BYTES

SLEEVE = "sleeve_length_labels"
GOOD_FAI = f"Images/s/1.jpg,{SLEEVE},nynnnnnnn"
JD_FLAGS = ",".join(["1"] + ["0"] * 12)

# Each hostile line (bytes) and a word its rejection reason must contain; shared by the readers.
HOSTILE = {
    "oversized": (b"Images/" + b"a" * 200_000 + b".jpg,x,y", "characters long"),
    "stray_quote": (b'"Images/s/2.jpg,' + SLEEVE.encode() + b",nynnnnnnn", "malformed quotes"),
    "quote_then_text": (b'"Images/s/3.jpg"x,' + SLEEVE.encode() + b",nynnnnnnn", "malformed quotes"),
    "nul": (b"Images/s/4\x00.jpg," + SLEEVE.encode() + b",nynnnnnnn", "NUL byte"),
    "separators": (b",,,", "only separators"),
    "latin1": (b"Images/s/caf\xe9.jpg," + SLEEVE.encode() + b",nynnnnnnn", "not UTF-8"),
}


def _write(tmp_path: Path, name: str, first: bytes, bad: bytes, last: bytes) -> Path:
    f = tmp_path / name
    f.write_bytes(first + b"\n" + bad + b"\n" + last + b"\n")
    return f


def _only(parsed, path: Path, line: int):
    rejected = [r for r in parsed.rejected if r.line == line]
    assert len(rejected) == 1, parsed.rejected
    assert rejected[0].file == str(path)
    return rejected[0]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_fashionai_rejects_each_malformed_line_and_keeps_the_rest(tmp_path: Path, kind: str) -> None:
    bad, word = HOSTILE[kind]
    f = _write(tmp_path, "label.csv", GOOD_FAI.encode(), bad, f"Images/s/9.jpg,{SLEEVE},nnynnnnnn".encode())
    parsed = read_fashionai([f])
    assert [r.line for r in parsed.rows] == [1, 3]  # the stray quote swallowed nothing
    assert word in _only(parsed, f, 2).reason


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_jd_rejects_each_malformed_line_and_keeps_the_rest(tmp_path: Path, kind: str) -> None:
    bad, word = HOSTILE[kind]
    first, last = f"a1,http://x/a1.jpg,{JD_FLAGS}", f"a9,http://x/a9.jpg,{JD_FLAGS}"
    f = _write(tmp_path, "list.txt", first.encode(), bad, last.encode())
    parsed = read_jd([f])
    assert [r.external_id for r in parsed.rows] == ["a1", "a9"]
    assert word in _only(parsed, f, 2).reason


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_generic_long_rejects_each_malformed_line(tmp_path: Path, kind: str) -> None:
    bad, word = HOSTILE[kind]
    f = tmp_path / "labels.csv"
    f.write_bytes(b"image,category,value\na.jpg,color,red\n" + bad + b"\nb.jpg,color,blue\n")
    parsed = read_generic_csv(f)
    assert [r.line for r in parsed.rows] == [2, 4]
    assert word in _only(parsed, f, 3).reason


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_generic_wide_rejects_each_malformed_line(tmp_path: Path, kind: str) -> None:
    bad, word = HOSTILE[kind]
    f = tmp_path / "wide.csv"
    f.write_bytes(b"image,casual,formal\na.jpg,1,0\n" + bad + b"\nb.jpg,0,1\n")
    parsed = read_generic_csv(f)
    assert [r.line for r in parsed.rows] == [2, 4]
    assert word in _only(parsed, f, 3).reason


def test_generic_long_refuses_the_multi_label_separator_in_a_value(tmp_path: Path) -> None:
    f = tmp_path / "labels.csv"
    f.write_text("image,category,value\na.jpg,color,red\nb.jpg,color,red|blue\nc.jpg,col|or,red\n")
    parsed = read_generic_csv(f)
    assert [r.line for r in parsed.rows] == [2]
    assert "'|'" in _only(parsed, f, 3).reason and "value 'red|blue'" in _only(parsed, f, 3).reason
    assert "category 'col|or'" in _only(parsed, f, 4).reason
    assert parsed.schema.category("color").values == ("red",)


def test_generic_wide_header_with_the_separator_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "wide.csv"
    f.write_text("image,casual|smart,formal\na.jpg,1,0\n")
    with pytest.raises(LabelFileError) as info:
        read_generic_csv(f)
    assert info.value.path == str(f) and info.value.line == 1 and "'|'" in str(info.value)


def test_generic_wide_header_naming_a_class_twice_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "wide.csv"
    f.write_text("image,casual,casual\na.jpg,1,0\n")
    with pytest.raises(LabelFileError, match="names a class twice"):
        read_generic_csv(f)


def test_generic_file_of_only_separators_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "labels.csv"
    f.write_text(",,,\n,,\n")
    with pytest.raises(LabelFileError) as info:
        read_generic_csv(f)
    assert info.value.path == str(f) and "only separators" in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("image,category,value\na.jpg,color,red\n".encode("utf-16"), "UTF-16"),
        (b"\x00\x01\x02\x03" * 100, "binary"),
        (b"   \n\n", "empty"),
    ],
)
@pytest.mark.parametrize("reader", ["fashionai", "jd", "csv"])
def test_a_file_wrong_as_a_whole_is_one_label_file_error(
    tmp_path: Path, content: bytes, message: str, reader: str
) -> None:
    f = tmp_path / "file.csv"
    f.write_bytes(content)
    read = {
        "fashionai": lambda: read_fashionai([f]),
        "jd": lambda: read_jd([f]),
        "csv": lambda: read_generic_csv(f),
    }[reader]
    with pytest.raises(LabelFileError) as info:
        read()
    assert info.value.path == str(f) and message in str(info.value)


def test_a_missing_file_says_so_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match="cannot read file") as info:
        read_fashionai([tmp_path / "nope.csv"])
    assert info.value.path == str(tmp_path / "nope.csv")


def test_old_mac_line_ends_are_lines(tmp_path: Path) -> None:
    f = tmp_path / "label.csv"
    f.write_bytes(f"{GOOD_FAI}\r,,\r{GOOD_FAI.replace('1.jpg', '2.jpg')}\r".encode())
    parsed = read_fashionai([f])
    assert [r.line for r in parsed.rows] == [1, 3]
    assert "only separators" in _only(parsed, f, 2).reason


# -- folder trees -------------------------------------------------------------------------


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")


def test_folders_reject_a_value_folder_with_the_separator(tmp_path: Path) -> None:
    root = tmp_path / "color"
    _tree(root, ["red/1.jpg", "red|blue/2.jpg"])
    parsed = read_folders(root)
    assert [r.image for r in parsed.rows] == ["red/1.jpg"]
    assert [(r.file, r.line) for r in parsed.rejected] == [("red|blue", 0)]
    assert "'|'" in parsed.rejected[0].reason
    assert parsed.schema.categories[0].values == ("red",)


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS refuses non-UTF-8 names")
def test_folders_reject_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    root = tmp_path / "color"
    _tree(root, ["red/1.jpg"])
    os.close(os.open(os.fsencode(root / "red") + b"/caf\xe9.jpg", os.O_CREAT | os.O_WRONLY))
    parsed = read_folders(root)
    assert [r.image for r in parsed.rows] == ["red/1.jpg"]
    assert len(parsed.rejected) == 1 and "not UTF-8" in parsed.rejected[0].reason
    assert parsed.rejected[0].file.startswith("red/caf")
    parsed.rejected[0].file.encode("utf-8")  # storable and printable


def test_folders_report_an_unreadable_value_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "color"
    _tree(root, ["red/1.jpg", "blue/2.jpg"])
    listdir = os.listdir

    def refusing(path):  # as chmod 0 does for anyone but root (tests may run as root, CI does)
        if Path(path).name == "blue":
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", refusing)
    parsed = read_folders(root)
    assert [r.image for r in parsed.rows] == ["red/1.jpg"]
    assert [(r.file, r.line) for r in parsed.rejected] == [("blue", 0)]
    assert "cannot read folder" in parsed.rejected[0].reason


# -- download lists -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "word"),
    [
        (b'"a2,http://x/a2.jpg,' + JD_FLAGS.encode(), "malformed quotes"),
        (b"a2,http://x/\x00.jpg," + JD_FLAGS.encode(), "NUL byte"),
        (b",,,,,,,,,,,,,,", "empty id"),
        (b"a2,http://x/caf\xe9.jpg," + JD_FLAGS.encode(), "not UTF-8"),
        (b"a" * (MAX_LINE_BYTES + 5), "not UTF-8"),
    ],
)
def test_url_list_rejects_each_malformed_line(tmp_path: Path, bad: bytes, word: str) -> None:
    f = _write(
        tmp_path,
        "list.csv",
        f"a1,http://x/a1.jpg,{JD_FLAGS}".encode(),
        bad,
        f"a3,http://x/a3.jpg,{JD_FLAGS}".encode(),
    )
    rows = list(iter_rows(f))
    assert [(r.line, r.error is None) for r in rows] == [(1, True), (2, False), (3, True)]
    assert rows[1].error.startswith("bad row: ") and word in rows[1].error
