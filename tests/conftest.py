"""Shared test helpers: tiny generated images and label files, a temporary workspace."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace


def write_image(path: Path, size: tuple[int, int] = (24, 24), seed: int = 0, fmt: str = "JPEG") -> Path:
    """Write a small random-coloured image (PIL) and return its path."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    img.save(path, fmt)
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure()


@pytest.fixture
def store(workspace: Workspace) -> LabelStore:
    s = LabelStore.open(workspace)
    yield s
    s.close()
