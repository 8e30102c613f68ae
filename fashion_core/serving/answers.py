"""What a prediction answers: per category its values ranked by probability, per photo every category."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fashion_core.schema import Kind
from fashion_core.serving.calibration import FamiliarityScore
from fashion_core.serving.photos import ImageProblem


@dataclass(frozen=True)
class ValueProb:
    """One value of a category and its predicted probability."""

    value: str
    prob: float


@dataclass(frozen=True)
class CategoryPrediction:
    """A category's answer: every value, most probable first.

    Attributes:
        category: Category name.
        kind: Single-choice (softmax, probabilities sum to 1) or multi-label (sigmoid).
        values: All values with their probabilities, sorted by probability (ties: schema order).
        positives: Multi-label only: the values at or above their threshold, most probable first.
        tuned_thresholds: Whether those thresholds were tuned on validation data (the run's
            ``thresholds.json``) rather than the default 0.5.
        thresholds: Multi-label only: each value's threshold, in the order of ``values``.
    """

    category: str
    kind: Kind
    values: tuple[ValueProb, ...]
    positives: tuple[str, ...] = ()
    tuned_thresholds: bool = False
    thresholds: tuple[float, ...] = ()

    @property
    def top(self) -> ValueProb:
        return self.values[0]

    def ranked(self, top: int | None = None) -> list[dict[str, Any]]:
        """``[{"value": V, "prob": P}, ...]`` most probable first (the first ``top`` only, if given)."""
        chosen = self.values if top is None else self.values[:top]
        return [{"value": v.value, "prob": round(v.prob, 6)} for v in chosen]


@dataclass(frozen=True)
class Prediction:
    """Every category's answer for one photo, and what it cost.

    Attributes:
        categories: One answer per category of the run, in schema order.
        inference_ms: The forward pass (this photo's share of its batch).
        total_ms: From the file's bytes to the ranked answers.
    """

    categories: tuple[CategoryPrediction, ...]
    inference_ms: float
    total_ms: float
    familiarity: FamiliarityScore | None = None  # set when asked for details of a calibrated run
    applies: dict[str, float] | None = None  # per category: does the photo show what it describes

    def __getitem__(self, category: str) -> CategoryPrediction:
        for answer in self.categories:
            if answer.category == category:
                return answer
        raise KeyError(category)

    def to_dict(self, top: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """``{CATEGORY: [{"value": V, "prob": P}, ...]}``, values sorted by probability."""
        return {c.category: c.ranked(top) for c in self.categories}

    def details_dict(self, top: int | None = None) -> dict[str, Any]:
        """``{"categories": to_dict(), "familiarity": {"score", "unfamiliar"} | None, "applies": {C: P} | None}``."""
        return {"categories": self.to_dict(top),
                "familiarity": self.familiarity.to_dict() if self.familiarity else None,
                "applies": self.applies}

    def with_details(self, familiarity: FamiliarityScore, applies: dict[str, float]) -> Prediction:
        return Prediction(self.categories, self.inference_ms, self.total_ms, familiarity, applies)


@dataclass(frozen=True)
class BatchPrediction:
    """Answers for many photos (by path, in input order) and the photos that failed."""

    predictions: dict[str, Prediction]
    problems: tuple[ImageProblem, ...] = ()
    seconds: float = 0.0

    def to_dict(self, top: int | None = None, *, details: bool = False) -> dict[str, Any]:
        """``{IMAGE: {CATEGORY: [{"value": V, "prob": P}, ...]}}`` (the CLI's ``--json``); with
        ``details`` each image's ``Prediction.details_dict``."""
        if details:
            return {path: p.details_dict(top) for path, p in self.predictions.items()}
        return {path: p.to_dict(top) for path, p in self.predictions.items()}
