"""Silence file descriptor 2 for a moment: native libraries (TensorFlow, LiteRT) write there directly."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["silenced"]


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Point descriptor 2 at /dev/null inside the block (Python's ``sys.stderr`` cannot reach C++ logs)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no stderr descriptor: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
