"""Heads of the multi-head model: one per category, each with a safe output name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fashion_core.schema import Category, Kind

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Head:
    """One model output: a category and the key its output, loss and metrics go by.

    Keras names losses and metrics ``<key>_loss`` etc. and accepts only ``[A-Za-z0-9_.-]``
    there; FashionAI category names already fit, so for them key == category name.
    """

    category: Category
    key: str

    @property
    def name(self) -> str:
        return self.category.name

    @property
    def multi(self) -> bool:
        return self.category.kind is Kind.MULTI

    @property
    def size(self) -> int:
        return len(self.category.values)


def make_heads(categories: Sequence[Category]) -> tuple[Head, ...]:
    """One head per category, keys made safe and unique (``a b`` -> ``a_b``, ``a_b_2``)."""
    heads: list[Head] = []
    used: set[str] = set()
    for cat in categories:
        base = _UNSAFE.sub("_", cat.name).strip("._-") or "head"
        key, n = base, 2
        while key in used:
            key, n = f"{base}_{n}", n + 1
        used.add(key)
        heads.append(Head(cat, key))
    return tuple(heads)
