"""The real trainer: train a run, then calibrate it, so every finished run (CLI ``train``, the Train
page, the queue) answers with calibrated probabilities, a familiarity score and applies estimates.

It lives here, above both ``modeling`` (training) and ``serving`` (the Predictor calibration loads):
``training`` only runs a trainer it is given by name (``training.jobs.REAL_TRAINER``) and never
imports one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fashion_core.analysis.calibration import calibrate_run
from fashion_core.errors import FashionCoreError
from fashion_core.modeling.report import RunLog
from fashion_core.runs.files import RunDir
from fashion_core.store import LabelStore
from fashion_core.workspace import Workspace

if TYPE_CHECKING:
    from fashion_core.modeling.config import TrainConfig
    from fashion_core.modeling.training import EpochHook


def train_and_calibrate(store: LabelStore, workspace: Workspace, config: TrainConfig, run_dir: RunDir, *,
                        on_epoch: EpochHook | None = None,
                        on_note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``train_run`` with ``calibrate_run`` as its last step before the run ends ``done``; returns the
    training metrics (with ``calibrated``).

    A calibration failure does not fail the run (its model is good): it is written to the run's
    log and the metrics say ``"calibrated": false`` with the reason; ``calibrate --run`` retries.
    """
    run_log = RunLog(run_dir.log)
    outcome: dict[str, Any] = {}

    def log(line: str) -> None:  # the run's log.txt, and the caller (the CLI prints it)
        run_log.write(line)
        if on_note is not None:
            on_note(line)

    def calibrate() -> None:  # the model is recorded, the run not yet done: never seen done uncalibrated
        log(f"calibrating run {run_dir.run_id} on its own images...")
        try:
            calibrate_run(store, run_dir.run_id)
        except FashionCoreError as exc:
            log(f"warning: run {run_dir.run_id} not calibrated ({exc}); try `python -m fashion_core"
                f" calibrate --run {run_dir.run_id}`")
            outcome["calibration_error"] = str(exc)
            return
        log(f"calibrated run {run_dir.run_id}")

    from fashion_core.modeling.training import train_run  # TensorFlow: only when a run trains

    metrics = train_run(store, workspace, config, run_dir, on_epoch=on_epoch, before_done=calibrate)
    if metrics.get("state") != "done":
        return metrics
    return {**metrics, "calibrated": "calibration_error" not in outcome, **outcome}
