"""Tests for the CLI as a script's tool: documented exit codes, no TensorFlow chatter, closed pipes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_core.cli import main
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace
from tests.core.modeling._tiny_data import draw, make_dataset

REPO = Path(__file__).resolve().parents[3]
# TensorFlow's C++ log lines (absl's format and the older one), its Python loggers, absl's.
TF_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |WARNING:(?:absl|tensorflow):"
    r"|WARNING: All log messages before absl)|oneDNN custom operations|cpu_feature_guard|Created TensorFlow Lite XNNPACK delegate",  # LiteRT too
    re.M,
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the CLI's own default
    return {**env, "PYTHONPATH": str(REPO)}


def _cli(home: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fashion_core", "--home", str(home), *args], cwd=REPO,
                          env=_env(), text=True, timeout=600, **kw)


@pytest.fixture
def demo_home(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REPO / "tests" / "fixtures" / "workspace_v4", tmp_path / "ws"))


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])

    text = capsys.readouterr().out
    assert done.value.code == 0 and "--verbose" in text
    for code in ("0", "1", "2", "3", "130", "141"):
        assert re.search(rf"^  {code} +\S", text, re.M), code


def test_a_closed_pipe_ends_the_command_quietly(demo_home: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = _cli(demo_home, "stats", "--dataset", "demo", stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)

    assert done.returncode == 141 and done.stderr == ""


def test_piping_into_head_prints_no_error(demo_home: Path) -> None:
    command = f"set -o pipefail; {sys.executable} -m fashion_core --home {demo_home} stats --dataset demo | head -1"

    done = subprocess.run(["bash", "-c", command], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)

    assert done.returncode in (0, 141) and len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


@pytest.mark.slow
def test_train_and_predict_print_no_tensorflow_log_lines_unless_verbose(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure()
    store = LabelStore.open(ws)
    make_dataset(store, tmp_path / "data", n=24, categories=("colour", "size"))
    store.close()
    draw(tmp_path / "photo.jpg", "red", "large", seed=99)
    capture = {"capture_output": True}

    trained = _cli(ws.root, "train", "--dataset", "tiny", "--backbone", "mobilenet_v3_small", "--weights", "none",
                   "--image-size", "32", "--epochs", "1", "--quick", "--batch-size", "8", "--json", **capture)
    assert trained.returncode == 0, trained.stderr[-3000:]
    run = re.search(r'"run": "([^"]+)"', trained.stdout).group(1)
    predicted = _cli(ws.root, "predict", "--run", run, str(tmp_path / "photo.jpg"), "--json", **capture)
    verbose = _cli(ws.root, "--verbose", "predict", "--run", run, str(tmp_path / "photo.jpg"), **capture)

    assert "Training on the CPU" in trained.stderr  # which devices the run uses
    assert not TF_LINE.search(trained.stderr), trained.stderr
    assert predicted.returncode == 0 and not TF_LINE.search(predicted.stderr), predicted.stderr
    assert predicted.stdout.strip().startswith("{")
    assert verbose.returncode == 0 and TF_LINE.search(verbose.stderr)  # the check would see them
