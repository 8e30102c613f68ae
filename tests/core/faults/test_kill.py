"""Real CLI processes killed with SIGKILL mid-write: the store stays whole and loses no edit."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.core.faults.harness import (
    IMPORT_POINTS,
    Lab,
    corrupt_store,
    full_disk_during_import,
    kill_bulk_relabel,
    kill_first_import,
    kill_replace,
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("faults"))


def _ok(outcome) -> None:
    assert outcome.intact and outcome.edits_lost == 0 and outcome.message_clear, outcome


def _ok_killed(outcome) -> None:
    _ok(outcome)
    assert outcome.injected, f"{outcome.fault}: the process was not killed at that point"


@pytest.mark.parametrize("point", ["import:images", "import:before-commit"])
def test_killed_first_import_leaves_nothing_and_reruns(tmp_path: Path, point: str) -> None:
    lab = Lab(tmp_path)
    _ok_killed(kill_first_import(lab, fault=point))
    assert lab.labels_now() == lab.expected("a")


@pytest.mark.parametrize("point", IMPORT_POINTS)
def test_killed_replace_keeps_the_old_dataset_and_its_edits(lab: Lab, point: str) -> None:
    _ok_killed(kill_replace(lab, fault=point))


def test_replace_killed_at_random_moments(lab: Lab) -> None:
    rng = random.Random(14)
    for _ in range(2):
        _ok(kill_replace(lab, kill_after=rng.uniform(0.3, 2.5)))


def test_killed_bulk_relabel_loses_no_reported_edit(lab: Lab) -> None:
    _ok(kill_bulk_relabel(lab, kill_after=2.0))


def test_full_disk_and_damaged_store_say_what_to_do(lab: Lab) -> None:
    _ok(full_disk_during_import(lab))
    _ok(corrupt_store(lab))
