"""Export a dataset through a label map as ``out/<category>/<value>/<file>`` folders for Keras."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fashion_core.access import require_acting
from fashion_core.errors import ExportError
from fashion_core.labels.view import ACTIVE, LabelSource, label_view
from fashion_core.paths import join_inside, safe_part
from fashion_core.schema import Schema, split_value
from fashion_core.store import LabelStore

REPORT_NAME = "export_report.json"
# errno values for which a hard link is impossible on this file system pair: copy instead.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES, errno.EOPNOTSUPP}

ProgressFn = Callable[[int, int], None]  # (files done, total)


@dataclass
class FolderExportReport:
    """What an export wrote, and every image it could not.

    Attributes:
        dataset: The dataset exported.
        map_name: The label map read through (None: no map).
        map_version: Its version.
        out_dir: The export root.
        linked: Files written as hard links.
        copied: Files written as copies.
        counts: ``{category: {value: files}}`` as written.
        folders: ``{category: {value: folder name}}`` (values such as ``3/4 Sleeves`` need a
            safe folder name).
        missing: ``{"path", "reason"}`` for every image that could not be exported.
        no_positive: Multi-label images without any positive, per category (no folder to go in).
    """

    dataset: str
    map_name: str | None
    map_version: int | None
    out_dir: str
    linked: int = 0
    copied: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    folders: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: list[dict[str, str]] = field(default_factory=list)
    no_positive: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "map": self.map_name,
            "map_version": self.map_version,
            "out_dir": self.out_dir,
            "linked": self.linked,
            "copied": self.copied,
            "files": self.linked + self.copied,
            "counts": self.counts,
            "folders": self.folders,
            "missing": self.missing,
            "no_positive": self.no_positive,
        }


def export_folders(
    store: LabelStore,
    dataset: str,
    out_dir: str | Path,
    *,
    source: LabelSource = ACTIVE,
    categories: Iterable[str] | None = None,
    link: bool = True,
    on_progress: ProgressFn | None = None,
) -> FolderExportReport:
    """Write one folder per category and value, with each image hard-linked (else copied) in.

    The originals are never moved or changed. Point
    ``keras.utils.image_dataset_from_directory`` at ``out_dir/<category>``. Multi-label
    images go into the folder of every positive value.

    Args:
        store: The label store.
        dataset: The dataset to export.
        out_dir: A new or empty folder outside the dataset's images root.
        source: Which labels: ``ACTIVE`` (the dataset's active map), ``NO_MAP`` or a named map.
        categories: Only these categories (default: all that have labels).
        link: Try hard links first (False: always copy).
        on_progress: Called with (files done, total).

    Returns:
        The report; images that could not be exported are listed in ``missing``.
    """
    require_acting("export")
    info = store.dataset(dataset)
    out = _check_out_dir(Path(out_dir), info.images_root)
    view = label_view(store, dataset, source)
    names = _categories(view.schema, categories)
    folders = {name: _unique_dirs(view.schema.category(name).values) for name in names}
    plan, no_positive = _plan_files(view.labels, folders)
    report = FolderExportReport(
        dataset, view.map_name, view.map_version, str(out), folders=folders, no_positive=no_positive
    )
    _write_files(plan, info.images_root, out, report, link, on_progress)
    (out / REPORT_NAME).write_text(
        json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return report


def _check_out_dir(out: Path, images_root: Path) -> Path:
    out = out.expanduser().resolve()
    root = images_root.resolve()
    if out == root or root in out.parents:
        raise ExportError(
            f"Export folder {out} is inside the dataset's images root {root}; choose another folder."
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"Export folder {out} exists and is not empty; choose a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _categories(schema: Schema, wanted: Iterable[str] | None) -> list[str]:
    if wanted is None:
        return schema.category_names
    names = list(wanted)
    for name in names:
        schema.category(name)  # raises SchemaError naming the known categories
    return names


def safe_folder_name(value: str) -> str:
    """A folder name for a value from data: see ``paths.safe_part`` (never ``..``, no separators)."""
    return safe_part(value)


def _plan_files(
    labels: pd.DataFrame, folders: dict[str, dict[str, str]]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per file to write: image_id, path, category, value, value_dir, file."""
    frames, no_positive = [], {}
    for name, dirs in folders.items():
        rows = labels.loc[labels["category"] == name, ["image_id", "path", "category", "value"]]
        rows = rows.assign(value=rows["value"].map(split_value)).explode("value")
        empty = rows["value"].isna()
        if empty.any():
            no_positive[name] = int(empty.sum())
        rows = rows.loc[~empty]
        frames.append(rows.assign(value_dir=rows["value"].map(dirs)))
    plan = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["image_id", "path", "category", "value", "value_dir"])
    )
    base = plan["path"].map(lambda p: safe_part(Path(p).name))
    # Two images with the same file name in one folder: both get their image id in front.
    clash = pd.DataFrame({"c": plan["category"], "v": plan["value_dir"], "b": base}).duplicated(keep=False)
    plan["file"] = base.where(~clash, plan["image_id"].astype(str) + "_" + base)
    return plan, no_positive


def _unique_dirs(values: Iterable[str]) -> dict[str, str]:
    dirs: dict[str, str] = {}
    for value in values:
        name, n = safe_folder_name(value), 2
        while name.lower() in {d.lower() for d in dirs.values()}:  # case-insensitive file systems
            name, n = f"{safe_folder_name(value)}_{n}", n + 1
        dirs[value] = name
    return dirs


def _write_files(
    plan: pd.DataFrame,
    root: Path,
    out: Path,
    report: FolderExportReport,
    link: bool,
    on_progress: ProgressFn | None,
) -> None:
    total, made, placer = len(plan), set(), _Placer(link)
    for done, row in enumerate(plan.itertuples(index=False), start=1):
        folder = join_inside(out, row.category, row.value_dir)  # names from data stay inside out
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        how = placer.place(root / row.path, folder / row.file)
        if how in ("link", "copy"):
            report.linked += how == "link"
            report.copied += how == "copy"
            cat_counts = report.counts.setdefault(row.category, {})
            cat_counts[row.value] = cat_counts.get(row.value, 0) + 1
        else:
            report.missing.append({"path": str(row.path), "category": row.category, "reason": how})
        if on_progress and (done % 500 == 0 or done == total):
            on_progress(done, total)


class _Placer:
    """Hard-links files while the file system allows it, then copies."""

    def __init__(self, link: bool) -> None:
        self.link = link

    def place(self, src: Path, dst: Path) -> str:
        """Link or copy one file; returns "link", "copy" or the reason it failed."""
        if self.link:
            try:
                os.link(src, dst)
                return "link"
            except FileNotFoundError:
                return f"image file not found: {src}"
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    return f"cannot link {src}: {exc.strerror or exc}"
                self.link = False  # e.g. another file system: do not try again for every file
        try:
            shutil.copy2(src, dst)
            return "copy"
        except FileNotFoundError:
            return f"image file not found: {src}"
        except OSError as exc:
            return f"cannot copy {src}: {exc.strerror or exc}"
