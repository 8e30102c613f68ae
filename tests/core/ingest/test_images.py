"""Image header reading at import and the full-decode verify step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from fashion_core.cli import main
from fashion_core.ingest import verify_images
from fashion_core.ingest.header_parse import sniff_size
from fashion_core.ingest.images import read_header
from tests.conftest import write_image

FORMATS = [
    ("a.jpg", {"format": "JPEG"}),
    ("b.jpg", {"format": "JPEG", "progressive": True}),
    ("c.png", {"format": "PNG"}),
    ("d.gif", {"format": "GIF"}),
    ("e.webp", {"format": "WEBP"}),
    ("f.webp", {"format": "WEBP", "lossless": True}),
    ("g.bmp", {"format": "BMP"}),
    ("h.tif", {"format": "TIFF"}),  # not sniffed: must fall back to Pillow
]


@pytest.mark.parametrize(("name", "kwargs"), FORMATS)
def test_header_agrees_with_pillow(tmp_path: Path, name: str, kwargs: dict) -> None:
    Image.new("RGB", (37, 23), (10, 20, 30)).save(tmp_path / name, **kwargs)
    header = read_header(tmp_path, name)
    with Image.open(tmp_path / name) as im:
        assert (header.format, header.width, header.height) == (im.format, 37, 23)
    assert header.error is None and header.size_bytes == (tmp_path / name).stat().st_size


def test_jpeg_with_large_exif_segment(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 60000  # pushes the frame header past the first read
    Image.new("RGB", (50, 40)).save(tmp_path / "x.jpg", exif=exif.tobytes())
    with open(tmp_path / "x.jpg", "rb") as f:
        assert sniff_size(f) == ("JPEG", 50, 40)


def test_header_errors(tmp_path: Path) -> None:
    (tmp_path / "text.jpg").write_text("hello")
    (tmp_path / "dir.jpg").mkdir()
    assert "not an image" in read_header(tmp_path, "text.jpg").error
    assert "missing" in read_header(tmp_path, "nope.jpg").error
    assert "not a file" in read_header(tmp_path, "dir.jpg").error


def test_bomb_is_refused_from_header(tmp_path: Path) -> None:
    # A PNG whose header claims 30000 x 30000 pixels: refused before any decoding.
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    (tmp_path / "bomb.png").write_bytes(data)
    assert "too large" in read_header(tmp_path, "bomb.png").error


def test_verify_finds_truncated_and_broken_images(tmp_path: Path) -> None:
    good = write_image(tmp_path / "good.jpg", size=(64, 64))
    data = good.read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    items = [(1, "good.jpg"), (2, "trunc.jpg"), (3, "junk.png"), (4, "gone.jpg")]
    problems = {p.image_id: p.reason for p in verify_images(items, tmp_path, workers=2)}
    assert set(problems) == {2, 3, 4}
    assert "missing" in problems[4]


def test_cli_ingest_stats_verify_json(tmp_path: Path, capsys) -> None:
    root = tmp_path / "data"
    lines = []
    for i in range(4):
        write_image(root / f"Images/{i}.jpg", size=(64, 64), seed=i)
        lines.append(f"Images/{i}.jpg,sleeve_length_labels,{'nyn' if i % 2 else 'nny'}nnnnnn\n")
    lines.append("../../etc/passwd,sleeve_length_labels,nynnnnnnn\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    home = str(tmp_path / "ws")
    assert main(["--home", home, "ingest", "--format", "fashionai", "--dataset", "d",
                 "--images-root", str(root), str(tmp_path / "label.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dataset"], out["images"], out["annotations"]) == ("d", 4, 4)
    assert out["rejected"] == [{"file": str(tmp_path / "label.csv"), "line": 5,
                                "reason": "image path '../../etc/passwd' is outside the images root"}]
    assert main(["--home", home, "stats", "--dataset", "d", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["categories"]["sleeve_length_labels"]["Sleeveless"] == 2
    assert stats["categories"]["sleeve_length_labels"]["Cup Sleeves"] == 2
    data = (root / "Images/3.jpg").read_bytes()
    (root / "Images/3.jpg").write_bytes(data[: len(data) // 2])
    assert main(["--home", home, "images", "verify", "--dataset", "d", "--json"]) == 8  # broken: non-zero
    verify = json.loads(capsys.readouterr().out)
    assert verify["checked"] == 4 and [p["path"] for p in verify["problems"]] == ["Images/3.jpg"]


def test_cli_whole_file_error_exits_nonzero(tmp_path: Path, capsys) -> None:
    (tmp_path / "label.csv").write_bytes(b"")
    (tmp_path / "data").mkdir()
    code = main(["--home", str(tmp_path / "ws"), "ingest", "--format", "fashionai", "--dataset", "d",
                 "--images-root", str(tmp_path / "data"), str(tmp_path / "label.csv"), "--json"])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and "empty" in err and len(err.strip().splitlines()) == 1


def test_symlinks_that_leave_the_images_root_are_refused_at_import(tmp_path: Path, store) -> None:
    from fashion_core.ingest import import_labels

    root, outside = tmp_path / "data", tmp_path / "secret"
    write_image(root / "Images/real.jpg", seed=1)
    write_image(outside / "private.jpg", seed=2)
    (root / "Images/inside_link.jpg").symlink_to(root / "Images/real.jpg")
    (root / "Images/outside_link.jpg").symlink_to(outside / "private.jpg")
    (root / "Linked").symlink_to(outside, target_is_directory=True)
    label = tmp_path / "label.csv"
    names = ["Images/real.jpg", "Images/inside_link.jpg", "Images/outside_link.jpg", "Linked/private.jpg"]
    label.write_text("".join(f"{n},sleeve_length_labels,nynnnnnnn\n" for n in names))
    report = import_labels(store, dataset="d", fmt="fashionai", files=[label], images_root=root)
    assert report.images == 2
    assert {(r.line, r.reason) for r in report.rejected} == {
        (3, "image path leaves the images root through a symlink: Images/outside_link.jpg"),
        (4, "image path leaves the images root through a symlink: Linked/private.jpg"),
    }
