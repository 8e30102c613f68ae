"""Keras callbacks of a run: live status, history, cancel, best checkpoint bookkeeping."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fashion_core.faults import fault_point
from fashion_core.modeling.heads import Head
from fashion_core.runs.files import RunDir

MONITOR = "val_mean_accuracy"  # the validation metric the best checkpoint is chosen by
STATUS_INTERVAL_S = 1.0


class RunCancelled(Exception):
    """Raised inside training when the run's cancel flag appears; caught by ``train_run``."""


def mean_accuracy(logs: dict[str, Any], heads: Sequence[Head], prefix: str = "val_") -> float | None:
    """Mean accuracy over the heads that have labels in that split (None if none do)."""
    values = [logs.get(f"{prefix}{h.key}_accuracy") for h in heads]
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(values)) if values else None


def name_single_head_logs(logs: dict[str, Any], heads: Sequence[Head]) -> None:
    """Give a one-head model's logs the per-head names a multi-head model's logs have.

    Keras drops the output name when a model has a single output (``val_accuracy``, not
    ``val_<key>_accuracy``); history, metrics and the pages expect the head's name in it.
    The totals ``loss``/``val_loss`` stay (callbacks monitor them) and are copied per head.
    """
    if len(heads) != 1:
        return
    key = heads[0].key
    for prefix in ("", "val_"):
        for metric in ("accuracy", "auc"):
            if f"{prefix}{metric}" in logs:
                logs[f"{prefix}{key}_{metric}"] = logs.pop(f"{prefix}{metric}")
        if f"{prefix}loss" in logs:
            logs.setdefault(f"{prefix}{key}_loss", logs[f"{prefix}loss"])


class ProgressCallback(keras.callbacks.Callback):
    """Writes status.json (throttled) and history.csv, and stops the run on a cancel flag.

    Put it first in the callback list: it adds ``val_mean_accuracy`` to the epoch logs,
    which the checkpoint, early-stopping and learning-rate callbacks after it read.

    Args:
        run_dir: The run folder.
        heads: The model's heads (for the mean accuracy).
        val_heads: Heads with validation labels (the mean is over these).
        total_epochs: Epochs of all phases together (for the ETA).
        on_epoch: Optional hook called with each history row (the CLI prints it).
    """

    def __init__(self, run_dir: RunDir, heads: Sequence[Head], *, val_heads: Sequence[Head], total_epochs: int,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.heads = tuple(heads)
        self.val_heads = tuple(val_heads)
        self.total_epochs = total_epochs
        self.on_epoch = on_epoch
        self.phase = "train"
        self.rows: list[dict[str, Any]] = []
        self._epoch = 0
        self._epoch_start = time.perf_counter()
        self._last_write = 0.0
        self._batches: int | None = None

    # -- cancel ---------------------------------------------------------------------------

    def check_cancel(self) -> None:
        if self.run_dir.cancel_requested():
            raise RunCancelled(f"run {self.run_dir.run_id} cancelled")

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.check_cancel()

    # -- progress -------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._batches = self.params.get("steps")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        self._write(batch=0, force=True)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.check_cancel()
        self._write(batch=batch + 1, logs=logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        name_single_head_logs(logs, self.heads)
        val_mean = mean_accuracy(logs, self.val_heads)
        if val_mean is not None:
            logs[MONITOR] = val_mean
        train_mean = mean_accuracy(logs, self.heads, prefix="")
        if train_mean is not None:
            logs["mean_accuracy"] = train_mean
        row = {"epoch": epoch + 1, "phase": self.phase, "learning_rate": self._learning_rate(),
               "seconds": round(time.perf_counter() - self._epoch_start, 3)}
        row.update({k: _plain(v) for k, v in logs.items()})
        self.rows.append(row)
        self.run_dir.append_history(row)
        self._write(batch=self._batches or 0, force=True, message=_summary(row))
        fault_point("train:epoch-end")  # history and status of the epoch written, no model yet
        if self.on_epoch is not None:
            self.on_epoch(row)

    @property
    def seconds_per_epoch(self) -> float | None:
        same = [r["seconds"] for r in self.rows if r["phase"] == self.phase] or [r["seconds"] for r in self.rows]
        return float(np.mean(same)) if same else None

    def _write(self, *, batch: int, force: bool = False, logs: dict[str, Any] | None = None,
               message: str | None = None) -> None:
        now = time.perf_counter()
        if not force and now - self._last_write < STATUS_INTERVAL_S:
            return
        self._last_write = now
        batches = self._batches or 0
        fields: dict[str, Any] = {
            "state": "running", "phase": self.phase, "epoch": self._epoch + 1, "epochs": self.total_epochs,
            "batch": batch, "batches": batches, "eta_seconds": self._eta(batch, batches, now),
            "seconds_per_epoch": self.seconds_per_epoch,
        }
        if message is None and logs and "loss" in logs:
            message = f"epoch {self._epoch + 1}/{self.total_epochs}, batch {batch}/{batches}, loss {float(logs['loss']):.4f}"
        if message is not None:
            fields["message"] = message
        self.run_dir.write_status(**fields)

    def _eta(self, batch: int, batches: int, now: float) -> float | None:
        elapsed = now - self._epoch_start
        per_epoch = self.seconds_per_epoch
        if per_epoch is None:
            if batch == 0 or not batches:
                return None
            per_epoch = elapsed / batch * batches
        rest_of_epoch = max(per_epoch - elapsed, 0.0) if batch < batches else 0.0
        return round(rest_of_epoch + per_epoch * max(self.total_epochs - self._epoch - 1, 0), 1)

    def _learning_rate(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            return None


class RecordCheckpoint(keras.callbacks.Callback):
    """After ModelCheckpoint: hash a newly saved best model and hand the hash to ``record``.

    Recording at every save (not only at the end) means a run that is killed keeps a
    loadable best checkpoint.
    """

    def __init__(self, path: Path, record: Callable[[Path], None]) -> None:
        super().__init__()
        self.path = Path(path)
        self.record = record
        self._seen: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.path.exists():
            return
        stamp = self.path.stat().st_mtime_ns
        if stamp != self._seen:
            self._seen = stamp
            self.record(self.path)


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the best epoch in memory (quick mode saves the full model once)."""

    def __init__(self, monitor: str = MONITOR) -> None:
        super().__init__()
        self.monitor = monitor
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.best is None or float(value) > self.best:
            self.best, self.best_epoch = float(value), epoch + 1
            self.weights = self.model.get_weights()


def _plain(value: Any) -> Any:
    try:
        return round(float(value), 6)
    except (TypeError, ValueError):
        return value


def _summary(row: dict[str, Any]) -> str:
    parts = [f"epoch {row['epoch']} ({row['phase']}) in {row['seconds']:.1f}s", f"loss {row.get('loss', float('nan')):.4f}"]
    if MONITOR in row:
        parts.append(f"val mean accuracy {row[MONITOR]:.3f}")
    return ", ".join(parts)
