"""The maps CLI: ``regroup --save`` then ``stats --map --json``, ``maps ...`` and ``export-folders``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.cli import main
from fashion_core.ingest import encode_code, import_labels
from fashion_core.labels import map_versions
from fashion_core.schema import FASHIONAI
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace
from tests.conftest import write_image

REPO = Path(__file__).resolve().parents[3]
SLEEVE = "sleeve_length_labels"
VALUES = [
    "Invisible",
    "Cup Sleeves",
    "Cup Sleeves",
    "Short Sleeves",
    "Long Sleeves",
    "Long Sleeves",
    "Long Sleeves",
]


@pytest.fixture
def home(tmp_path: Path) -> str:
    ws = Workspace(tmp_path / "ws").ensure()
    root, lines = tmp_path / "data", []
    for i, value in enumerate(VALUES):
        write_image(root / f"Images/{i}.jpg", seed=i)
        maybe = ("Short Sleeves",) if i == 4 else ()
        lines.append(f"Images/{i}.jpg,{SLEEVE},{encode_code(FASHIONAI.category(SLEEVE), value, maybe)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    store = LabelStore.open(ws)
    import_labels(store, dataset="d", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    store.close()
    return str(ws.root)


def _run(capsys: pytest.CaptureFixture[str], home: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--home", home, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], home: str, *argv: str) -> dict:
    code, out, err = _run(capsys, home, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_regroup_save_then_stats_through_the_map(capsys: pytest.CaptureFixture[str], home: str) -> None:
    plain = _json(capsys, home, "stats", "--dataset", "d")
    first = _json(
        capsys,
        home,
        "regroup",
        "--dataset",
        "d",
        "--category",
        SLEEVE,
        "--drop",
        "Invisible",
        "--merge",
        "Cup Sleeves,Short Sleeves=>Short",
        "--save",
        "m1",
    )
    assert (first["map"], first["version"], first["active"]) == ("m1", 1, False)
    assert [list(s)[1] for s in first["steps"]] == ["drop", "merge"]  # command-line order kept
    assert first["before"]["Cup Sleeves"] == 2 and first["after"] == {
        "Sleeveless": 0,
        "Short": 3,
        "Elbow Sleeves": 0,
        "3/4 Sleeves": 0,
        "Wrist Length": 0,
        "Long Sleeves": 3,
        "Extra Long Sleeves": 0,
    }
    second = _json(
        capsys,
        home,
        "regroup",
        "--dataset",
        "d",
        "--category",
        SLEEVE,
        "--rename",
        "Short=>S",
        "--maybe",
        "drop",
        "--save",
        "m1",
        "--activate",
    )
    assert (second["version"], len(second["steps"]), second["active"]) == (2, 4, True)

    mapped = _json(capsys, home, "stats", "--dataset", "d", "--map", "m1")
    assert set(mapped) == set(plain) == {"dataset", "map", "categories"}
    assert list(mapped["categories"]) == list(plain["categories"]) == FASHIONAI.category_names
    assert mapped["map"] == "m1" and plain["map"] is None
    assert mapped["categories"][SLEEVE] == {
        "Sleeveless": 0,
        "S": 3,
        "Elbow Sleeves": 0,
        "3/4 Sleeves": 0,
        "Wrist Length": 0,
        "Long Sleeves": 2,
        "Extra Long Sleeves": 0,
    }
    assert _json(capsys, home, "stats", "--dataset", "d") == plain  # no --map: labels before any map
    assert plain["categories"][SLEEVE]["Invisible"] == 1


def test_stats_map_json_from_a_real_process(capsys: pytest.CaptureFixture[str], home: str) -> None:
    _json(
        capsys,
        home,
        "regroup",
        "--dataset",
        "d",
        "--category",
        SLEEVE,
        "--merge",
        "Cup Sleeves=>Short Sleeves",
        "--save",
        "m",
    )
    in_process = _json(capsys, home, "stats", "--dataset", "d", "--map", "m")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FASHION_STUDIO_HOME": home}
    proc = subprocess.run(
        [sys.executable, "-m", "fashion_core", "stats", "--dataset", "d", "--map", "m", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == in_process
    assert in_process["categories"][SLEEVE]["Short Sleeves"] == 3


def test_bad_step_is_an_error_and_nothing_is_saved(capsys: pytest.CaptureFixture[str], home: str) -> None:
    _json(
        capsys, home, "regroup", "--dataset", "d", "--category", SLEEVE, "--drop", "Invisible", "--save", "m"
    )
    code, _, err = _run(
        capsys,
        home,
        "regroup",
        "--dataset",
        "d",
        "--category",
        SLEEVE,
        "--drop",
        "Cup Sleeves",
        "--merge",
        "Invisible=>Nothing",
        "--save",
        "m",
    )
    assert code == 1
    assert (
        "Step 3 (sleeve_length_labels: merge 'Invisible' -> 'Nothing')" in err
        and "'Invisible' is not a value" in err
    )
    assert map_versions(LabelStore.open(Workspace(Path(home))), "m") == [1]
    code, _, err = _run(capsys, home, "regroup", "--dataset", "d", "--category", SLEEVE, "--save", "m")
    assert code == 1 and "Nothing to do" in err
    code, _, err = _run(capsys, home, "regroup", "--dataset", "d", "--category", "hat", "--drop", "x")
    assert code == 1 and "Unknown category 'hat'" in err


def test_preview_without_save(capsys: pytest.CaptureFixture[str], home: str) -> None:
    code, out, _ = _run(
        capsys,
        home,
        "regroup",
        "--dataset",
        "d",
        "--category",
        SLEEVE,
        "--merge",
        "Cup Sleeves|Short Sleeves=>Short",
    )
    assert code == 0 and "Preview only" in out and "      3 ->       0  Long Sleeves" not in out
    assert "->       3  Short" in out
    assert _json(capsys, home, "maps", "list") == {"maps": []}


def test_maps_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: str) -> None:
    installed = _json(capsys, home, "maps", "install-examples")
    assert installed["maps"] == [{"name": "fashionai_source", "version": 1, "steps": 7}]
    _json(
        capsys,
        home,
        "regroup",
        "--dataset",
        "d",
        "--category",
        SLEEVE,
        "--drop",
        "Invisible",
        "--drop",
        "Cup Sleeves",
        "--save",
        "m",
    )
    listed = _json(capsys, home, "maps", "list")["maps"]
    assert [(m["name"], m["version"], m["steps"]) for m in listed] == [
        ("fashionai_source", 1, 7),
        ("m", 1, 2),
    ]
    assert _run(capsys, home, "maps", "export", "m", str(tmp_path / "m.yaml"))[0] == 0
    imported = _json(capsys, home, "maps", "import", str(tmp_path / "m.yaml"), "--name", "copy")
    assert (imported["name"], imported["version"], len(imported["steps"])) == ("copy", 1, 2)
    undone = _json(capsys, home, "maps", "undo", "m")
    assert undone["version"] == 2 and undone["steps"] == [{"category": SLEEVE, "drop": ["Invisible"]}]
    shown = _json(capsys, home, "maps", "show", "m", "--version", "1")
    assert shown["version"] == 1 and [v["version"] for v in shown["versions"]] == [1, 2]
    assert _run(capsys, home, "maps", "activate", "m", "--dataset", "d")[0] == 0
    assert _json(capsys, home, "datasets")["datasets"][0]["active_map"] == "m"
    code, _, err = _run(capsys, home, "maps", "delete", "m")
    assert code == 1 and "active in dataset" in err
    assert _run(capsys, home, "maps", "deactivate", "--dataset", "d")[0] == 0
    assert _json(capsys, home, "datasets")["datasets"][0]["active_map"] is None
    assert _run(capsys, home, "maps", "delete", "copy")[0] == 0
    code, _, err = _run(capsys, home, "maps", "show", "copy")
    assert code == 1 and "No label map named 'copy'" in err
    (tmp_path / "bad.yaml").write_text("name: x\nsteps: [{category: c, drop: []}]\n")
    code, _, err = _run(capsys, home, "maps", "import", str(tmp_path / "bad.yaml"))
    assert code == 1 and "bad.yaml: steps[0]" in err


def test_export_folders_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: str) -> None:
    _json(
        capsys,
        home,
        "regroup",
        "--dataset",
        "d",
        "--category",
        SLEEVE,
        "--drop",
        "Invisible",
        "--merge",
        "Cup Sleeves,Short Sleeves=>Short",
        "--save",
        "m",
        "--activate",
    )
    report = _json(capsys, home, "export-folders", "--dataset", "d", "--out", str(tmp_path / "out"))
    assert (
        report["map"] == "m"
        and report["files"] == 6
        and report["counts"][SLEEVE] == {"Short": 3, "Long Sleeves": 3}
    )
    assert len(os.listdir(tmp_path / "out" / SLEEVE / "Short")) == 3
    raw = _json(
        capsys, home, "export-folders", "--dataset", "d", "--out", str(tmp_path / "raw"), "--no-map", "--copy"
    )
    assert raw["map"] is None and raw["copied"] == 7 and raw["linked"] == 0
