"""Download: fetch a URL list's images in the background, watch it, see failures, import the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from fashion_core.download import DownloadConfig
from fashion_core.download.jobs import (
    DownloadJob,
    DownloadRegistry,
    default_out_dir,
    import_download,
    manifest_failures,
    manifest_file,
    manifest_summary,
    save_list,
)
from fashion_core.errors import FashionCoreError
from fashion_core.views.runs import format_duration
from ui import state
from ui.services import get_store, get_workspace

JOB = "download_job"  # id of the download shown
SEEN = "download_seen"  # (job, state) at the last full run: a change redraws the whole page
IMPORTED = "download_imported"  # small summary of the last import: dataset, counts, a few rejections
UPLOAD, SERVER_PATH = "Upload a file", "Path on the server"
POLL_SECONDS = 1.0
FAILURE_ROWS = 50  # failed rows shown; the manifest has them all
REJECTED_ROWS = 100  # rejected rows kept in session state after an import
DEFAULTS = DownloadConfig()
PRIVATE_WARNING = (
    "Private addresses allowed: the server will also fetch from itself (127.0.0.1, localhost) and from "
    "private networks (10.x, 172.16-31.x, 192.168.x). Use this only for a list you trust, such as images "
    "on your intranet: a list from elsewhere could make the server read internal services and save "
    "what they answer. Link-local addresses (cloud metadata) stay refused."
)


@st.cache_resource
def _registry() -> DownloadRegistry:
    """One registry per app process, so a rerun or another tab sees the same downloads."""
    return DownloadRegistry()


# -- starting a download ---------------------------------------------------------------------


def _list_choice() -> tuple[str | None, Any]:
    """The list's display name and either an uploaded file or a server path (None: nothing yet)."""
    source = st.radio(
        "URL list",
        [UPLOAD, SERVER_PATH],
        horizontal=True,
        key="download_source",
        help="A JD-style list: lines 'id,url,l1,...,l13' with 0/1 labels; a header line is allowed.",
    )
    if source == UPLOAD:
        upload = st.file_uploader("List file", type=["csv", "txt"], key="download_upload")
        return (upload.name, upload) if upload is not None else (None, None)
    typed = st.text_input(
        "List path on the server", key="download_list_path", placeholder="/data/jd/train.csv"
    )
    path = typed.strip()
    return (Path(path).name, Path(path).expanduser()) if path else (None, None)


def _options() -> DownloadConfig | None:
    cols = st.columns(3)
    workers = cols[0].number_input(
        "Workers", 1, 512, DEFAULTS.workers, key="download_workers", help="Images fetched at once."
    )
    resize = cols[1].number_input(
        "Resize short side (px, 0 = keep)",
        0,
        10_000,
        0,
        key="download_resize",
        help="Shrink images whose short side is longer; never enlarges.",
    )
    timeout = cols[2].number_input(
        "Read time-out (s)", 1.0, 600.0, DEFAULTS.read_timeout, key="download_timeout"
    )
    allow_private = st.checkbox("Allow private addresses", key="download_allow_private")
    if allow_private:
        st.warning(PRIVATE_WARNING, icon=":material/warning:")
    try:
        return DownloadConfig(
            workers=int(workers),
            resize_short_side=int(resize) or None,
            read_timeout=float(timeout),
            allow_private=bool(allow_private),
        )
    except FashionCoreError as exc:
        st.error(str(exc))
        return None


def _new_download() -> None:
    downloads = get_workspace().downloads_dir
    name, chosen = _list_choice()
    out_typed = st.text_input(
        "Output folder",
        key="download_out",
        placeholder=str(downloads / "<list name>"),
        help="Empty: the default folder.",
    )
    out_dir = Path(out_typed.strip()).expanduser() if out_typed.strip() else None
    if name is not None and out_dir is None:
        out_dir = default_out_dir(downloads, name)
    if out_dir is not None:
        st.caption(
            f"Images and `manifest.csv` go to `{out_dir}`. Running again resumes: images already "
            "there are skipped and failed ones are tried again."
        )
    config = _options()
    if not st.button(
        "Start download",
        type="primary",
        icon=":material/download:",
        key="download_start",
        disabled=chosen is None or config is None,
    ):
        return
    try:
        list_path = (
            chosen if isinstance(chosen, Path) else save_list(downloads / "lists", name, chosen.getvalue())
        )
        job_id = _registry().start(list_path, out_dir, config)
    except FashionCoreError as exc:
        st.error(str(exc))
        return
    st.session_state[JOB] = job_id
    st.session_state.pop(IMPORTED, None)


# -- watching it -----------------------------------------------------------------------------


def _pick_job(jobs: list[DownloadJob]) -> DownloadJob:
    by_id = {j.job_id: j for j in jobs}
    chosen = st.session_state.get(JOB)
    if chosen not in by_id:
        chosen = jobs[0].job_id
    if len(jobs) > 1:
        ids = list(by_id)
        # The key changes with the number of jobs, so a new download is shown without fighting
        # the widget's remembered choice.
        chosen = st.selectbox(
            "Download",
            ids,
            index=ids.index(chosen),
            key=f"download_pick_{len(ids)}",
            format_func=lambda i: f"{by_id[i].list_path.name} → {by_id[i].out_dir} · {by_id[i].state}",
        )
    st.session_state[JOB] = chosen
    return by_id[chosen]


def _live(job_id: str) -> None:
    """Progress of one download; polled while it runs."""
    job = _registry().get(job_id)
    if (job.job_id, job.state) != st.session_state.get(SEEN):
        st.rerun()  # it finished: redraw the page with the results and stop polling
    if not job.active:
        return
    info = job.progress
    if info is None:
        st.progress(0.0, text="Reading the list...")
    else:
        eta = format_duration(info.eta) or "-"
        st.progress(
            job.fraction,
            text=f"{info.done:,} of {info.total:,} rows · {info.rate:,.1f} rows/s · about {eta} left",
        )
    m = st.columns(4)
    m[0].metric("Downloaded", f"{info.ok:,}" if info else "0")
    m[1].metric("Failed", f"{info.failed:,}" if info else "0")
    m[2].metric("Skipped (already there)", f"{info.skipped:,}" if info else "0")
    m[3].metric("Elapsed", format_duration(info.elapsed) if info else "0 s")
    if not job.cancel_requested and st.button(
        "Cancel download", icon=":material/stop:", key=f"download_cancel_{job_id}"
    ):
        job = _registry().cancel(job_id)
    if job.cancel_requested:
        st.warning("Cancel requested: requests under way finish, the remaining rows are marked cancelled.")


def _finished(job: DownloadJob) -> None:
    if job.state == "failed":
        st.error(f"The download could not run: {job.error}")
        return
    s = job.summary
    if s is None:
        return
    head = "Download cancelled" if s.cancelled else "Download finished"
    rate = s.total / s.elapsed if s.elapsed > 0 else 0.0
    (st.warning if s.cancelled or s.failed else st.success)(
        f"{head}: {s.ok:,} downloaded, {s.failed:,} failed, {s.skipped:,} already there, of {s.total:,} rows "
        f"in {format_duration(s.elapsed) if s.elapsed >= 1 else 'under 1 s'} ({rate:,.1f} rows/s). {s.duplicates:,} duplicate images, "
        f"{s.duplicate_urls:,} repeated URLs fetched once."
    )
    _results(job.out_dir, job.list_path, key=job.job_id)


# -- results and import ----------------------------------------------------------------------


def _results(out_dir: Path, list_path: Path | None, *, key: str) -> None:
    """Failures from the manifest, the manifest itself, and the import."""
    manifest = manifest_file(out_dir)
    try:
        counts, failures = _manifest_view(str(manifest), _stamp(manifest))
    except FashionCoreError as exc:
        st.error(str(exc))
        return
    status = counts["status"]
    st.caption(
        f"Manifest `{manifest}`: {counts['total']:,} rows · {status['ok']:,} ok · "
        f"{status['failed']:,} failed · {status['skipped']:,} skipped · {counts['duplicates']:,} duplicates"
    )
    if counts["reasons"]:
        cols = st.columns([1, 3])
        cols[0].dataframe([{"reason": r, "rows": n} for r, n in counts["reasons"].items()], hide_index=True)
        cols[1].dataframe(failures, hide_index=True)
        if status["failed"] > len(failures):
            cols[1].caption(f"First {len(failures)} of {status['failed']:,} failed rows, in list order.")
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
def _manifest_view(manifest: str, stamp: tuple[int, int] | None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Counts and first failures; cached per file version, since a manifest may have millions of rows."""
    return manifest_summary(manifest), manifest_failures(manifest, limit=FAILURE_ROWS)


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
        st.error(str(exc))
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
        f"Imported dataset **{brief['dataset']}**: {brief['images']:,} images, {brief['rows_read']:,} rows "
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


def _earlier_folder() -> None:
    folder = st.text_input("Output folder of an earlier download", key="download_earlier_out")
    listed = st.text_input("Its URL list (to import it)", key="download_earlier_list")
    if not folder.strip():
        st.caption(
            "Shows the manifest's failures of any download folder, e.g. one made with "
            "`python -m fashion_core download`, and imports it."
        )
        return
    list_path = Path(listed.strip()).expanduser() if listed.strip() else None
    _results(Path(folder.strip()).expanduser(), list_path, key="earlier")


# -- the page --------------------------------------------------------------------------------

st.title("Download")
st.caption(
    "Fetch the images of a URL list into a folder in the background, watch the progress, see what "
    "failed and why, then import the result as a dataset. You can leave this page; the download goes on "
    "while the app runs."
)

with st.container(border=True):
    st.subheader("New download")
    _new_download()

st.subheader("Downloads")
jobs = _registry().jobs()
if not jobs:
    st.info("No download yet in this app session. Choose a list above and press **Start download**.")
else:
    job = _pick_job(jobs)
    st.session_state[SEEN] = (job.job_id, job.state)
    st.caption(f"`{job.list_path}` → `{job.out_dir}`")
    st.fragment(run_every=POLL_SECONDS if job.active else None)(_live)(job.job_id)
    if not job.active:
        _finished(job)

with st.expander("Look at an earlier download folder"):
    _earlier_folder()
