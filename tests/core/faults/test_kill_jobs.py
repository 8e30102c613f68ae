"""Downloads and training runs killed with SIGKILL: nothing half-written stays, the next run works."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.faults.harness import Lab, Outcome
from tests.core.faults.jobs_harness import add_tiny_dataset, kill_download, kill_training


def _ok_killed(outcome: Outcome) -> None:
    assert outcome.intact and outcome.edits_lost == 0 and outcome.message_clear, outcome
    assert outcome.injected, f"{outcome.fault}: the process was not killed at that point"


@pytest.mark.parametrize(
    ("point", "resume"),
    [
        ("download:row-recorded", False),  # mid-run: half a manifest in its .part file
        ("download:row-recorded", True),  # the previous run's manifest must survive whole
        ("download:image-part", False),  # an image half-written under its .part name
        ("download:manifest-commit", True),  # the new manifest written, not yet in place
    ],
)
def test_killed_download_leaves_no_partial_files_and_reruns(tmp_path: Path, point: str, resume: bool) -> None:
    _ok_killed(kill_download(Lab(tmp_path, n_images=1), fault=point, resume=resume))


@pytest.fixture(scope="module")
def training_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    lab = Lab(tmp_path_factory.mktemp("train_faults"), n_images=1)
    add_tiny_dataset(lab)
    return lab


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "background"),
    [
        ("train:epoch-end", False),  # `train` in the foreground, killed after its first epoch
        ("train:before-finish", True),  # the queue's process, killed with the model saved, run not ended
    ],
)
def test_killed_training_fails_on_reconcile_and_the_next_run_succeeds(
    training_lab: Lab, point: str, background: bool
) -> None:
    _ok_killed(kill_training(training_lab, fault=point, background=background))
