"""The label-map model: named, ordered merge/rename/drop/maybe steps that round-trip to files.

A label map never edits stored labels (FiftyOne's ``map_labels`` idea): it is a view, applied by
``fashion_core.labels.apply_map.apply_label_map`` (whose docstring says what ``m`` marks become).
Steps of a category apply in order, each checked against the category's values as the earlier
steps left them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from fashion_core.errors import LabelMapError
from fashion_core.schema import MULTI_SEPARATOR

if TYPE_CHECKING:
    pass

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

