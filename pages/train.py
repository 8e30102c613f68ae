"""Train: configure a run, start it in the background, watch it live, compare finished runs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from fashion_core.errors import FashionCoreError
from fashion_core.modeling import describe_devices
from fashion_core.training import JobStatus, jobs
from fashion_core.views import (
    comparison_figure,
    comparison_frame,
    curves_figure,
    history_frame,
    run_progress,
    runs_table,
    val_accuracy,
)
from ui.page import start_page
from ui.services import get_workspace
from ui.text import plain
from ui.train_form import data_and_model, train_form

SELECTED = "train_selected_run"  # the run shown in the live panel
PICK = "train_run_pick"  # the run picker's widget state (set directly: a started run is shown at once)
SEEN_STATES = "train_seen_states"  # (run, state) pairs at the last poll: a change reruns the page
POLL_SECONDS = 2.0
ACTIVE_STATES = ("queued", "running")


def _start(config: dict[str, Any]) -> None:
    try:
        run_id = jobs.submit(get_workspace(), config)
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    st.session_state[SELECTED] = run_id
    st.session_state[PICK] = run_id  # the picker is drawn below: it opens on the new run, not the old pick
    state = jobs.status(get_workspace(), run_id).state
    st.toast(f"Run {run_id}: {state}." + (" It starts when the current run ends." if state == "queued" else ""))


def _pick_run(listed: list[JobStatus]) -> JobStatus:
    ids = [j.run for j in listed]
    chosen = st.session_state.get(SELECTED)
    if chosen not in ids:
        active = [j.run for j in listed if j.state == "running"]
        chosen = active[0] if active else ids[0]
    by_id = {j.run: j for j in listed}
    if st.session_state.get(PICK) not in ids:
        # The widget keeps its own value across reruns (an `index` is ignored then), so it is set
        # here when it has none, and by _start for a run started in this tab.
        st.session_state[PICK] = chosen
    # No state in the option text: a selectbox keeps showing the text it was drawn with, so
    # "running" would stay after the run ended. The table and the panel below show the state.
    picked = st.selectbox("Run", ids, key=PICK)
    st.session_state[SELECTED] = picked
    return by_id[picked]


def _live_panel(job: JobStatus) -> None:
    run_id, state = job.run, job.state
    if state in ACTIVE_STATES and st.button("Cancel run", key=f"train_cancel_{run_id}", icon=":material/stop:"):
        try:
            job = jobs.cancel(get_workspace(), run_id)
        except FashionCoreError as exc:
            st.error(plain(exc))
        state = job.state
    if state in ACTIVE_STATES:
        st.fragment(run_every=POLL_SECONDS)(_live_progress)(job.dataset, run_id)
    elif state == "failed":
        st.error(f"The run failed: {plain(job.error or 'no reason recorded')}")
        if job.log_tail:
            with st.expander("Last lines of log.txt", expanded=True):
                st.code(job.log_tail, language=None)
    else:
        acc = val_accuracy(job.metrics)
        st.success(f"Run {state}." + (" Best checkpoint kept." if job.model_sha256 else ""))
        if acc:
            st.dataframe([{"category": c, "val accuracy": round(a, 4)} for c, a in acc.items()], hide_index=True)
    history = history_frame(job.run_dir)
    if not history.empty:
        st.plotly_chart(curves_figure(history), key=f"train_curves_{run_id}")
    with st.expander("Configuration"):
        st.json(dict(job.config))


PHASE_TEXT = {
    "starting": "starting the training process",
    "preparing": "reading the labels and splitting them",
    "building": "building the model and loading its weights",
    "embeddings": "computing backbone features (once per image, then cached)",
    "heads": "training the heads",
    "finetune": "fine-tuning the backbone with the heads",
}


def _running(job: JobStatus) -> None:
    progress = run_progress(job)
    phase = job.phase or "starting"
    doing = PHASE_TEXT.get(phase, phase)
    if not progress.epoch_text:
        # Before the first epoch there is no time per epoch to show: say what is happening instead.
        st.progress(progress.batch_fraction if progress.batch_text else 0.0,
                    text=f"Preparing: {doing}" + (f" · {progress.batch_text}" if progress.batch_text else ""))
        st.caption("Curves and time estimates appear when the first epoch starts.")
    else:
        st.progress(progress.fraction, text=f"{progress.epoch_text} · {doing}")
        if progress.batch_text:
            st.progress(progress.batch_fraction, text=progress.batch_text.capitalize())
        m = st.columns(2)
        m[0].metric("Time per epoch", progress.per_epoch_text or "-")
        m[1].metric("Time left", progress.eta_text or "-")
    if job.cancel_requested:
        st.warning("Cancel requested: the run stops at its next step and keeps its best checkpoint.")
    if job.message:
        st.caption(plain(job.message))


def _runs_section(listed: list[JobStatus]) -> None:
    """Run list, the picked run's panel and curves (drawn with the page; its progress polls)."""
    if not listed:
        st.info("No runs of this dataset yet. Choose the options above and press Start training.")
        return
    st.dataframe(runs_table(listed), hide_index=True, key="train_runs_table")
    _live_panel(_pick_run(listed))


def _live_progress(dataset: str, run_id: str) -> None:
    """Polled: an active run's progress. A run changing state or ending an epoch redraws the page.

    Only this small part reruns every poll: redrawing the curves every two seconds cost the
    training run beside it (2 cores) up to a third of its speed.
    """
    ws = get_workspace()
    try:
        jobs.reconcile(ws)
        listed = jobs.list_jobs(ws, dataset)
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    if _signature(listed) != st.session_state.get(SEEN_STATES):
        st.rerun()  # table, curves, comparison and polling follow the change
    job = next((j for j in listed if j.run == run_id), None)
    if job is None:
        st.rerun()
    elif job.state == "queued":
        st.info(f"Waiting in the queue (position {job.queue_position or '?'}); one run trains at a time.")
    else:
        _running(job)


def _signature(listed: list[JobStatus]) -> tuple[tuple[str, str, Any], ...]:
    return tuple((j.run, j.state, j.epoch) for j in listed)


info = start_page("Train").require_dataset()  # the shared skeleton (ui/page.py)
st.caption(f"Dataset **{plain(info.name)}** · one model with a head per category, trained in the background; "
           "you can leave this page or reload it, the run goes on.")

with st.container(border=True):
    st.subheader("New run")
    st.caption(describe_devices())
    try:
        map_choice, categories, backbone = data_and_model(info.name, info.active_map)
        config = train_form(info.name, map_choice, categories, backbone)
    except FashionCoreError as exc:
        st.error(plain(exc))
        config = None
    if config is not None:
        _start(config)

st.subheader("Runs")
try:
    jobs.reconcile(get_workspace())  # a run whose process died while nobody watched shows as failed
    listed = jobs.list_jobs(get_workspace(), info.name)
except FashionCoreError as exc:
    st.error(plain(exc))
    st.stop()
st.session_state[SEEN_STATES] = _signature(listed)
_runs_section(listed)

st.subheader("Compare finished runs")
compared = comparison_frame(listed)
if compared.empty:
    st.caption("Finished runs with validation accuracy appear here side by side.")
else:
    st.dataframe(compared, hide_index=True, key="train_compare_table")
    st.plotly_chart(comparison_figure(compared), key="train_compare_chart")
