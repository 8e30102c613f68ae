"""Names and text from data: paths never leave their folder, CSV cells never become formulas, markdown stays text."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd
import pytest

from fashion_core.csv_cells import frame_to_csv, plain_cell, safe_cell
from fashion_core.download import Status
from fashion_core.download.manifest import ManifestWriter, read_kept_hashes
from fashion_core.download.report import RowResult
from fashion_core.errors import UnsafePathError
from fashion_core.labels import export_folders, render_labels
from fashion_core.paths import confine, data_roots, join_inside, safe_part
from fashion_core.runs import RunDir
from fashion_core.schema import Category, Kind, Schema
from fashion_core.store import AnnotationRecord, ImageRecord, LabelStore
from fashion_core.workspace import Workspace

TRAVERSALS = ["../../../x", "..", "/etc/passwd", "a/../../b", "..\\..\\x", ".hidden", "C:\\Windows", "x\x00y", ""]
FORMULAS = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_a_name_from_data_becomes_one_part_inside_the_folder(name: str, tmp_path: Path) -> None:
    part = safe_part(name)
    assert "/" not in part and "\\" not in part and part not in ("", ".", "..") and not part.startswith(".")
    assert join_inside(tmp_path, name, name).parent.parent == tmp_path.resolve()


def test_a_server_folder_is_confined_to_the_data_roots_after_resolving_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "inside").mkdir(parents=True)
    (root / "out").symlink_to(tmp_path)  # a symlink leading out of the root
    assert confine(root / "inside", [root]) == (root / "inside").resolve()
    for bad in ["/etc", root / "out", root / "inside" / ".." / "..", root / "out" / "x"]:
        with pytest.raises(UnsafePathError, match="outside the folders"):
            confine(bad, [root])
    os.environ.pop("FASHION_STUDIO_DATA_ROOTS", None)
    assert data_roots(root) == [root.resolve()]


@pytest.fixture()
def hostile(tmp_path: Path) -> LabelStore:
    """A dataset whose category, values and image names try traversal, formulas and markdown."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"x")
    (images / "b.jpg").write_bytes(b"y")
    store = LabelStore.open(Workspace(tmp_path / "ws"))
    cat = Category("../../../escape", ("../up", "=HYPERLINK(\"http://evil\")", "![x](http://evil/p.png)"), Kind.SINGLE)
    store.create_dataset("../ds", Schema("s", (cat,)), images, "csv")
    store.add_images("../ds", [ImageRecord("a.jpg"), ImageRecord("b.jpg")])
    store.add_annotations("../ds", [AnnotationRecord("a.jpg", cat.name, "../up"),
                                    AnnotationRecord("b.jpg", cat.name, cat.values[1])])
    return store


def test_export_folders_writes_nothing_outside_the_chosen_folder(hostile: LabelStore, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "er" / "out"
    before = {p for p in tmp_path.rglob("*") if "deep" not in p.parts}

    report = export_folders(hostile, "../ds", out)

    assert report.linked + report.copied == 2
    after = {p for p in tmp_path.rglob("*") if "deep" not in p.parts}
    assert after == before  # nothing appeared next to or above the output folder
    assert all(out.resolve() in p.resolve().parents for p in out.rglob("*"))


def test_export_labels_file_name_is_one_safe_part(hostile: LabelStore) -> None:
    assert "/" not in render_labels(hostile, "../ds", "csv").file_name


def test_a_formula_prefixed_value_is_neutralised_in_every_csv_the_studio_writes(hostile: LabelStore, tmp_path: Path) -> None:
    def cells(text: str) -> list[str]:
        return [c for row in csv.reader(io.StringIO(text)) for c in row]

    for value in FORMULAS:
        assert safe_cell(value) == "'" + value and plain_cell(safe_cell(value)) == value
    assert safe_cell("red") == "red" and safe_cell(-3) == -3
    # export-labels (csv, fashionai, jd), the distribution tables, the manifest, a run's history
    for fmt in ("csv", "fashionai"):
        text = render_labels(hostile, "../ds", fmt).text
        assert not any(c.startswith(("=", "+", "-", "@")) for c in cells(text)), text
    assert "'=HYPERLINK" in render_labels(hostile, "../ds", "csv").text
    table = pd.DataFrame({"value": FORMULAS, "count": [1, -2, 3, 4, 5, 6]})
    rows = list(csv.reader(io.StringIO(frame_to_csv(table))))
    assert rows[0] == ["value", "count"] and [r[0] for r in rows[1:]] == ["'" + v for v in FORMULAS]
    assert [r[1] for r in rows[1:]] == ["1", "-2", "3", "4", "5", "6"]  # numbers stay numbers
    manifest = tmp_path / "manifest.csv"
    writer = ManifestWriter(manifest)
    writer.write(RowResult(1, "=cmd", "http://x/a.jpg", Status.OK, "-bad", sha256="a" * 64))
    writer.commit()
    assert "'=cmd" in manifest.read_text() and "'-bad" in manifest.read_text()
    assert read_kept_hashes(manifest) == {"=cmd": "a" * 64}  # read back as written
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.append_history({"epoch": 1, "phase": "=evil", "loss": -0.5})
    assert "'=evil" in run.history.read_text() and run.read_history()[0]["loss"] == -0.5


def test_a_markdown_or_html_label_renders_as_plain_text() -> None:
    from streamlit.testing.v1 import AppTest

    def page() -> None:
        import streamlit as st

        from ui.text import plain

        st.caption(f"Model suggests **{plain('![x](http://evil/p.png) <img src=x> *b*')}**")

    at = AppTest.from_function(page).run()
    shown = at.caption[0].value
    assert "\\!\\[x\\]\\(http\\:" in shown and "&lt;img" in shown and "\\*b\\*" in shown
