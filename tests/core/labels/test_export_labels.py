"""Label export: each format, imported into a new dataset, gives back the same current labels."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fashion_core.cli import main
from fashion_core.cli.labels import FORMATS as CLI_FORMATS
from fashion_core.errors import ExportError
from fashion_core.ingest import encode_code, import_labels
from fashion_core.labels import (
    LABEL_FORMATS,
    NO_MAP,
    LabelMap,
    LabelSource,
    Op,
    Step,
    activate_map,
    export_labels,
    label_view,
    parse_merge,
    render_labels,
    save_map,
)
from fashion_core.schema import FASHIONAI, JD
from fashion_core.store import LabelStore
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"
COAT = "coat_length_labels"
ROWS = [  # (path, category, value, maybe values)
    ("img/s1.jpg", SLEEVE, "Long Sleeves", ("Wrist Length",)),
    ("img/s2.jpg", SLEEVE, "Short Sleeves", ()),
    ("img/s3.jpg", SLEEVE, "Cup Sleeves", ("Short Sleeves", "Sleeveless")),
    ("img/s4.jpg", SLEEVE, "Wrist Length", ()),
    ("img/c1.jpg", COAT, "Regular Length", ("Long Length",)),
    ("img/c2.jpg", COAT, "Long Length", ()),
]


def _same_labels(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = ["path", "category", "value", "maybe"]
    norm = [x[cols].fillna("").sort_values(["path", "category"]).reset_index(drop=True) for x in (a, b)]
    pd.testing.assert_frame_equal(*norm)


@pytest.fixture
def fashionai(tmp_path: Path, store: LabelStore) -> str:
    root = tmp_path / "data"
    lines = []
    for i, (path, cat, value, maybe) in enumerate(ROWS):
        write_image(root / path, seed=i)
        lines.append(f"{path},{cat},{encode_code(FASHIONAI.category(cat), value, maybe)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    import_labels(store, dataset="fa", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    ids = store.image_ids("fa")
    store.edit_label("fa", ids["img/s2.jpg"], SLEEVE, "Sleeveless", annotator="ann", suggestion_accepted=True)
    store.edit_label("fa", ids["img/c2.jpg"], COAT, None, annotator="ann")  # excluded: not exported
    return "fa"


@pytest.fixture
def jd(tmp_path: Path, store: LabelStore) -> str:
    root = tmp_path / "jd"
    lines = ["id,url," + ",".join(f"l{i}" for i in range(1, 14))]
    for i, flags in enumerate(["1000000000001", "0110000000000", "0000000000000"]):
        write_image(root / f"{i:03d}.jpg", seed=i)
        lines.append(f"{i:03d},http://example.invalid/{i}.jpg," + ",".join(flags))
    (tmp_path / "jd.csv").write_text("\n".join(lines) + "\n")
    import_labels(store, dataset="jd", fmt="jd", files=[tmp_path / "jd.csv"], images_root=root)
    store.edit_label("jd", store.image_ids("jd")["002.jpg"], "style", "style_05", annotator="ann")
    return "jd"


def _round_trip(store: LabelStore, tmp_path: Path, dataset: str, fmt: str, source: LabelSource = NO_MAP) -> pd.DataFrame:
    out = tmp_path / f"{dataset}-{fmt}.out"
    export = export_labels(store, dataset, fmt, out, source=source)
    schema = export.schema if fmt in ("fashionai", "jd", "csv") else None
    import_labels(store, dataset=f"{dataset}-{fmt}-back", fmt=fmt, files=[out],
                  images_root=store.dataset(dataset).images_root, schema=schema)
    return store.current_labels(f"{dataset}-{fmt}-back")


@pytest.mark.parametrize("fmt", ["fashionai", "csv", "json"])
def test_single_choice_round_trip_keeps_values_and_maybe_marks(
        tmp_path: Path, store: LabelStore, fashionai: str, fmt: str) -> None:
    back = _round_trip(store, tmp_path, fashionai, fmt)
    current = store.current_labels(fashionai)
    assert len(current) == len(ROWS) - 1
    _same_labels(back, current)
    assert "m" in render_labels(store, fashionai, "fashionai", source=NO_MAP).text.split("\n")[0]


@pytest.mark.parametrize("fmt", ["fashionai", "csv", "json"])
def test_round_trip_through_a_label_map(tmp_path: Path, store: LabelStore, fashionai: str, fmt: str) -> None:
    steps = (parse_merge("Cup Sleeves,Short Sleeves=>Short", SLEEVE), Step(Op.MAYBE, SLEEVE, policy="keep"))
    save_map(store, LabelMap("short", steps))
    activate_map(store, fashionai, "short")
    view = label_view(store, fashionai)
    assert "Short" in view.schema.category(SLEEVE).values
    back = _round_trip(store, tmp_path, fashionai, fmt, LabelSource.named("short"))
    _same_labels(back, view.labels)
    assert (back["maybe"] != "").any()  # marks survive the map and the trip


@pytest.mark.parametrize("fmt", ["jd", "csv", "json"])
def test_multi_label_round_trip(tmp_path: Path, store: LabelStore, jd: str, fmt: str) -> None:
    back = _round_trip(store, tmp_path, jd, fmt)
    _same_labels(back, store.current_labels(jd))


def test_jd_list_keeps_ids_urls_and_flag_order(store: LabelStore, jd: str) -> None:
    lines = render_labels(store, jd, "jd").text.splitlines()
    assert lines[0] == "id,url," + ",".join(JD.categories[0].values)
    assert lines[1] == "000,http://example.invalid/0.jpg,1,0,0,0,0,0,0,0,0,0,0,0,1"


def test_json_holds_provenance(store: LabelStore, fashionai: str) -> None:
    doc = json.loads(render_labels(store, fashionai, "json").text)
    labels = {(i["path"], c): lab for i in doc["images"] for c, lab in i["labels"].items()}
    edited = labels[("img/s2.jpg", SLEEVE)]
    assert edited["value"] == "Sleeveless" and edited["source"] == "edited"
    assert edited["by"] == "ann" and edited["at"] and edited["accepted_suggestion"] is True
    original = labels[("img/s1.jpg", SLEEVE)]
    assert original["source"] == "original" and original["maybe"] == "Wrist Length"
    assert ("img/c2.jpg", COAT) not in labels  # excluded from the category


def test_formats_refuse_schemas_they_cannot_hold(store: LabelStore, fashionai: str, jd: str) -> None:
    with pytest.raises(ExportError, match="multi-label"):
        render_labels(store, jd, "fashionai")
    with pytest.raises(ExportError, match="one multi-label category"):
        render_labels(store, fashionai, "jd")
    with pytest.raises(ExportError, match="format"):
        render_labels(store, fashionai, "xml")


def test_cli_writes_the_file_and_refuses_to_overwrite(tmp_path: Path, store: LabelStore, fashionai: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert set(CLI_FORMATS) == set(LABEL_FORMATS)
    out = tmp_path / "exported.csv"
    home = str(store.db_path.parent)
    args = ["--home", home, "export-labels", "--dataset", fashionai, "--no-map", "--format", "fashionai",
            "--out", str(out), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == len(ROWS) - 1
    assert out.read_text().count("\n") == len(ROWS) - 1
    assert main(args) == 1
    assert "already exists" in capsys.readouterr().err
