"""Importing a finished download as a JD dataset, with the manifest's reason for every missing image."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from pathlib import Path

from fashion_core.download.manifest import MANIFEST_NAME
from fashion_core.download.manifest_reader import line_numbers, manifest_chunks, manifest_summary
from fashion_core.errors import DownloadError
from fashion_core.ingest.importer import ImportReport, import_labels
from fashion_core.ingest.table import Rejection
from fashion_core.store import LabelStore

_MISSING_IMAGE = re.compile(r"^image file missing: (?P<name>.+)$")


def import_download(
    store: LabelStore,
    *,
    list_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    dataset: str,
    replace: bool = False,
) -> ImportReport:
    """Import a downloaded list as a JD dataset whose images root is the download folder.

    Rows whose image is not in the folder are rejected (not imported); their reason names the
    file and, from the download manifest, why its download failed.

    Args:
        store: The label store.
        list_path: The URL list that was downloaded (its labels are imported).
        out_dir: The download's output folder.
        dataset: Name of the new dataset.
        replace: Replace a dataset of that name instead of refusing.

    Returns:
        The import report, with every rejected row.

    Raises:
        DownloadError: if the manifest shows that no image at all was downloaded.
        LabelFileError: if the list cannot be read or no row has an image.
        StoreError: if the dataset exists and ``replace`` is False, or the name is empty.
    """
    out = Path(out_dir).expanduser().resolve()
    manifest = out / MANIFEST_NAME
    if manifest.is_file():
        _refuse_empty_download(manifest)
    report = import_labels(
        store,
        dataset=dataset,
        fmt="jd",
        files=[Path(list_path).expanduser()],
        images_root=out,
        replace=replace,
    )
    return dataclasses.replace(report, rejected=_explain_missing(report.rejected, manifest))


def _refuse_empty_download(manifest: Path) -> None:
    counts = manifest_summary(manifest)
    if counts["total"] and not counts["status"]["ok"] and not counts["status"]["skipped"]:
        top = next(iter(counts["reasons"]), "unknown")
        raise DownloadError(
            f"{manifest.parent}: no image was downloaded ({counts['status']['failed']} rows failed, "
            f"most often: {top}); nothing to import. See {manifest}."
        )


def _explain_missing(rejected: Iterable[Rejection], manifest: Path) -> list[Rejection]:
    """Add the download's own reason to every 'image file missing' rejection."""
    rejected = list(rejected)
    wanted = {r.line for r in rejected if _MISSING_IMAGE.match(r.reason)}
    if not wanted:
        return rejected
    by_line = _manifest_lines(manifest, wanted)
    return [_explained(r, by_line, manifest) if r.line in wanted else r for r in rejected]


def _manifest_lines(manifest: Path, lines: set[int]) -> dict[int, dict[str, str]] | None:
    """Manifest rows of the given list lines; None when there is no readable manifest."""
    found: dict[int, dict[str, str]] = {}
    try:
        for chunk in manifest_chunks(manifest, ["line", "id", "status", "reason"]):
            chunk = chunk.assign(line=line_numbers(manifest, chunk["line"]))
            for record in chunk[chunk["line"].isin(lines)].to_dict("records"):
                found[int(record["line"])] = record
    except DownloadError:
        return None
    return found


def _explained(rejection: Rejection, by_line: dict[int, dict[str, str]] | None, manifest: Path) -> Rejection:
    match = _MISSING_IMAGE.match(rejection.reason)
    name = match.group("name") if match else "?"
    record = None if by_line is None else by_line.get(rejection.line)
    if by_line is None:
        why = f"no download manifest in {manifest.parent}: download the list into this folder first"
    elif record is None or f"{record['id']}.jpg" != name:
        why = f"line not in the download manifest {manifest}"
    elif record["status"] == "failed":
        why = f"download failed: {record['reason']}; see the download manifest {manifest}"
    else:
        why = f"the manifest says {record['status']} but the file is gone; download again to fetch it"
    return dataclasses.replace(rejection, reason=f"image file missing: {name} ({why})")
