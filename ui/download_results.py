"""The Download page's results: failures from the manifest, the manifest file, and the import."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from fashion_core.download import (
    DownloadFigures,
    import_download,
    manifest_failures,
    manifest_file,
    summarize_manifest,
)
from fashion_core.errors import FashionCoreError
from fashion_core.paths import DATA_ROOTS_ENV, confine
from ui import state
from ui.services import get_store
from ui.text import plain

IMPORTED = "download_imported"  # small summary of the last import: dataset, counts, a few rejections
FAILURE_ROWS = 50  # failed rows shown; the manifest has them all
REJECTED_ROWS = 100  # rejected rows kept in session state after an import


def results(out_dir: Path, list_path: Path | None, *, key: str) -> None:
    """Failures from the manifest, the manifest itself, and the import."""
    manifest = manifest_file(out_dir)
    try:
        figures, failures = _manifest_view(str(manifest), _stamp(manifest))
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    st.caption(
        f"Manifest {plain(manifest)}: {figures.total:,} rows · {figures.ok:,} ok · "
        f"{figures.failed:,} failed · {figures.skipped:,} skipped · {figures.duplicates:,} duplicates"
    )
    if figures.reasons:
        cols = st.columns([1, 3])
        cols[0].dataframe([{"reason": r, "rows": n} for r, n in figures.reasons.items()], hide_index=True)
        cols[1].dataframe(failures, hide_index=True)
        if figures.failed > len(failures):
            cols[1].caption(f"First {len(failures)} of {figures.failed:,} failed rows, in list order.")
    else:
        st.success("No failures.", icon=":material/check:")
    st.download_button(
        "Download manifest.csv",
        data=manifest.read_bytes,
        file_name=f"{out_dir.name}-manifest.csv",
        mime="text/csv",
        on_click="ignore",
        key=f"download_manifest_{key}",
        icon=":material/table_view:",
    )
    if list_path is not None:
        _import(out_dir, list_path, key=key)


@st.cache_data(max_entries=16, show_spinner="Reading the manifest...")
def _manifest_view(manifest: str, stamp: tuple[int, int] | None) -> tuple[DownloadFigures, pd.DataFrame]:
    """Figures and first failures; cached per file version, since a manifest may have millions of rows."""
    return summarize_manifest(manifest), manifest_failures(manifest, limit=FAILURE_ROWS)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _import(out_dir: Path, list_path: Path, *, key: str) -> None:
    st.markdown("##### Import as dataset")
    cols = st.columns([2, 1])
    name = cols[0].text_input("Dataset name", value=list_path.stem, key=f"download_dataset_{key}")
    replace = cols[1].checkbox("Replace a dataset of that name", key=f"download_replace_{key}")
    if st.button("Import as dataset", type="primary", icon=":material/input:", key=f"download_import_{key}"):
        _run_import(out_dir, list_path, name.strip(), replace)
    _imported(out_dir, key=key)


def _run_import(out_dir: Path, list_path: Path, dataset: str, replace: bool) -> None:
    try:
        with st.spinner("Checking every image and importing..."):
            report = import_download(
                get_store(), list_path=list_path, out_dir=out_dir, dataset=dataset, replace=replace
            )
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    brief = report.to_dict()  # only a small summary goes into session state
    brief["rejected_count"] = len(report.rejected)
    brief["rejected"] = brief["rejected"][:REJECTED_ROWS]
    brief["out_dir"] = str(out_dir)
    st.session_state[IMPORTED] = brief


def _imported(out_dir: Path, *, key: str) -> None:
    brief = st.session_state.get(IMPORTED)
    if not brief or brief["out_dir"] != str(out_dir):
        return
    st.success(
        f"Imported dataset **{plain(brief['dataset'])}**: {brief['images']:,} images, {brief['rows_read']:,} rows "
        f"read, {brief['rejected_count']:,} rejected."
    )
    if brief["rejected"]:
        st.dataframe(brief["rejected"], hide_index=True)
        if brief["rejected_count"] > len(brief["rejected"]):
            st.caption(f"First {len(brief['rejected'])} of {brief['rejected_count']:,} rejected rows.")
    if st.button(
        "Open in Browse",
        icon=":material/photo_library:",
        key=f"download_browse_{key}",
        on_click=_choose_dataset,
        args=(brief["dataset"],),
    ):
        st.switch_page("pages/browse.py")


def _choose_dataset(name: str) -> None:
    st.session_state[state.DATASET] = name  # in a callback: before the sidebar's widget is drawn


def earlier_folder(roots: list[Path]) -> None:
    """An earlier download folder (and its list), confined to the configured data roots."""
    folder = st.text_input("Output folder of an earlier download", key="download_earlier_out")
    listed = st.text_input("Its URL list (to import it)", key="download_earlier_list")
    if not folder.strip():
        st.caption(
            "Shows the manifest's failures of a download folder, e.g. one made with "
            "`python -m fashion_core download`, and imports it. Allowed folders: "
            + ", ".join(plain(r) for r in roots) + f" (more through ${DATA_ROOTS_ENV})."
        )
        return
    try:
        out_dir = confine(folder.strip(), roots)
        list_path = confine(listed.strip(), roots) if listed.strip() else None
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    results(out_dir, list_path, key="earlier")
