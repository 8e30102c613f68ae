"""A test hook: die at a named point of a long write, so fault-injection tests can kill precisely.

``FASHION_CORE_FAULT=<point>`` in the environment makes the process SIGKILL itself when it
reaches ``fault_point(<point>)``; unset (always, outside tests) it costs one dict look-up.
The points: ``import:images``, ``import:annotations``, ``import:deleted-old``,
``import:before-commit`` (store/datasets.py); ``download:row-recorded``, ``download:image-part``,
``download:manifest-commit`` (download/); ``train:epoch-end``, ``train:before-finish`` (modeling/).
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "FASHION_CORE_FAULT"
# Caps the store's size in pages, so a test can fill the "disk" without filling a disk.
MAX_PAGES_ENV = "FASHION_CORE_FAULT_MAX_PAGES"


def fault_point(name: str) -> None:
    """Kill this process now if the environment asks for a fault at ``name``."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
