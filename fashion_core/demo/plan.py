"""Which demo images to draw: category and value counts, names, maybe marks and wrong labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from fashion_core.schema import FASHIONAI, Schema

INVISIBLE = "Invisible"
REFERENCE_TOTAL = 1500
MIN_IMAGES = 40
WRONG_SHARE = 0.02
MAYBE_SHARE = 0.03
# Images per value, scaled to the total asked for. Sleeve length is the biggest category (40%: its
# nine lengths are the demo's hardest task); a few values are rare on purpose (Sweat Heart, Plus
# Size Shawl...).
REFERENCE_COUNTS: dict[str, tuple[int, ...]] = {
    "coat_length_labels": (9, 13, 30, 26, 17, 21, 15, 6),
    "collar_design_labels": (7, 39, 21, 15, 21),
    "lapel_design_labels": (8, 39, 26, 21, 5),
    "neck_design_labels": (9, 34, 17, 26, 13),
    "neckline_design_labels": (10, 21, 21, 26, 30, 21, 21, 30, 7, 9),
    "pant_length_labels": (5, 30, 26, 21, 21, 30),
    "skirt_length_labels": (7, 30, 30, 26, 23, 17),
    "sleeve_length_labels": (40, 80, 60, 80, 67, 67, 67, 72, 67),
}
RARE_BELOW = 15


@dataclass(frozen=True)
class PlannedImage:
    """One demo image: what is drawn, what the label file says, and an optional maybe mark.

    ``drawn_value`` differs from ``labelled_value`` on the deliberately wrong rows.
    """

    index: int
    name: str
    category: str
    drawn_value: str
    labelled_value: str
    maybe_value: str | None = None

    @property
    def image_path(self) -> str:
        return f"Images/{self.category}/{self.name}.jpg"

    @property
    def is_wrong(self) -> bool:
        return self.drawn_value != self.labelled_value

    def code(self, schema: Schema = FASHIONAI) -> str:
        """The FashionAI code: ``y`` at the labelled value, ``m`` at the maybe value, ``n`` elsewhere."""
        values = schema.category(self.category).values
        return "".join(
            "y" if v == self.labelled_value else "m" if v == self.maybe_value else "n" for v in values
        )


def scaled_counts(n_images: int) -> list[tuple[str, str, int]]:
    """(category, value, count) in schema order, scaled from the reference counts to ``n_images``.

    Largest-remainder rounding, ties broken by schema order, so the total is exact and stable.
    """
    cells = [
        (cat.name, value, ref)
        for cat in FASHIONAI.categories
        for value, ref in zip(cat.values, REFERENCE_COUNTS[cat.name])
    ]
    exact = [ref * n_images / REFERENCE_TOTAL for _, _, ref in cells]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(cells)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: n_images - sum(counts)]:
        counts[i] += 1
    return [(cat, value, count) for (cat, value, _), count in zip(cells, counts)]


def image_name(seed: int, index: int) -> str:
    """A FashionAI-like hex file name that says nothing about the label."""
    return hashlib.md5(f"fashion-demo:{seed}:{index}".encode()).hexdigest()


def plan_demo_images(n_images: int, seed: int) -> list[PlannedImage]:
    """Plan every image: rows grouped by category (as in FashionAI's label.csv), shuffled within.

    Args:
        n_images: Total number of images (at least MIN_IMAGES so every category appears).
        seed: Seed of the plan; the same seed gives the same plan.
    """
    rng = np.random.default_rng([seed, 1])
    rows: list[tuple[str, str]] = []
    for category in FASHIONAI.category_names:
        cell = [
            (cat, value)
            for cat, value, count in scaled_counts(n_images)
            if cat == category
            for _ in range(count)
        ]
        rows.extend(cell[i] for i in rng.permutation(len(cell)))
    drawn = {i: _wrong_value(rng, *rows[i]) for i in _pick(rng, rows, set(), WRONG_SHARE)}
    maybe = {i: _neighbour(rng, *rows[i]) for i in _pick(rng, rows, set(drawn), MAYBE_SHARE)}
    return [
        PlannedImage(i, image_name(seed, i), cat, drawn.get(i, value), value, maybe.get(i))
        for i, (cat, value) in enumerate(rows)
    ]


def _pick(rng: np.random.Generator, rows: list[tuple[str, str]], taken: set[int], share: float) -> list[int]:
    """Choose about ``share`` of the rows among common, visible values not already ``taken``."""
    reference = {(cat, value): ref for cat, value, ref in scaled_counts(REFERENCE_TOTAL)}
    eligible = [
        i
        for i, (cat, value) in enumerate(rows)
        if i not in taken and value != INVISIBLE and reference[(cat, value)] >= RARE_BELOW
    ]
    k = min(len(eligible), max(1, round(share * len(rows))))
    return sorted(int(i) for i in rng.choice(eligible, size=k, replace=False))


def _visible_values(category: str) -> tuple[str, ...]:
    return tuple(v for v in FASHIONAI.category(category).values if v != INVISIBLE)


def _wrong_value(rng: np.random.Generator, category: str, value: str) -> str:
    """A clearly different visible value (at least two steps away when the category allows)."""
    values = _visible_values(category)
    here = values.index(value)
    far = [v for i, v in enumerate(values) if abs(i - here) >= 2] or [v for v in values if v != value]
    return far[int(rng.integers(len(far)))]


def _neighbour(rng: np.random.Generator, category: str, value: str) -> str:
    """An adjacent visible value: the second plausible reading of a borderline image."""
    values = _visible_values(category)
    here = values.index(value)
    near = [values[i] for i in (here - 1, here + 1) if 0 <= i < len(values)]
    return near[int(rng.integers(len(near)))]
