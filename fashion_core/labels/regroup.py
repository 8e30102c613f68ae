"""Regrouping values: form or CLI input -> steps -> a checked draft map -> saved (and active) map.

The Regroup page and ``python -m fashion_core regroup`` both go through these functions, so the
two build the same steps, make the same checks and save the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from fashion_core.errors import LabelMapError
from fashion_core.labels import maps as label_maps
from fashion_core.labels.apply_map import apply_label_map, mapped_schema
from fashion_core.labels.label_map import LabelMap, MaybePolicy, Op, Step, parse_merge, parse_rename
from fashion_core.labels.stats import label_counts
from fashion_core.schema import Schema, split_value
from fashion_core.store import LabelStore

FLAG_OPS = ("merge", "rename", "drop")  # the CLI's ordered step flags


def form_step(
    category: str,
    op: Op | str,
    values: Sequence[str] = (),
    *,
    target: str | None = None,
    policy: MaybePolicy | str | None = None,
) -> Step:
    """One step from a form's fields (the Regroup page's step builder).

    Args:
        category: The category the step changes.
        op: ``merge``, ``rename``, ``drop`` or ``maybe``.
        values: The values picked (merged, renamed or dropped); none for ``maybe``.
        target: The merge target or the new name; blank text counts as missing.
        policy: The ``m``-mark policy of a ``maybe`` step.

    Raises:
        LabelMapError: if no value is picked, or the step is not well formed (e.g. no target).
    """
    op = _op(op)
    if op is Op.MAYBE:
        return Step(Op.MAYBE, category, policy=policy)
    if not values:
        raise LabelMapError("Select the values first.")
    target = (target or "").strip() or None
    return Step(op, category, tuple(values), target if op in (Op.MERGE, Op.RENAME) else None)


def steps_from_flags(category: str, flags: Iterable[tuple[str, str]], maybe: str | None = None) -> list[Step]:
    """Steps from the CLI's ordered ``--merge "A,B=>C"``, ``--rename "A=>B"``, ``--drop V`` and ``--maybe``.

    Args:
        category: The category every step changes.
        flags: ``(flag, text)`` pairs in the order given; ``flag`` is merge, rename or drop.
        maybe: The ``m``-mark policy, appended as the last step when given.

    Raises:
        LabelMapError: if a text is malformed, or there is no step at all.
    """
    steps = []
    for flag, text in flags:
        if flag == "merge":
            steps.append(parse_merge(text, category))
        elif flag == "rename":
            steps.append(parse_rename(text, category))
        elif flag == "drop":
            steps.append(form_step(category, Op.DROP, (text.strip(),)))
        else:
            raise LabelMapError(f"Unknown step flag {flag!r}; expected one of {list(FLAG_OPS)}")
    if maybe:
        steps.append(form_step(category, Op.MAYBE, policy=maybe))
    if not steps:
        raise LabelMapError("Nothing to do: give at least one --merge, --rename, --drop or --maybe.")
    return steps


def start_draft(store: LabelStore, name: str | None, *, default: str = "draft") -> LabelMap:
    """The latest saved version of map ``name`` to build on, or an empty map (``default`` when no name)."""
    if name and name in label_maps.map_names(store):
        return label_maps.load_map(store, name)
    return LabelMap(name or default)


def add_steps(draft: LabelMap, schema: Schema, *steps: Step) -> LabelMap:
    """The draft with ``steps`` appended, checked against ``schema`` as the earlier steps left it.

    Raises:
        LabelMapError: naming the first step that does not fit.
    """
    updated = draft.with_steps(*steps)
    mapped_schema(updated, schema)
    return updated


def steps_note(steps: Sequence[Step]) -> str:
    """The note saved with a version when none is given: what its new steps do."""
    return "; ".join(s.describe() for s in steps) or "no change"


def save_draft(
    store: LabelStore,
    dataset: str,
    draft: LabelMap,
    *,
    name: str | None = None,
    note: str | None = None,
    activate: bool = False,
) -> LabelMap:
    """Check a draft against a dataset's schema, save it as a new version, and maybe activate it.

    Args:
        store: The label store.
        dataset: The dataset whose schema the map must fit (and whose active map it may become).
        draft: The map to save.
        name: Save under this name instead of the draft's (surrounding spaces ignored).
        note: Stored with the new version; blank text counts as none.
        activate: Make the saved map the dataset's active map.

    Returns:
        The saved map with its new version number.

    Raises:
        LabelMapError: if the name is empty or invalid, or a step does not fit the schema.
    """
    if name is not None:
        draft = replace(draft, name=name.strip(), version=0)
    mapped_schema(draft, store.dataset(dataset).schema)
    saved = label_maps.save_map(store, draft, (note or "").strip() or None)
    if activate:
        label_maps.activate_map(store, dataset, saved.name)
    return saved


@dataclass(frozen=True)
class RegroupPreview:
    """A draft map over a dataset's labels: the labels before and after it.

    Attributes:
        draft: The map previewed.
        before: The schema and label table without the map.
        after: The schema and label table through the map.
    """

    draft: LabelMap
    before: tuple[Schema, pd.DataFrame]
    after: tuple[Schema, pd.DataFrame]

    def counts(self, category: str) -> pd.DataFrame:
        """Counts per value of one category before and after (see ``before_after_counts``)."""
        return before_after_counts(self.before, self.after, category)


def preview_map(draft: LabelMap, schema: Schema, labels: pd.DataFrame) -> RegroupPreview:
    """Apply a draft to a label table; LabelMapError names the first step that does not fit."""
    return RegroupPreview(draft, (schema, labels), apply_label_map(draft, schema, labels))


def before_after_counts(
    before: tuple[Schema, pd.DataFrame], after: tuple[Schema, pd.DataFrame], category: str
) -> pd.DataFrame:
    """Counts per value of one category before and after a map, for one grouped bar chart.

    Returns:
        Columns ``value``, ``before``, ``after``: the values before in their order, then the
        new names the map introduced.
    """
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


def _op(op: Op | str) -> Op:
    try:
        return Op(op)
    except ValueError:
        raise LabelMapError(f"Unknown step {op!r}; expected one of {[o.value for o in Op]}") from None
