"""The labels every downstream step reads: current labels, through the active label map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from fashion_core.errors import SchemaError
from fashion_core.schema import Schema
from fashion_core.store import LabelStore

if TYPE_CHECKING:  # pandas (~0.5 s to import) only for annotations: `predict` starts without it
    import pandas as pd


@dataclass(frozen=True)
class LabelSource:
    """Which labels a consumer reads: the dataset's active map, no map, or one named map.

    The one type for this choice at every seam (label views, training configs, exports, the
    CLI). Use the constants ``ACTIVE`` and ``NO_MAP`` or ``LabelSource.named(name)``.
    """

    kind: Literal["active", "none", "named"]
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("active", "none", "named"):
            raise SchemaError(f"LabelSource kind must be 'active', 'none' or 'named'. Received: {self.kind!r}")
        if (self.kind == "named") != (isinstance(self.name, str) and bool(self.name.strip())):
            raise SchemaError(f"a named label source needs a map name, the others none. Received: {self.name!r}")

    @classmethod
    def named(cls, name: str) -> LabelSource:
        return cls("named", name)

    @classmethod
    def choose(cls, name: str | None = None, *, no_map: bool = False) -> LabelSource:
        """From a command line or form: ``no_map`` wins, then a map name, else the active map."""
        if no_map:
            return NO_MAP
        return cls.named(name) if name else ACTIVE

    @classmethod
    def from_config(cls, value: str | None) -> LabelSource:
        """From the text stored in run configs: None = the active map, "" = no map, else a name."""
        if value is None:
            return ACTIVE
        if not isinstance(value, str):
            raise SchemaError(f"map_name must be None (active map), '' (no map) or a map name. Received: {value!r}")
        return cls.named(value) if value else NO_MAP

    def to_config(self) -> str | None:
        """The inverse of ``from_config`` (the encoding old run folders already use)."""
        return {"active": None, "none": ""}.get(self.kind, self.name)

    def resolve(self, active_map: str | None) -> str | None:
        """The map name to apply for a dataset whose active map is ``active_map`` (None: no map)."""
        return active_map if self.kind == "active" else self.name

    def __str__(self) -> str:
        return {"active": "the active map", "none": "no map"}.get(self.kind, f"map {self.name!r}")


ACTIVE: Final = LabelSource("active")
NO_MAP: Final = LabelSource("none")


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


def label_view(store: LabelStore, dataset: str, source: LabelSource = ACTIVE) -> LabelView:
    """Current labels (originals plus edits) of a dataset, through a label map.

    Args:
        store: The label store.
        dataset: Dataset name.
        source: ``ACTIVE`` (default) for the dataset's active map, ``NO_MAP``, or
            ``LabelSource.named(name)``.
    """
    if not isinstance(source, LabelSource):
        raise TypeError(f"source must be a LabelSource (ACTIVE, NO_MAP or LabelSource.named). Received: {source!r}")
    info = store.dataset(dataset)
    labels = store.current_labels(dataset)
    name = source.resolve(info.active_map)
    if not name:
        return LabelView(info.schema, labels, None, None)
    from fashion_core.labels.apply_map import apply_label_map
    from fashion_core.labels.maps import load_map

    label_map = load_map(store, name)
    schema, mapped = apply_label_map(label_map, info.schema, labels)
    return LabelView(schema, mapped, name, label_map.version)
