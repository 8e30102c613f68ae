"""CLI ``label-assist``, ``label-queue``, ``label`` and ``label-undo``: the Label page's loop from a shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashion_core.analysis.label_queue import MODES
from fashion_core.cli import main
from fashion_core.cli.labelling import MODES as CLI_MODES
from fashion_core.ingest import encode_code, import_labels
from fashion_core.schema import FASHIONAI
from fashion_core.store import ImageRecord, LabelStore
from fashion_core.workspace import Workspace
from tests.conftest import write_image

SLEEVE = "sleeve_length_labels"


@pytest.fixture
def dataset(tmp_path: Path, store: LabelStore) -> str:
    root, lines = tmp_path / "data", []
    for i in range(12):
        write_image(root / f"img/{i}.jpg", seed=i)
        if i < 8:
            value = "Long Sleeves" if i % 2 else "Short Sleeves"
            lines.append(f"img/{i}.jpg,{SLEEVE},{encode_code(FASHIONAI.category(SLEEVE), value)}\n")
    (tmp_path / "label.csv").write_text("".join(lines))
    import_labels(store, dataset="d", fmt="fashionai", files=[tmp_path / "label.csv"], images_root=root)
    store.add_images("d", [ImageRecord(f"img/{i}.jpg") for i in range(8, 12)])
    return "d"


def _run(capsys: pytest.CaptureFixture[str], workspace: Workspace, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(workspace.root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_modes_are_the_label_pages() -> None:
    assert CLI_MODES == tuple(MODES)


@pytest.mark.slow  # computes real (bundled EfficientNet-Lite0) features of the 12 images
def test_assist_queue_label_and_undo(capsys: pytest.CaptureFixture[str], workspace: Workspace, store: LabelStore,
                                     dataset: str) -> None:
    code, out, _ = _run(capsys, workspace, "label-queue", "--dataset", "d", "--mode", "label_next",
                        "--category", SLEEVE)
    assert code == 0 and "no assistant fit yet" in out and out.strip().endswith("4 cells")

    code, out, _ = _run(capsys, workspace, "label-assist", "--dataset", "d", "--json")
    fit = json.loads(out)
    assert code == 0 and fit["categories"] == [SLEEVE] and fit["images"] == 12

    code, out, _ = _run(capsys, workspace, "label-queue", "--dataset", "d", "--mode", "label_next",
                        "--category", SLEEVE, "--json")
    queue = json.loads(out)
    assert code == 0 and queue["model"] is True
    assert {i["path"] for i in queue["items"]} == {f"img/{i}.jpg" for i in range(8, 12)}
    first = queue["items"][0]
    assert first["current"] is None and first["suggestion"] in ("Long Sleeves", "Short Sleeves")
    assert 0.0 < first["probability"] <= 1.0

    code, out, _ = _run(capsys, workspace, "label", "--dataset", "d", "--image", first["path"], "--category",
                        SLEEVE, "--value", first["suggestion"], "--json")
    edit = json.loads(out)
    assert code == 0 and edit["old"] is None and edit["accepted_suggestion"] is True
    log = store.edit_history("d")
    assert len(log) == 1 and bool(log["accepted_suggestion"].iloc[0])
    assert store.current_value("d", first["image_id"], SLEEVE) == first["suggestion"]

    code, out, _ = _run(capsys, workspace, "label-queue", "--dataset", "d", "--mode", "no_label",
                        "--category", SLEEVE)
    assert code == 0 and first["path"] not in out and out.strip().endswith("3 cells")

    code, out, _ = _run(capsys, workspace, "label-undo", "--edit", str(edit["edit"]))
    assert code == 0 and f"Undid edit {edit['edit']}" in out
    assert store.current_value("d", first["image_id"], SLEEVE) is None
    assert len(store.edit_history("d")) == 2  # the undo is logged too: nothing is lost


def test_bad_requests_name_what_is_wrong(capsys: pytest.CaptureFixture[str], workspace: Workspace,
                                         dataset: str) -> None:
    code, _, err = _run(capsys, workspace, "label", "--dataset", "d", "--image", "img/99.jpg", "--category",
                        SLEEVE, "--value", "Long Sleeves")
    assert code == 1 and "img/99.jpg" in err and "--image" in err and "Traceback" not in err
    code, _, err = _run(capsys, workspace, "label", "--dataset", "d", "--image", "img/8.jpg", "--category",
                        SLEEVE, "--value", "Very Long")
    assert code == 1 and "Very Long" in err and "Traceback" not in err
    code, _, err = _run(capsys, workspace, "label-queue", "--dataset", "nope", "--mode", "no_label")
    assert code == 1 and "nope" in err
    code, _, err = _run(capsys, workspace, "label-queue", "--dataset", "d", "--mode", "no_label", "--limit", "0")
    assert code == 1 and "--limit" in err
    code, _, err = _run(capsys, workspace, "label-undo", "--edit", "12345")
    assert code == 1 and "12345" in err and "Traceback" not in err
