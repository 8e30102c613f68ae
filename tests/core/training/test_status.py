"""JobStatus: a typed record of a run's state whose dict form keeps the CLI's --json shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_core.store import RunRecord
from fashion_core.training import JobStatus


def _record(status: str = "running") -> RunRecord:
    return RunRecord(id="r1", dataset="d", status=status, run_dir=Path("/w/runs/r1"), config={"epochs": 3},
                     metrics=None, model_sha256=None, error=None, created_at="t0", updated_at="t2")


def test_the_row_wins_and_status_json_fills_in() -> None:
    live = {"state": "queued", "run": "r1", "phase": "heads", "epoch": 2, "epochs": 3, "eta_seconds": 4.5,
            "pid": 42, "updated_at": "t1", "custom": "kept"}
    st = JobStatus.from_parts(_record(), live, cancel_requested=True)
    assert (st.state, st.phase, st.epoch, st.eta_seconds, st.pid, st.updated_at) == ("running", "heads", 2, 4.5, 42, "t2")
    assert st.cancel_requested and not st.finished and st.details["custom"] == "kept"
    with pytest.raises(AttributeError):
        st.state = "done"  # type: ignore[misc]


def test_to_dict_has_the_shape_the_cli_printed() -> None:
    live = {"state": "running", "phase": "heads", "epoch": 2, "message": "epoch 2", "custom": 1}
    out = JobStatus.from_parts(_record(), live, cancel_requested=False).to_dict()
    assert out == {
        "state": "running", "phase": "heads", "epoch": 2, "message": "epoch 2", "custom": 1,
        "run": "r1", "dataset": "d", "error": None, "config": {"epochs": 3}, "metrics": None,
        "model_sha256": None, "created_at": "t0", "updated_at": "t2", "run_dir": "/w/runs/r1",
        "cancel_requested": False,
    }
    queued = JobStatus.from_parts(_record("queued"), {}, cancel_requested=False, queue_position=2).to_dict()
    assert queued["queue_position"] == 2 and "log_tail" not in queued
    failed = JobStatus.from_parts(_record("failed"), {}, cancel_requested=False, log_tail="").to_dict()
    assert failed["log_tail"] == "" and "queue_position" not in failed
    assert JobStatus.from_dict(out).to_dict() == out


def test_numbers_that_are_not_numbers_are_none_but_kept_in_the_dict() -> None:
    st = JobStatus.from_dict({"state": "running", "epoch": "soon", "batch": True})
    assert (st.epoch, st.batch) == (None, None)
    assert st.to_dict()["epoch"] == "soon"
