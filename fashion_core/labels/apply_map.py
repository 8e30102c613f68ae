"""Applying a label map: a pure, vectorised function from labels to labels (and schema to schema).

Steps of a category apply in order, each checked against the category's values as the earlier
steps left them. ``m`` marks (the ``maybe`` column: values a FashionAI annotator marked "maybe")
are mapped through the same steps, then a policy decides what they mean:

* ``keep``: the image keeps its label. Single-choice: the ``y`` value, marks ignored.
  Multi-label ("keep as the marked value"): the marked values become positives too.
* ``drop``: an image with any mark left in the category leaves that category's data.
* ``negative``: marked values stay negatives. Multi-label: only the stored positives count;
  single-choice: the same as ``keep`` (a single-choice label has one positive anyway).

A mark whose value was merged into the image's own value, or dropped, is no doubt any more and
disappears. A label a person edited (``edited`` column true) has no marks: the edit settled the
doubt. With no policy set, labels stay as stored (``keep`` for single-choice, ``negative`` for
multi-label), so a map does only what its steps say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from fashion_core.errors import LabelMapError
from fashion_core.labels.label_map import LabelMap, MaybePolicy, Op, Step
from fashion_core.schema import MULTI_SEPARATOR, Category, Kind, Schema, split_value

_PAIR_SEP = "\x1f"  # joins value and maybe into one key; cannot occur in a value name


@dataclass(frozen=True)
class _CategoryPlan:
    """What a map does to one category: original value -> final value (None: dropped)."""

    category: Category
    mapping: dict[str, str | None]
    policy: MaybePolicy
    order: dict[str, int] = field(default_factory=dict)

    def map_pair(self, value: str, maybe: str) -> tuple[str | None, str]:
        """Map one stored (value, maybe) pair; value None means the row leaves the category."""
        names = split_value(value)
        unknown = [n for n in names if n not in self.mapping]
        if unknown:
            raise LabelMapError(
                f"Stored label {unknown[0]!r} is not a value of {self.category.name!r} in the dataset's schema"
            )
        positives = {self.mapping[n] for n in names} - {None}
        doubts = {self.mapping.get(n) for n in split_value(maybe)}
        doubts = {d for d in doubts if d in self.order} - positives  # unknown or dropped marks vanish
        if self.category.kind is Kind.SINGLE and not positives:
            return None, ""
        if self.policy is MaybePolicy.DROP and doubts:
            return None, ""
        if self.policy is MaybePolicy.KEEP and self.category.kind is Kind.MULTI:
            positives, doubts = positives | doubts, set()
        return self._join(positives), self._join(doubts)

    def _join(self, names: set[str | None]) -> str:
        return MULTI_SEPARATOR.join(sorted((n for n in names if n), key=self.order.__getitem__))


def _step_error(index: int, step: Step, message: str) -> LabelMapError:
    return LabelMapError(f"Step {index} ({step.describe()}): {message}")


def _evolve(values: list[str], step: Step, index: int) -> tuple[list[str], dict[str, str | None]]:
    """The category's values after one step, and what that step maps each touched value to."""
    for v in step.values:
        if v not in values:
            raise _step_error(
                index, step, f"{v!r} is not a value of {step.category!r} at this point; values: {values}"
            )
    if step.op is Op.MERGE:
        target = step.target
        if target in values and target not in step.values:
            return [v for v in values if v not in step.values], {v: target for v in step.values}
        if target in values:  # merging into one of the merged values: it keeps its place
            return [v for v in values if v == target or v not in step.values], {
                v: target for v in step.values
            }
        first = min(values.index(v) for v in step.values)  # a new name takes the first one's place
        out = [
            target if i == first else v for i, v in enumerate(values) if i == first or v not in step.values
        ]
        return out, {v: target for v in step.values}
    if step.op is Op.RENAME:
        old, new = step.values[0], step.target
        if new in values:
            raise _step_error(index, step, f"{new!r} already exists; merge into it instead of renaming")
        return [new if v == old else v for v in values], {old: new}
    if step.op is Op.DROP:
        left = [v for v in values if v not in step.values]
        if not left:
            raise _step_error(index, step, f"it would leave {step.category!r} with no value")
        return left, {v: None for v in step.values}
    return values, {}


def _plan(label_map: LabelMap, schema: Schema) -> tuple[Schema, dict[str, _CategoryPlan]]:
    """Validate every step against the schema as it evolves; return the new schema and plans."""
    values = {c.name: list(c.values) for c in schema.categories}
    mappings: dict[str, dict[str, str | None]] = {c.name: {v: v for v in c.values} for c in schema.categories}
    policies: dict[str, MaybePolicy] = {}
    touched: set[str] = set()
    for index, step in enumerate(label_map.steps, start=1):
        if step.category not in values:
            raise _step_error(
                index, step, f"unknown category {step.category!r}; known: {schema.category_names}"
            )
        touched.add(step.category)
        if step.op is Op.MAYBE:
            policies[step.category] = step.policy  # the last one wins
            continue
        values[step.category], change = _evolve(values[step.category], step, index)
        mappings[step.category] = {
            k: (change.get(v, v) if v is not None else None) for k, v in mappings[step.category].items()
        }
    categories, plans = [], {}
    for cat in schema.categories:
        new_cat = Category(cat.name, tuple(values[cat.name]), cat.kind)
        categories.append(new_cat)
        policy = policies.get(cat.name) or label_map.maybe_policy
        if cat.name in touched or policy is not None:
            default = MaybePolicy.KEEP if cat.kind is Kind.SINGLE else MaybePolicy.NEGATIVE
            order = {v: i for i, v in enumerate(new_cat.values)}
            plans[cat.name] = _CategoryPlan(new_cat, mappings[cat.name], policy or default, order)
    return schema.with_categories(categories), plans


def mapped_schema(label_map: LabelMap, schema: Schema) -> Schema:
    """The schema after the map; raises LabelMapError naming the first step that does not fit."""
    return _plan(label_map, schema)[0]


def apply_label_map(label_map: LabelMap, schema: Schema, labels: pd.DataFrame) -> tuple[Schema, pd.DataFrame]:
    """Apply a label map to a label table. Pure: neither input is changed.

    Args:
        label_map: The map.
        schema: The schema the labels are in.
        labels: A label table with ``category`` and ``value`` columns (``|``-joined for
            multi-label) and optionally ``maybe``; other columns are carried along.

    Returns:
        The new schema (merged values replaced, dropped ones gone, renamed in place) and the
        mapped table: same columns, rows in the same order with a fresh index, multi-label
        values re-joined in the new order; rows that left a category are removed.

    Raises:
        LabelMapError: if a step does not fit the schema (naming the step and value), or a
            stored label is not a value of its category.
    """
    new_schema, plans = _plan(label_map, schema)
    out = labels.copy()
    if out.empty or not plans:
        return new_schema, out.reset_index(drop=True)
    keep = pd.Series(True, index=out.index)
    for name, plan in plans.items():
        mask = out["category"] == name
        if not mask.any():
            continue
        maybe = out.loc[mask, "maybe"].fillna("").astype(str) if "maybe" in out else ""
        if "edited" in out and "maybe" in out:  # marks belong to the original annotation only
            maybe = maybe.where(~out.loc[mask, "edited"].fillna(False).astype(bool), "")
        pairs = out.loc[mask, "value"].fillna("").astype(str) + _PAIR_SEP + maybe
        # Vectorised over rows: only the few distinct (value, maybe) pairs go through Python.
        results = {key: plan.map_pair(*key.split(_PAIR_SEP, 1)) for key in pairs.unique()}
        out.loc[mask, "value"] = pairs.map({k: v or "" for k, (v, _) in results.items()})
        if "maybe" in out:
            out.loc[mask, "maybe"] = pairs.map({k: m for k, (_, m) in results.items()})
        keep.loc[mask] = pairs.map({k: v is not None for k, (v, _) in results.items()}).astype(bool)
    return new_schema, out.loc[keep].reset_index(drop=True)
