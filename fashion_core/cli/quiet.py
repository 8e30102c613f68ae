"""Keep TensorFlow's and absl's log lines out of the CLI's output unless ``--verbose``.

Must run before TensorFlow is imported. ``TF_CPP_MIN_LOG_LEVEL`` covers what TensorFlow logs
once it runs; a few lines (oneDNN's notice) are printed while its libraries load, before that
variable is applied, so the first ``import tensorflow`` also runs with stderr's file descriptor
pointed at /dev/null. A failed import still raises, with its message, after stderr is back.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from fashion_core.stderr import silenced


def set_log_levels(*, verbose: bool) -> None:
    """Quieten TensorFlow and absl (or not, with ``verbose``); route the studio's notes to stderr.

    A ``TF_CPP_MIN_LOG_LEVEL`` already set in the environment is kept.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    logging.getLogger("tensorflow").setLevel(logging.INFO if verbose else logging.ERROR)
    try:  # absl's logger must be made by absl itself (its own class), so go through its API
        from absl import logging as absl_logging
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to quieten
        pass
    else:
        absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.ERROR)
    if not verbose and "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
    notes = logging.getLogger("fashion_core")
    if not any(isinstance(h, _NoteHandler) for h in notes.handlers):
        notes.addHandler(_NoteHandler())
        notes.setLevel(logging.INFO)


class _NoteHandler(logging.Handler):
    """The library's log records (e.g. a workspace upgrade and its backup) as ``note: ...`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"note: {record.getMessage()}", file=sys.stderr)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, as the other finders would, and loads it with stderr silenced."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: later imports find the loaded module
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            load = spec.loader.exec_module

            def exec_module(module: ModuleType) -> None:
                with silenced():
                    load(module)

            spec.loader.exec_module = exec_module  # this module's own loader object only
        return spec


