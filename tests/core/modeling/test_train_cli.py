"""Tests for ``python -m fashion_core train``: the JSON interface other tools rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.runs import RunDir, get_run
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace
from tests.core.modeling._tiny_data import make_dataset

REPO = Path(__file__).resolve().parents[3]


def _cli(workspace: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "fashion_core", "--home", str(workspace.root), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_train_json_prints_the_run_and_per_category_validation_accuracy(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=24, categories=("colour", "size"))

    done = _cli(
        workspace,
        "train",
        "--dataset",
        "tiny",
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "none",
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--quick",
        "--batch-size",
        "8",
        "--json",
    )

    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)  # stdout holds the JSON object only; progress goes to stderr
    assert set(out) == {"run", "metrics"}
    accuracy = out["metrics"]["val_accuracy"]
    assert set(accuracy) == {"colour", "size"} and all(0.0 <= v <= 1.0 for v in accuracy.values())
    run = get_run(store, out["run"])
    assert run.status == "done" and run.metrics["val_accuracy"] == accuracy
    assert RunDir(run.run_dir).model.exists()
    assert "epoch 2 [heads]" in done.stderr


def test_train_with_bad_options_fails_before_training(
    store: LabelStore, workspace: Workspace, tmp_path: Path
) -> None:
    make_dataset(store, tmp_path / "data", n=6, categories=("colour",))

    unknown = _cli(workspace, "train", "--dataset", "nope", "--json")
    bad = _cli(workspace, "train", "--dataset", "tiny", "--epochs", "0", "--json")

    assert unknown.returncode != 0 and "nope" in unknown.stderr and not unknown.stdout.strip()
    assert bad.returncode != 0 and "epochs=0" in bad.stderr
