"""Merge suggestions: value pairs a run's model confuses in both directions, as candidate label-map merges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashion_core.analysis.evaluation import EvaluationReport
from fashion_core.errors import FashionCoreError
from fashion_core.labels.label_map import Op, Step
from fashion_core.schema import Kind


class MergeSuggestionError(FashionCoreError, ValueError):
    """Bad options for merge suggestions (a negative count, an unknown category)."""


@dataclass(frozen=True)
class MergeSuggestion:
    """Two values of a single-choice category that the model mixes up both ways.

    Attributes:
        category: The category (as the run's model knows it, i.e. after its label map).
        first: The value with more validation images (the merge keeps its name).
        second: The other value.
        first_as_second: Validation images labelled ``first`` that the model calls ``second``.
        second_as_first: Images labelled ``second`` that it calls ``first``.
        first_support: Validation images labelled ``first``.
        second_support: Validation images labelled ``second``.
    """

    category: str
    first: str
    second: str
    first_as_second: int
    second_as_first: int
    first_support: int
    second_support: int

    @property
    def first_rate(self) -> float:
        """Share of ``first``'s images called ``second``."""
        return self.first_as_second / self.first_support if self.first_support else 0.0

    @property
    def second_rate(self) -> float:
        """Share of ``second``'s images called ``first``."""
        return self.second_as_first / self.second_support if self.second_support else 0.0

    @property
    def score(self) -> float:
        """The weaker direction's confusion rate: high only when both directions are confused."""
        return min(self.first_rate, self.second_rate)

    @property
    def confused(self) -> int:
        return self.first_as_second + self.second_as_first

    @property
    def values(self) -> tuple[str, str]:
        return (self.first, self.second)

    def step(self) -> Step:
        """The label-map step: merge ``second`` into ``first`` (the more common name stays)."""
        return Step(Op.MERGE, self.category, (self.first, self.second), self.first)

    def describe(self) -> str:
        """One line for people: the pair and both directions' counts."""
        return (f"{self.category}: {self.first!r} <-> {self.second!r}: {self.first_as_second}/{self.first_support}"
                f" {self.first!r} called {self.second!r}, {self.second_as_first}/{self.second_support} the other way")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``suggest-merges --json`` prints."""
        return {"category": self.category, "values": [self.first, self.second],
                "first_as_second": self.first_as_second, "second_as_first": self.second_as_first,
                "first_support": self.first_support, "second_support": self.second_support,
                "first_rate": round(self.first_rate, 6), "second_rate": round(self.second_rate, 6),
                "score": round(self.score, 6), "step": self.step().describe()}


def confused_pairs(category: str, values: Sequence[str], matrix: np.ndarray, *, min_count: int = 1
                   ) -> list[MergeSuggestion]:
    """Pairs of values confused at least ``min_count`` times in each direction, most confused first.

    Args:
        category: The category's name (copied into the suggestions).
        values: Its values, in the matrix's order.
        matrix: (K, K) confusion counts, rows the label, columns the prediction.
        min_count: Fewest confusions each way for a pair to count (>= 1).

    Returns:
        Suggestions ranked by ``score`` (the weaker direction's rate), then by total confusions.

    Raises:
        MergeSuggestionError: ``min_count`` below 1 or a matrix that does not fit ``values``.
    """
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
        raise MergeSuggestionError(f"`min_count` must be an integer >= 1. Received: min_count={min_count!r}")
    cm = np.asarray(matrix, dtype=np.int64)
    if cm.shape != (len(values), len(values)):
        raise MergeSuggestionError(f"{category}: confusion matrix of shape {cm.shape} does not fit {len(values)} values")
    support = cm.sum(axis=1)
    out = []
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            if cm[i, j] >= min_count and cm[j, i] >= min_count:
                a, b = (i, j) if (support[i], -i) >= (support[j], -j) else (j, i)
                out.append(MergeSuggestion(category, values[a], values[b], int(cm[a, b]), int(cm[b, a]),
                                           int(support[a]), int(support[b])))
    return sorted(out, key=lambda s: (-s.score, -s.confused, s.first, s.second))


def suggest_merges(report: EvaluationReport, *, categories: Sequence[str] | None = None, top: int | None = 10,
                   min_count: int = 1) -> list[MergeSuggestion]:
    """Merge suggestions over the single-choice categories of an evaluated run, best first.

    Args:
        report: The run's evaluation (``evaluation.evaluate_run`` or ``load_evaluation``).
        categories: Only these categories (default: all single-choice ones evaluated).
        top: At most this many suggestions (None: all).
        min_count: Fewest confusions each way (see ``confused_pairs``).

    Raises:
        MergeSuggestionError: Bad ``top`` or an unknown category.
    """
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise MergeSuggestionError(f"`top` must be None or an integer >= 1. Received: top={top!r}")
    names = report.categories if categories is None else list(categories)
    unknown = [c for c in names if c not in report.categories]
    if unknown:
        raise MergeSuggestionError(f"Run {report.run_id} has no evaluated category {unknown}; it has {report.categories}")
    found: list[MergeSuggestion] = []
    for name in names:
        cat = report.category(name)
        if cat["kind"] == Kind.SINGLE.value:
            found += confused_pairs(name, cat["values"], np.asarray(cat["confusion"]), min_count=min_count)
    found.sort(key=lambda s: (-s.score, -s.confused, s.category, s.first, s.second))
    return found if top is None else found[:top]
