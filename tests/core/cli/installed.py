"""Build the studio's wheel and install it into a fresh virtual environment, offline.

The new environment reuses the dependencies of the one running the tests (a ``.pth`` line
naming its site-packages: ``venv --system-site-packages`` would only reach the base Python's),
and gets the wheel with ``--no-index --no-deps``, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# What a wheel is not built from (tests, docs, benchmarks, local state).
NOT_SOURCE = {".git", ".venv", "workspace", "tests", "docs", "bench", "build", "dist", ".pytest_cache", ".ruff_cache"}


def install_studio(root: Path) -> Path:
    """Build the wheel under ``root`` and install it in ``root/venv``; return the ``fashion-studio`` command."""
    source = root / "src"
    shutil.copytree(REPO, source, ignore=_not_source)  # the build writes build/ and *.egg-info/ beside it
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(root / "dist"),
          str(source)])
    [wheel] = (root / "dist").glob("fashion_attribute_studio-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "_reuse_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([*pip, "--python", str(python), "install", "--no-index", "--no-deps", "-q", str(wheel)])
    return venv / "bin" / "fashion-studio"


def outside_env() -> dict[str, str]:
    """The environment for the installed command: nothing points back at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "FASHION_STUDIO_HOME", "VIRTUAL_ENV"}}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _not_source(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == REPO
    return {n for n in names if (top and n in NOT_SOURCE) or n == "__pycache__" or n.endswith(".egg-info")}


def _run(cmd: list[str | Path]) -> None:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
