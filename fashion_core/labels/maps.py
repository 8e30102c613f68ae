"""Label maps in the store (named, every save a new version), as YAML/JSON files, and the examples."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from fashion_core.app_files import assets_dir
from fashion_core.errors import LabelMapError
from fashion_core.labels.apply_map import mapped_schema
from fashion_core.labels.label_map import LabelMap, Step
from fashion_core.runs.files import runs_using_map
from fashion_core.schema import Schema
from fashion_core.store import LabelStore

EXAMPLES_DIR = assets_dir() / "label_maps"
FILE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class MapSummary:
    """One saved version of a map, as listed.

    Attributes:
        name: The map's name.
        version: This version's number.
        steps: How many steps it has.
        note: What the save said about itself.
        created_at: When it was saved (UTC, ISO 8601).
        active_in: Datasets whose active map has this name (listed on the latest version).
    """

    name: str
    version: int
    steps: int
    note: str | None
    created_at: str
    active_in: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "steps": self.steps,
            "note": self.note,
            "created_at": self.created_at,
            "active_in": list(self.active_in),
        }


def save_map(store: LabelStore, label_map: LabelMap, note: str | None = None) -> LabelMap:
    """Save a map as the next version of its name (version 1 for a new name).

    Returns:
        The map with its new version number.
    """
    spec = json.dumps(replace(label_map, version=0).to_dict(), ensure_ascii=False)
    return replace(label_map, version=store.insert_map_version(label_map.name, spec, note))


def load_map(store: LabelStore, name: str, version: int | None = None) -> LabelMap:
    """Load a saved map: its latest version, or the one asked for.

    Raises:
        LabelMapError: for an unknown name or version (naming the known ones).
    """
    row = store.map_row(name, version)
    if row is None:
        versions = map_versions(store, name)
        if versions:
            raise LabelMapError(f"Label map {name!r} has no version {version}; versions: {versions}")
        raise LabelMapError(f"No label map named {name!r}; known maps: {map_names(store)}")
    where = f"label map {name!r} version {row.version} in the store"
    return replace(LabelMap.from_dict(json.loads(row.spec_json), where), version=row.version)


def map_names(store: LabelStore) -> list[str]:
    """The names of all saved maps, sorted."""
    return store.map_names()


def map_versions(store: LabelStore, name: str) -> list[int]:
    """The saved version numbers of one map, oldest first."""
    return store.map_versions(name)


def list_maps(store: LabelStore, name: str | None = None) -> list[MapSummary]:
    """The latest version of every map (or, with ``name``, every version of that map)."""
    active: dict[str, list[str]] = {}
    for d in store.datasets():
        if d.active_map:
            active.setdefault(d.active_map, []).append(d.name)
    return [
        MapSummary(
            r.name,
            r.version,
            len(json.loads(r.spec_json).get("steps") or []),
            r.note,
            r.created_at,
            tuple(active.get(r.name, ())),
        )
        for r in store.map_rows(name)
    ]


def add_steps(
    store: LabelStore,
    name: str,
    steps: Sequence[Step],
    *,
    schema: Schema | None = None,
    note: str | None = None,
) -> LabelMap:
    """Append steps to the latest version of a map (creating the map if needed) and save.

    Args:
        store: The label store.
        name: The map's name.
        steps: Steps to append, in order.
        schema: If given, the whole map is checked against it before anything is saved.
        note: Saved with the new version; defaults to the steps' descriptions.
    """
    base = load_map(store, name) if name in map_names(store) else LabelMap(name)
    updated = base.with_steps(*steps)
    if schema is not None:
        mapped_schema(updated, schema)
    return save_map(store, updated, note or "; ".join(s.describe() for s in steps) or "no change")


def undo_step(store: LabelStore, name: str) -> LabelMap:
    """Undo the last step of a map: save a new version without it (older versions stay)."""
    current = load_map(store, name)
    updated = current.without_last_step()  # raises when there is nothing to undo
    return save_map(store, updated, f"undo: {current.steps[-1].describe()}")


def activate_map(store: LabelStore, dataset: str, name: str) -> LabelMap:
    """Make ``name`` the dataset's active map after checking it fits the dataset's schema."""
    label_map = load_map(store, name)
    mapped_schema(label_map, store.dataset(dataset).schema)
    store.set_active_map(dataset, name)
    return label_map


def deactivate_map(store: LabelStore, dataset: str) -> None:
    """Read the dataset's labels without a map again (nothing stored changes)."""
    store.set_active_map(dataset, None)


def delete_map(store: LabelStore, name: str) -> int:
    """Delete every version of a map that no dataset has active and no run used.

    A run used a map if its config named it or it trained through the map while it was
    active (the map it resolved is recorded with the run): evaluation and the suspicious
    queue read that run's labels through the map again, so it is kept for them.

    Returns:
        The number of versions deleted.

    Raises:
        LabelMapError: for an unknown map, or one in use (naming the datasets or runs).
    """
    load_map(store, name)  # raises for an unknown name
    users = [d.name for d in store.datasets() if d.active_map == name]
    if users:
        raise LabelMapError(f"Label map {name!r} is active in dataset(s) {users}; deactivate it first.")
    runs = runs_using_map(store, name)
    if runs:
        listed = ", ".join(runs[:5]) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
        raise LabelMapError(
            f"Label map {name!r} was used by run(s) {listed}; it is kept so they can be evaluated."
            " Save a changed copy under another name instead."
        )
    return store.delete_map_rows(name)


# -- files ----------------------------------------------------------------------------------------


def export_map(label_map: LabelMap, path: str | Path) -> Path:
    """Write a map as a readable YAML (``.yaml``/``.yml``) or JSON (``.json``) file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise LabelMapError(f"{path}: a label map file must end in one of {FILE_SUFFIXES}")
    data = label_map.to_dict()
    if suffix == ".json":
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def import_map(path: str | Path, *, name: str | None = None) -> LabelMap:
    """Read a map from a YAML or JSON file (not saved yet: version 0).

    Args:
        path: The file.
        name: Use this name instead of the file's ``name`` field.

    Raises:
        LabelMapError: naming the file (and line, or field) for anything unreadable.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelMapError(f"{path}: cannot read the label map file ({exc})") from None
    data = _parse_text(path, text)
    if isinstance(data, dict) and name:
        data = {**data, "name": name}
    return replace(LabelMap.from_dict(data, str(path)), version=0)


def _parse_text(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelMapError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise LabelMapError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


# -- examples -------------------------------------------------------------------------------------


def example_maps(folder: Path = EXAMPLES_DIR) -> list[LabelMap]:
    """The ready example maps shipped in ``assets/label_maps/``."""
    return [import_map(p) for p in sorted(folder.glob("*.y*ml"))]


def install_example_maps(store: LabelStore, names: Iterable[str] | None = None) -> list[LabelMap]:
    """Save the example maps into the store (a new version only when the stored one differs).

    Args:
        store: The label store.
        names: Only these examples (default: all).

    Returns:
        The installed maps with their store versions.
    """
    wanted = set(names) if names is not None else None
    installed = []
    for example in example_maps():
        if wanted is not None and example.name not in wanted:
            continue
        if example.name in map_names(store) and _same(load_map(store, example.name), example):
            installed.append(load_map(store, example.name))
        else:
            installed.append(save_map(store, example, "installed from the shipped example"))
    return installed


def _same(a: LabelMap, b: LabelMap) -> bool:
    return replace(a, version=0).to_dict() == replace(b, version=0).to_dict()
