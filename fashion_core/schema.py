"""Attribute schemas: categories, their ordered values, and single-choice vs multi-label."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fashion_core.errors import SchemaError


class Kind(str, Enum):
    """How a category is labelled: exactly one value, or any subset of values."""

    SINGLE = "single"
    MULTI = "multi"


@dataclass(frozen=True)
class Category:
    """One attribute category, e.g. ``sleeve_length_labels`` with its ordered values."""

    name: str
    values: tuple[str, ...]
    kind: Kind = Kind.SINGLE

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise SchemaError("A category needs a non-empty name.")
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "kind", Kind(self.kind))
        if not self.values:
            raise SchemaError(f"Category {self.name!r} needs at least one value.")
        if len(set(self.values)) != len(self.values):
            raise SchemaError(f"Category {self.name!r} has duplicate values: {list(self.values)}")
        for value in self.values:
            if not value or "|" in value:
                raise SchemaError(
                    f"Category {self.name!r}: value {value!r} must be non-empty and contain no '|'."
                )

    def index(self, value: str) -> int:
        """Return the position of ``value``; raise SchemaError if it is not a value here."""
        try:
            return self.values.index(value)
        except ValueError:
            raise SchemaError(
                f"{value!r} is not a value of {self.name!r}; expected one of {list(self.values)}"
            ) from None


@dataclass(frozen=True)
class Schema:
    """An ordered set of categories; the vocabulary a dataset is labelled with."""

    name: str
    categories: tuple[Category, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise SchemaError(f"Schema {self.name!r} has duplicate categories: {names}")

    @property
    def category_names(self) -> list[str]:
        return [c.name for c in self.categories]

    def category(self, name: str) -> Category:
        """Return the category called ``name``; raise SchemaError naming the known ones."""
        for cat in self.categories:
            if cat.name == name:
                return cat
        raise SchemaError(
            f"Unknown category {name!r} in schema {self.name!r}; known: {self.category_names}"
        )

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.categories)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "categories": [
                {"name": c.name, "kind": c.kind.value, "values": list(c.values)}
                for c in self.categories
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        try:
            cats = [
                Category(c["name"], tuple(c["values"]), Kind(c.get("kind", "single")))
                for c in data["categories"]
            ]
            return cls(data["name"], tuple(cats))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"Malformed schema definition: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))

    def with_categories(self, categories: Iterable[Category]) -> Schema:
        return Schema(self.name, tuple(categories))


# The 8 FashionAI attribute categories, values exactly as the competition named them
# (in code order: position i of a `nnynn` code is values[i]).
FASHIONAI_VALUES: dict[str, tuple[str, ...]] = {
    "coat_length_labels": (
        "Invisible", "High Waist Length", "Regular Length", "Long Length",
        "Micro Length", "Knee Length", "Midi Length", "Ankle&Floor Length",
    ),
    "collar_design_labels": (
        "Invisible", "Shirt Collar", "Peter Pan", "Puritan Collar", "Rib Collar",
    ),
    "lapel_design_labels": (
        "Invisible", "Notched", "Collarless", "Shawl Collar", "Plus Size Shawl",
    ),
    "neck_design_labels": (
        "Invisible", "Turtle Neck", "Ruffle Semi-High Collar", "Low Turtle Neck", "Draped Collar",
    ),
    "neckline_design_labels": (
        "Invisible", "Strapless Neck", "Deep V Neckline", "Straight Neck", "V Neckline",
        "Square Neckline", "Off Shoulder", "Round Neckline", "Sweat Heart Neck",
        "One Shoulder Neckline",
    ),
    "pant_length_labels": (
        "Invisible", "Short Pant", "Mid Length", "3/4 Length", "Cropped Pant", "Full Length",
    ),
    "skirt_length_labels": (
        "Invisible", "Short Length", "Knee Length", "Midi Length", "Ankle Length", "Floor Length",
    ),
    "sleeve_length_labels": (
        "Invisible", "Sleeveless", "Cup Sleeves", "Short Sleeves", "Elbow Sleeves",
        "3/4 Sleeves", "Wrist Length", "Long Sleeves", "Extra Long Sleeves",
    ),
}

FASHIONAI = Schema(
    "fashionai",
    tuple(Category(name, values, Kind.SINGLE) for name, values in FASHIONAI_VALUES.items()),
)

JD_CATEGORY = "style"
JD_CLASS_COUNT = 13
JD_DEFAULT_CLASSES: tuple[str, ...] = tuple(f"style_{i:02d}" for i in range(1, JD_CLASS_COUNT + 1))


def jd_schema(class_names: Iterable[str] | None = None) -> Schema:
    """The JD fashion-style schema: one multi-label category of 13 classes.

    Args:
        class_names: Optional names for the 13 classes; defaults to ``style_01``..``style_13``.
    """
    names = tuple(class_names) if class_names is not None else JD_DEFAULT_CLASSES
    if len(names) != JD_CLASS_COUNT:
        raise SchemaError(f"JD needs {JD_CLASS_COUNT} class names. Received: {len(names)}")
    return Schema("jd", (Category(JD_CATEGORY, names, Kind.MULTI),))


JD = jd_schema()

BUILTIN_SCHEMAS: dict[str, Schema] = {"fashionai": FASHIONAI, "jd": JD}


MULTI_SEPARATOR = "|"


def normalize_value(category: Category, value: str | Iterable[str]) -> str:
    """Check a label against its category and return its stored text form.

    Single-choice: the value name. Multi-label: the positive values joined with ``|`` in
    schema order (``""`` for none); a list of names is accepted too.

    Raises:
        SchemaError: if a name is not a value of the category.
    """
    if category.kind is Kind.SINGLE:
        if not isinstance(value, str):
            raise SchemaError(f"{category.name!r} is single-choice; got several values: {value!r}")
        category.index(value)
        return value
    names = value.split(MULTI_SEPARATOR) if isinstance(value, str) else list(value)
    chosen = {n for n in names if n != ""}
    for name in chosen:
        category.index(name)
    return MULTI_SEPARATOR.join(v for v in category.values if v in chosen)


def split_value(value: str | None) -> list[str]:
    """The value names in a stored label (one for single-choice, any number for multi-label)."""
    if not value:
        return []
    return value.split(MULTI_SEPARATOR)


def encode_code(category: Category, value: str, maybe: Sequence[str] = ()) -> str:
    """The FashionAI code of a value and its maybe values: ``y``/``m``/``n`` per value, in value order.

    Beside the schema because the value order defines the code; the label.csv reader
    (``ingest/fashionai.py``, which re-exports this) and the label export share it.
    """
    marks = ["n"] * len(category.values)
    for m in maybe:
        marks[category.index(m)] = "m"
    marks[category.index(value)] = "y"
    return "".join(marks)
