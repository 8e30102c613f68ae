"""Tests for ``fashion-studio app``: the Streamlit command line it runs, and its options."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_core.app_files import app_dir
from fashion_core.cli import main
from fashion_core.cli.app import DEFAULT_HOST, streamlit_command
from fashion_core.errors import InstallError

REPO = Path(__file__).resolve().parents[3]


def test_in_a_checkout_the_app_files_are_the_top_level_ones() -> None:
    assert app_dir() == REPO and (app_dir() / "app.py").is_file()


def test_the_command_carries_the_app_s_streamlit_settings_and_listens_on_this_machine_by_default() -> None:
    command = streamlit_command(REPO, host=DEFAULT_HOST, port=8600)

    assert command[1:4] == ["-m", "streamlit", "run"] and command[4] == str(REPO / "app.py")
    assert "--server.fileWatcherType=none" in command and "--client.showErrorDetails=type" in command
    assert "--browser.gatherUsageStats=false" in command
    assert command[-2:] == ["--server.address=127.0.0.1", "--server.port=8600"]


def test_missing_app_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="app.py.*Reinstall"):
        streamlit_command(tmp_path, host=DEFAULT_HOST, port=8600)


def test_a_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["app", "--port", "70000"])

    assert done.value.code == 2 and "from 1 to 65535" in capsys.readouterr().err
