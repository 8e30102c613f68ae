"""Download: fetch a URL list's images in the background, watch it, see failures, import the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from fashion_core.access import require_acting
from fashion_core.accounts import record_audit
from fashion_core.download import (
    DownloadConfig,
    DownloadJob,
    DownloadRegistry,
    default_out_dir,
    save_list,
    summarize_download,
)
from fashion_core.errors import FashionCoreError
from fashion_core.paths import data_roots, join_inside
from fashion_core.views import format_duration
from ui.download_results import IMPORTED, earlier_folder, results
from ui.page import PageContext, run_page
from ui.services import get_store
from ui.text import plain

JOB = "download_job"  # id of the download shown
SEEN = "download_seen"  # (job, state) at the last full run: a change redraws the whole page
POLL_SECONDS = 1.0
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
    """The uploaded list's name and file (None: nothing yet). No server path: a visitor must not
    make the server read its own files."""
    upload = st.file_uploader(
        "URL list", type=["csv", "txt"], key="download_upload",
        help="A JD-style list: lines 'id,url,l1,...,l13' with 0/1 labels; a header line is allowed.",
    )
    return (upload.name, upload) if upload is not None else (None, None)


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
        st.error(plain(exc))
        return None


def _new_download(downloads: Path) -> None:
    name, chosen = _list_choice()
    out_typed = st.text_input(
        "Output folder name",
        key="download_out",
        placeholder="<list name>",
        help=f"A folder inside the workspace's downloads folder ({downloads}); empty: the list's name.",
    )
    out_dir = None
    try:
        out_dir = join_inside(downloads, out_typed.strip()) if out_typed.strip() else None
    except FashionCoreError as exc:
        st.error(plain(exc))
    if name is not None and out_dir is None:
        out_dir = default_out_dir(downloads, name)
    if out_dir is not None:
        st.caption(
            f"Images and `manifest.csv` go to {plain(out_dir)}. Running again resumes: images already "
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
        require_acting("download")  # before the list is saved
        list_path = save_list(downloads / "lists", name, chosen.getvalue())
        job_id = _registry().start(list_path, out_dir, config)
        record_audit(get_store(), "download", str(out_dir), f"list {list_path.name}")
    except FashionCoreError as exc:
        st.error(plain(exc))
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
        st.error(f"The download could not run: {plain(job.error)}")
        return
    s = job.summary
    if s is None:
        return
    f = summarize_download(s)
    head = "Download cancelled" if f.cancelled else "Download finished"
    took = format_duration(s.elapsed) if s.elapsed >= 1 else "under 1 s"
    (st.warning if f.needs_attention else st.success)(
        f"{head}: {f.ok:,} downloaded, {f.failed:,} failed, {f.skipped:,} already there, of {f.total:,} rows "
        f"in {took} ({f.rate:,.1f} rows/s). {f.duplicates:,} duplicate images, "
        f"{f.duplicate_urls:,} repeated URLs fetched once."
    )
    results(job.out_dir, job.list_path, key=job.job_id)


# -- the page --------------------------------------------------------------------------------


def main(ctx: PageContext) -> None:
    with st.container(border=True):
        st.subheader("New download")
        _new_download(ctx.workspace.downloads_dir)
    st.subheader("Downloads")
    jobs = _registry().jobs()
    if not jobs:
        st.info("No download yet in this app session. Choose a list above and press **Start download**.")
    else:
        job = _pick_job(jobs)
        st.session_state[SEEN] = (job.job_id, job.state)
        st.caption(f"{plain(job.list_path)} → {plain(job.out_dir)}")
        st.fragment(run_every=POLL_SECONDS if job.active else None)(_live)(job.job_id)
        if not job.active:
            _finished(job)
    with st.expander("Look at an earlier download folder"):
        earlier_folder(data_roots(ctx.workspace.root))


run_page(
    main,
    title="Download",
    caption=(
        "Fetch the images of a URL list into a folder in the background, watch the progress, see what "
        "failed and why, then import the result as a dataset. You can leave this page; the download goes on "
        "while the app runs."
    ),
    needs_dataset=False,
    action="download",
)
