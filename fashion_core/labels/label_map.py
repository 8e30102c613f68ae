"""Label maps: named, ordered merge/rename/drop steps, applied as a pure function from labels to labels.

A label map never edits stored labels (FiftyOne's ``map_labels`` idea): it is a view. Steps of a
category apply in order, each checked against the category's values as the earlier steps left
them. ``m`` marks (the ``maybe`` column: values a FashionAI annotator marked "maybe") are mapped
through the same steps, then a policy decides what they mean:

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

import pandas as pd

from fashion_core.errors import LabelMapError
from fashion_core.schema import MULTI_SEPARATOR, Category, Kind, Schema, split_value

if TYPE_CHECKING:
    from fashion_core.store import LabelStore

_PAIR_SEP = "\x1f"  # joins value and maybe into one key; cannot occur in a value name
MAX_NAME_LENGTH = 100


class MaybePolicy(str, Enum):
    """What an ``m`` mark means once a map is applied (see the module docstring)."""

    KEEP = "keep"
    DROP = "drop"
    NEGATIVE = "negative"


class Op(str, Enum):
    """The kinds of step a label map has."""

    MERGE = "merge"
    RENAME = "rename"
    DROP = "drop"
    MAYBE = "maybe"


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise LabelMapError(f"{what} must be a non-empty text. Received: {name!r}")
    if name != name.strip() or MULTI_SEPARATOR in name or any(ord(ch) < 32 for ch in name):
        raise LabelMapError(
            f"{what} {name!r} must not start or end with spaces, nor contain '|' or control characters."
        )
    if len(name) > MAX_NAME_LENGTH:
        raise LabelMapError(f"{what} is longer than {MAX_NAME_LENGTH} characters: {name[:40]!r}...")
    return name


@dataclass(frozen=True)
class Step:
    """One change to one category.

    Attributes:
        op: merge, rename, drop or maybe.
        category: The category it changes.
        values: merge: the values merged; rename: the one old name; drop: the values dropped.
        target: merge: the value they become (existing or new); rename: the new name.
        policy: maybe: the ``m``-mark policy of this category.
    """

    op: Op
    category: str
    values: tuple[str, ...] = ()
    target: str | None = None
    policy: MaybePolicy | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "op", Op(self.op))
        except ValueError:
            raise LabelMapError(
                f"Unknown step {self.op!r}; expected one of {[o.value for o in Op]}"
            ) from None
        _check_name(self.category, "A step's category")
        values = (self.values,) if isinstance(self.values, str) else tuple(self.values)
        object.__setattr__(self, "values", values)
        for v in values:
            _check_name(v, f"A value in {self.op.value} step of {self.category!r}")
        if len(set(values)) != len(values):
            raise LabelMapError(f"{self.describe()}: a value is listed twice")
        if self.target is not None:
            _check_name(self.target, f"The target of {self.op.value} step of {self.category!r}")
        if self.policy is not None:
            object.__setattr__(self, "policy", _policy(self.policy))
        self._check_shape()

    def _check_shape(self) -> None:
        op, n = self.op, len(self.values)
        wants_target = op in (Op.MERGE, Op.RENAME)
        if wants_target != (self.target is not None):
            raise LabelMapError(
                f"{op.value} step of {self.category!r}: target {'missing' if wants_target else 'not allowed'}"
            )
        if (op is Op.MAYBE) != (self.policy is not None):
            raise LabelMapError(f"{op.value} step of {self.category!r}: policy only belongs to a maybe step")
        if (op is Op.RENAME and n != 1) or (op in (Op.MERGE, Op.DROP) and n == 0) or (op is Op.MAYBE and n):
            wanted = {Op.RENAME: "exactly one value", Op.MAYBE: "no values"}.get(op, "at least one value")
            raise LabelMapError(
                f"{op.value} step of {self.category!r} needs {wanted}. Received: {list(self.values)}"
            )

    def describe(self) -> str:
        """A one-line human description, e.g. ``sleeve: merge 'A', 'B' -> 'C'``."""
        vals = ", ".join(repr(v) for v in self.values)
        text = {
            Op.MERGE: f"merge {vals} -> {self.target!r}",
            Op.RENAME: f"rename {vals} -> {self.target!r}",
            Op.DROP: f"drop {vals}",
            Op.MAYBE: f"m marks: {self.policy.value if self.policy else '?'}",
        }[self.op]
        return f"{self.category}: {text}"

    def to_dict(self) -> dict[str, Any]:
        """The readable file form: ``{category, merge: [..], into}``, ``{category, rename, to}``, ..."""
        out: dict[str, Any] = {"category": self.category}
        if self.op is Op.MERGE:
            out.update(merge=list(self.values), into=self.target)
        elif self.op is Op.RENAME:
            out.update(rename=self.values[0], to=self.target)
        elif self.op is Op.DROP:
            out["drop"] = list(self.values)
        else:
            out["maybe"] = self.policy.value if self.policy else None
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "step") -> Step:
        """Read the file form; errors name ``where`` (e.g. ``file.yaml: steps[2]``) and the field."""
        if not isinstance(data, Mapping):
            raise LabelMapError(f"{where}: a step must be a mapping, got {type(data).__name__}")
        ops = [o for o in Op if o.value in data]
        if len(ops) != 1:
            raise LabelMapError(
                f"{where}: a step needs exactly one of merge, rename, drop, maybe; found {sorted(data)}"
            )
        op = ops[0]
        allowed = {"category", op.value, {Op.MERGE: "into", Op.RENAME: "to"}.get(op, op.value)}
        extra = sorted(set(data) - allowed)
        if extra:
            raise LabelMapError(f"{where}: unexpected field(s) {extra} in a {op.value} step")
        try:
            raw = data[op.value]
            if op is Op.MAYBE:
                return cls(op, data.get("category"), policy=raw)
            values = [raw] if isinstance(raw, str) else raw
            if not isinstance(values, list):
                raise LabelMapError(f"field '{op.value}' must be a value name or a list of them")
            target = data.get({Op.MERGE: "into", Op.RENAME: "to"}.get(op, ""))
            return cls(op, data.get("category"), tuple(values), target)
        except LabelMapError as exc:
            raise LabelMapError(f"{where}: {exc}") from None


def _policy(value: Any) -> MaybePolicy:
    try:
        return MaybePolicy(value)
    except ValueError:
        raise LabelMapError(
            f"m-mark policy must be one of {[p.value for p in MaybePolicy]}. Received: {value!r}"
        ) from None


@dataclass(frozen=True)
class LabelMap:
    """A named, versioned list of steps; version 0 means "not saved yet".

    Attributes:
        name: The map's name in the store.
        steps: Applied in order.
        version: The store version this is (1, 2, ...), 0 for a draft.
        maybe_policy: Default ``m``-mark policy for every category without a maybe step;
            None leaves marks as stored.
        description: Free text for people.
    """

    name: str
    steps: tuple[Step, ...] = ()
    version: int = 0
    maybe_policy: MaybePolicy | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name, "A label map's name")
        object.__setattr__(self, "steps", tuple(self.steps))
        if not all(isinstance(s, Step) for s in self.steps):
            raise LabelMapError(f"Label map {self.name!r}: steps must be Step objects")
        if self.maybe_policy is not None:
            object.__setattr__(self, "maybe_policy", _policy(self.maybe_policy))
        if not isinstance(self.version, int) or self.version < 0:
            raise LabelMapError(f"Label map {self.name!r}: version must be an integer >= 0")

    def with_steps(self, *steps: Step) -> LabelMap:
        """A copy with ``steps`` appended (a new draft: version 0)."""
        return replace(self, steps=self.steps + tuple(steps), version=0)

    def without_last_step(self) -> LabelMap:
        """A copy without its last step (a new draft); LabelMapError if it has none."""
        if not self.steps:
            raise LabelMapError(f"Label map {self.name!r} has no step to undo.")
        return replace(self, steps=self.steps[:-1], version=0)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.version:
            out["version"] = self.version
        if self.description:
            out["description"] = self.description
        out["maybe_policy"] = self.maybe_policy.value if self.maybe_policy else None
        out["steps"] = [s.to_dict() for s in self.steps]
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "label map") -> LabelMap:
        """Build a map from its file form; errors name ``where`` and the field."""
        if not isinstance(data, Mapping):
            raise LabelMapError(
                f"{where}: expected a mapping with 'name' and 'steps', got {type(data).__name__}"
            )
        extra = sorted(set(data) - {"name", "version", "description", "maybe_policy", "steps"})
        if extra:
            raise LabelMapError(f"{where}: unexpected field(s) {extra}")
        steps_raw = data.get("steps")
        steps_raw = [] if steps_raw is None else steps_raw
        if not isinstance(steps_raw, list):
            raise LabelMapError(f"{where}: field 'steps' must be a list")
        steps = tuple(Step.from_dict(s, f"{where}: steps[{i}]") for i, s in enumerate(steps_raw))
        try:
            version = int(data.get("version") or 0)
            return cls(
                data.get("name"), steps, version, data.get("maybe_policy"), str(data.get("description") or "")
            )
        except (LabelMapError, TypeError, ValueError) as exc:
            raise LabelMapError(f"{where}: {exc}") from None


def parse_merge(text: str, category: str) -> Step:
    """Parse the CLI form ``"A,B=>C"`` (sources may also be ``|``-separated) into a merge step."""
    sources, target = _split_arrow(text, "merge", "A,B=>C")
    sep = MULTI_SEPARATOR if MULTI_SEPARATOR in sources else ","
    return Step(Op.MERGE, category, tuple(s.strip() for s in sources.split(sep) if s.strip()), target)


def parse_rename(text: str, category: str) -> Step:
    """Parse the CLI form ``"A=>B"`` into a rename step."""
    old, new = _split_arrow(text, "rename", "A=>B")
    return Step(Op.RENAME, category, (old,), new)


def _split_arrow(text: str, what: str, example: str) -> tuple[str, str]:
    if text.count("=>") != 1:
        raise LabelMapError(f"--{what} must look like {example!r}. Received: {text!r}")
    left, right = (part.strip() for part in text.split("=>"))
    if not left or not right:
        raise LabelMapError(f"--{what} must look like {example!r}. Received: {text!r}")
    return left, right


# -- applying a map ---------------------------------------------------------------------------


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


def load_map(store: LabelStore, name: str, version: int | None = None) -> LabelMap:
    """Load a saved map (latest version by default); see ``fashion_core.labels.maps``."""
    from fashion_core.labels.maps import load_map as _load  # persistence lives beside, not here

    return _load(store, name, version)


# -- helpers the Regroup page and CLI show ----------------------------------------------------------


def before_after_counts(
    before: tuple[Schema, pd.DataFrame], after: tuple[Schema, pd.DataFrame], category: str
) -> pd.DataFrame:
    """Counts per value of one category before and after a map, for one grouped bar chart.

    Returns:
        Columns ``value``, ``before``, ``after``: the values before in their order, then the
        new names the map introduced.
    """
    from fashion_core.labels.stats import label_counts

    counts_before = label_counts(before[0], before[1]).get(category, {})
    counts_after = label_counts(after[0], after[1]).get(category, {})
    names = list(counts_before) + [v for v in counts_after if v not in counts_before]
    return pd.DataFrame(
        {
            "value": names,
            "before": [counts_before.get(v, 0) for v in names],
            "after": [counts_after.get(v, 0) for v in names],
        }
    )


def sample_by_value(
    labels: pd.DataFrame, category: str, values: Iterable[str], *, n: int, seed: int
) -> dict[str, pd.DataFrame]:
    """A seeded random sample of up to ``n`` labelled images for each value of a category.

    Multi-label rows count for every positive value they hold.

    Returns:
        ``{value: rows}`` with the label table's columns (``image_id``, ``path``, ...).
    """
    if n < 1:
        raise LabelMapError(f"sample size must be at least 1. Received: n={n}")
    rows = labels.loc[labels["category"] == category]
    exploded = rows.assign(_value=rows["value"].map(split_value)).explode("_value")
    out: dict[str, pd.DataFrame] = {}
    for value in values:
        hits = exploded.loc[exploded["_value"] == value].drop(columns="_value")
        out[value] = hits.sample(n=min(n, len(hits)), random_state=seed) if len(hits) else hits
    return out
