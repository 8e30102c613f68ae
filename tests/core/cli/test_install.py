"""Tests for the installed studio: the wheel, its ``fashion-studio`` command, from an unrelated folder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.core.cli.installed import install_studio, outside_env


@pytest.fixture(scope="module")
def studio_command(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_studio(tmp_path_factory.mktemp("install"))


def _studio(command: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(command), *args], cwd=cwd, env=outside_env(), capture_output=True, text=True,
                          timeout=300)


def test_the_installed_command_runs_from_an_empty_folder_elsewhere(studio_command: Path, tmp_path: Path) -> None:
    here = tmp_path / "elsewhere"
    here.mkdir()

    helped = _studio(studio_command, here, "--help")
    drawn = _studio(studio_command, here, "demo-data", "--images", "50")
    stats = _studio(studio_command, here, "stats", "--dataset", "demo", "--json")

    assert helped.returncode == 0 and helped.stdout.startswith("usage: fashion-studio")
    assert all(c in helped.stdout for c in ("demo-data", "stats", "train", "app", "exit codes:"))
    assert drawn.returncode == 0, drawn.stderr
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)
    assert counts["dataset"] == "demo" and len(counts["categories"]) == 8
    assert (here / "workspace" / "studio.db").is_file()  # the workspace is where the user is


def test_the_installed_package_is_the_wheel_with_the_app_s_files(studio_command: Path, tmp_path: Path) -> None:
    python = studio_command.parent / "python"
    code = "import fashion_core.app_files as a; print(a.__file__); print(a.app_dir())"

    done = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=outside_env(), capture_output=True,
                          text=True, timeout=60)

    module, app = (Path(line) for line in done.stdout.split())
    assert module.is_relative_to(studio_command.parents[1]) and app == module.parent / "_app"
    assert all((app / name).exists() for name in ("app.py", "pages/home.py", "ui/services.py",
                                                  "assets/label_maps/fashionai_source.yaml",
                                                  ".streamlit/config.toml"))
    installed = _studio(studio_command, tmp_path, "maps", "install-examples")
    assert installed.returncode == 0 and "fashionai_source" in installed.stdout
