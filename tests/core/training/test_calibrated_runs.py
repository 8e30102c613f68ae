"""Every finished run is calibrated, whichever way it was started: the queue's real trainer
(``jobs.REAL_TRAINER``) trains and then calibrates, in the spawned process the Train page uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_core.modeling import Augmentation, TrainConfig
from fashion_core.runs import RunDir, get_run, verified_model_path
from fashion_core.serving import read_calibration
from fashion_core.store import LabelStore
from fashion_core.training import jobs
from fashion_core.workspace import Workspace
from tests.core.modeling._tiny_data import SIDE, make_dataset


@pytest.mark.slow
def test_a_run_finished_by_the_background_queue_is_calibrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jobs.TRAINER_ENV, raising=False)  # the real trainer, as the app and `runs submit` use
    monkeypatch.setattr(jobs, "DEFAULT_TRAINER", None)
    ws = Workspace(tmp_path / "ws").ensure()
    store = LabelStore.open(ws)
    try:
        make_dataset(store, tmp_path / "data", n=48, side=SIDE, categories=("colour", "size", "tags"))
        config = TrainConfig(dataset="tiny", backbone="mobilenet_v3_small", weights="none", image_size=SIDE,
                             epochs=1, schedule="heads", finetune_epochs=0, batch_size=8,
                             augmentation=Augmentation.off(), early_stopping_patience=0, reduce_lr_patience=0)
        run_id = jobs.submit(ws, config.to_dict(), runner=jobs.ProcessRunner())  # a spawned process, like the app
        final = jobs.wait(ws, run_id, timeout=420)
        assert final.state == "done", final.error
        run_dir = RunDir(get_run(store, run_id).run_dir)
        calibration = read_calibration(run_dir)
        assert calibration is not None, run_dir.log.read_text()[-2000:]
        assert set(calibration.temperatures) == {"colour", "size", "tags"}
        assert calibration.colour is not None  # the current format, with the colour view
        verified_model_path(store, run_id)  # calibration files recorded with the run's hashes
        assert f"calibrated run {run_id}" in run_dir.log.read_text()
    finally:
        store.close()
