"""Which finished run to predict with by default: the newest of the best by validation accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fashion_core.runs.files import RunRecord, runs_with_model

if TYPE_CHECKING:
    from fashion_core.store import LabelStore

TIE_MARGIN = 0.005  # validation accuracies this close count as equal when picking the default run


def finished_runs(store: LabelStore, dataset: str | None = None) -> list[RunRecord]:
    """Runs with a model (``runs.files.has_model``: done or cancelled), newest first (optionally of one dataset)."""
    return runs_with_model(store, dataset)


def validation_score(run: RunRecord) -> float | None:
    """The validation figure the run's best checkpoint was chosen by (mean accuracy over heads)."""
    metrics = run.metrics or {}
    score = metrics.get(metrics.get("monitor") or "val_mean_accuracy")
    return float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None


def default_run(store: LabelStore, dataset: str | None = None) -> RunRecord | None:
    """The run to predict with by default: the newest of the best finished runs.

    "Best" is the highest validation mean accuracy (the figure the run's checkpoint was
    chosen by); runs within ``TIE_MARGIN`` (half a percentage point) of the best count as
    equally good, since such gaps are validation noise, and of those the newest wins (it
    has seen the latest labels). Runs without a recorded accuracy rank below all others.
    Returns None when no run finished with a model.
    """
    runs = finished_runs(store, dataset)
    if not runs:
        return None
    scores = [validation_score(r) for r in runs]
    best = max((s for s in scores if s is not None), default=None)
    if best is None:
        return runs[0]
    return next(r for r, s in zip(runs, scores) if s is not None and s >= best - TIE_MARGIN)
