"""The labels every downstream step reads: current labels, through the active label map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pandas as pd

from fashion_core.schema import Schema
from fashion_core.store import LabelStore


class _Active:
    def __repr__(self) -> str:
        return "ACTIVE"


ACTIVE: Final = _Active()  # "whatever map the dataset has active", as opposed to None (no map)


@dataclass(frozen=True)
class LabelView:
    """A dataset's labels as a consumer should see them.

    Attributes:
        schema: The schema after the map (merged values replaced, dropped ones gone).
        labels: Columns image_id, path, category, value, maybe, edited (see LabelStore).
        map_name: The label map applied, or None.
        map_version: Its version, or None.
    """

    schema: Schema
    labels: pd.DataFrame
    map_name: str | None
    map_version: int | None


def label_view(store: LabelStore, dataset: str, map_name: str | None | _Active = ACTIVE) -> LabelView:
    """Current labels (originals plus edits) of a dataset, through a label map.

    Args:
        store: The label store.
        dataset: Dataset name.
        map_name: ``ACTIVE`` (default) for the dataset's active map, None for no map, or a
            map name.
    """
    info = store.dataset(dataset)
    labels = store.current_labels(dataset)
    name = info.active_map if map_name is ACTIVE else map_name
    if not name:
        return LabelView(info.schema, labels, None, None)
    from fashion_core.labels.apply_map import apply_label_map
    from fashion_core.labels.maps import load_map

    label_map = load_map(store, name)
    schema, mapped = apply_label_map(label_map, info.schema, labels)
    return LabelView(schema, mapped, name, label_map.version)
