"""Evaluate: a finished run's validation metrics, its misclassified images, and the suspicious-label queue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fashion_core.analysis import (
    EVALUATION_FILE,
    TUNING_METRICS,
    EvaluationReport,
    evaluable_runs,
    evaluate_run,
    load_evaluation,
    tune_thresholds,
)
from fashion_core.imaging import GALLERY_SIZE
from fashion_core.runs import RunRecord, default_run
from fashion_core.store import DatasetInfo
from fashion_core.views import confusion_figure
from ui.evaluate_calibration import calibration_tab
from ui.evaluate_review import FLASH, OPEN, close, file_stamp, open_image, suspicious
from ui.image_detail import render_image_detail
from ui.metric_table import metric_table
from ui.page import PageContext, run_page
from ui.services import get_store
from ui.text import plain
from ui.widgets import flash, served_thumbnails, stage_progress

RUN, CATEGORY, NORMALIZE = "evaluate_run", "evaluate_category", "evaluate_normalize"
THRESHOLD, METRIC = "evaluate_threshold", "evaluate_tuning_metric"
MIS_CATEGORY, MIS_PAGE = "evaluate_mis_category", "evaluate_mis_page"
ALL = "All categories"
TILES = 18  # misclassified images per page
COLUMNS = 6


@st.cache_data(max_entries=2, show_spinner="Reading the evaluation...")
def _saved_evaluation(db_path: str, run_id: str, stamp: int, labels_version: tuple) -> EvaluationReport | None:
    """The saved evaluation, parsed once per file version and labels version (pages rerun on every click)."""
    return load_evaluation(get_store(), run_id)


@st.dialog("Image details", width="large", on_dismiss=close)
def _detail(info: DatasetInfo, image_id: int, category: str | None, neighbours: list[int]) -> None:
    render_image_detail(info, image_id, prefix="evaluate", neighbours=neighbours,
                        open_image=lambda i: open_image(i, category), close=close, flash_key=FLASH, category=category)


# -- run and report ---------------------------------------------------------------------------------


def _pick_run(info: DatasetInfo) -> RunRecord:
    runs = evaluable_runs(get_store(), info.name)
    if not runs:
        st.info(f"No finished training run of **{plain(info.name)}** yet: train a model first, then judge it here.",
                icon=":material/info:")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    ids = [r.id for r in runs]
    by_id = {r.id: r for r in runs}
    best = default_run(get_store(), info.name)  # the run Predict opens on too
    chosen = st.selectbox("Run", ids, key=RUN, format_func=lambda i: _run_label(by_id[i]),
                          index=ids.index(best.id) if best is not None and best.id in ids else 0,
                          help="Runs of this dataset that ended with a model, newest first; the best one is"
                               " chosen first, as on Predict.")
    return by_id[chosen]


def _run_label(run: RunRecord) -> str:
    config = run.config or {}
    mode = "quick" if config.get("quick") else config.get("schedule", "")
    return f"{run.id} · {run.status} · {config.get('backbone', '?')} {config.get('image_size', '?')} px · {mode}"


def _report(run: RunRecord) -> EvaluationReport | None:
    """The saved evaluation, or a button to compute it; a stale one can be refreshed."""
    store = get_store()
    version = tuple(store.labels_version(run.dataset)) if run.dataset else ()
    report = _saved_evaluation(str(store.db_path), run.id, file_stamp(run, EVALUATION_FILE), version)
    if report is None:
        box = st.empty()  # cleared once the evaluation exists: the note would be untrue then
        with box.container():
            st.info("This run has not been evaluated yet. Evaluation runs the model over the run's validation "
                    "images (a minute or two for a few thousand on this machine).", icon=":material/fact_check:")
            started = st.button("Evaluate on the validation images", key="evaluate_start", type="primary",
                                icon=":material/play_arrow:")
        if not started:
            return None
        report = evaluate_run(store, run.id, on_progress=stage_progress("Evaluating"))
        box.empty()
        return report
    if report.stale:
        st.warning("Labels changed since this evaluation (edits or imports); its figures use the labels of then.",
                   icon=":material/update:")
        if st.button("Evaluate again with the current labels", key="evaluate_refresh", icon=":material/refresh:"):
            return evaluate_run(store, run.id, refresh=True, on_progress=stage_progress("Evaluating"))
    return report


# -- metrics ------------------------------------------------------------------------------------------


def _metrics(report: EvaluationReport) -> None:
    top = st.columns(2)
    top[0].metric("Validation images", f"{report.data['images']:,}")
    fmap = report.fashionai_map
    top[1].metric("FashionAI mAP", f"{fmap:.4f}" if fmap is not None else "-",
                  help="The FashionAI competition's metric: the mean over categories of each one's AP, where an "
                       "image counts at every threshold its top probability passes (m marks ignored).")
    st.caption(f"Evaluated {report.data.get('evaluated_at', '-')[:16].replace('T', ' ')} on the run's validation split.")
    names = report.categories
    name = st.selectbox("Category", names, key=CATEGORY)
    cat = report.category(name)
    if cat["kind"] == "single":
        _single(report, name, cat)
    else:
        _multi(report, name, cat)
    if report.data.get("problems"):
        with st.expander(f"{len(report.data['problems'])} images or labels left out"):
            st.dataframe(pd.DataFrame(report.data["problems"]), hide_index=True, key="evaluate_problems")


def _single(report: EvaluationReport, name: str, cat: dict) -> None:
    cols = st.columns(4)
    for col, (label, key) in zip(cols, (("Accuracy", "accuracy"), ("FashionAI AP", "fashionai_ap"),
                                        ("Basic precision", "basic_precision"), ("Macro F1", "macro_f1"))):
        col.metric(label, f"{cat[key]:.4f}" if cat.get(key) is not None else "-")
    shown = st.radio("Confusion matrix", ["counts", "normalized"], key=NORMALIZE, horizontal=True,
                     help="normalized: each row divided by its label's images (the diagonal is the recall)")
    st.plotly_chart(confusion_figure(report, name, normalize=shown == "normalized"), key="evaluate_confusion")
    metric_table(report.per_value_frame(name), key="evaluate_per_value")


def _multi(report: EvaluationReport, name: str, cat: dict) -> None:
    threshold = st.slider("Threshold (one for every value)", 0.05, 0.95, 0.5, 0.05, key=THRESHOLD)
    summary = report.multilabel_summary(name, threshold)
    cols = st.columns(4)
    for col, (label, key) in zip(cols, (("F2 (samples, JD metric)", "f2_samples"), ("F1 (samples)", "f1_samples"),
                                        ("F2 macro", "f2_macro"), ("Exact match", "exact_match"))):
        col.metric(label, f"{summary[key]:.4f}" if summary.get(key) is not None else "-")
    metric_table(report.multilabel_frame(name, threshold), key="evaluate_multi_table")
    tuned = cat.get("tuned", {})
    st.caption(f"Per-value thresholds tuned on the validation images for {tuned.get('metric', '?').upper()}: "
               f"F2 (samples) {tuned.get('f2_samples') or 0:.4f}, F1 (samples) {tuned.get('f1_samples') or 0:.4f} "
               "(tuned and measured on the same images, so a little optimistic). Prediction uses them.")
    with st.container(horizontal=True, vertical_alignment="bottom"):
        metric = st.selectbox("Tune for", list(TUNING_METRICS), key=METRIC,
                              index=list(TUNING_METRICS).index(report.data.get("tuning_metric", "f2")))
        if st.button("Tune thresholds and save them with the run", key="evaluate_tune"):
            saved = tune_thresholds(get_store(), report.run_id, metric)
            flash(FLASH, f"Saved thresholds for {metric.upper()}: "
                         + "; ".join(f"{c}: " + ", ".join(f"{v} {t:.2f}" for v, t in m.items()) for c, m in saved.items()))
            st.rerun()


# -- misclassified gallery ------------------------------------------------------------------------------


def _misclassified(info: DatasetInfo, report: EvaluationReport) -> None:
    frame = report.misclassified_frame()
    if frame.empty:
        st.success("The model gets every validation image right.", icon=":material/check_circle:")
        return
    # Not labelled "Category": one label per page keeps the Metrics tab's category picker unambiguous.
    choice = st.selectbox("Misclassified in", [ALL, *sorted(frame["category"].unique())], key=MIS_CATEGORY)
    shown = frame if choice == ALL else report.misclassified_frame(choice)
    pages = max(1, -(-len(shown) // TILES))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=MIS_PAGE) if pages > 1 else 1
    rows = shown.iloc[(page - 1) * TILES: page * TILES]
    st.caption(f"{len(shown):,} misclassified, worst first: the lowest probability the model gives the label.")
    thumbs = served_thumbnails(info, rows["path"].tolist(), GALLERY_SIZE)
    cols = st.columns(COLUMNS)
    for i, row in enumerate(rows.itertuples(index=False)):
        with cols[i % COLUMNS]:
            _tile(row, thumbs, "evaluate_mis")


def _tile(row, thumbs, prefix: str) -> None:
    thumb = thumbs.thumbnails.get(row.path)
    if thumb is not None:
        st.image(str(thumb), width="stretch", output_format="JPEG")
    else:
        st.warning(f"#{row.image_id}: {plain(thumbs.problems.get(row.path, 'no preview'))}", icon=":material/broken_image:")
    # Zero-width spaces after underscores: long category names wrap there, not mid-word.
    name = row.category.replace("_", "_\u200b")
    st.caption(f"{plain(name)}:  \n**{plain(row.given)}** ({row.given_prob:.0%}) → {plain(row.predicted)} ({row.predicted_prob:.0%})")
    st.button("Open", key=f"{prefix}_open_{row.image_id}_{row.category}", icon=":material/zoom_in:",
              type="tertiary", on_click=open_image, args=(row.image_id, row.category))


# -- page -----------------------------------------------------------------------------------------------


def main(ctx: PageContext) -> None:
    info = ctx.require_dataset()
    flash(FLASH)
    run = _pick_run(info)
    report = _report(run)
    metrics_tab, calibration, mis_tab, sus_tab = st.tabs(["Metrics", "Calibration", "Misclassified", "Suspicious labels"])
    with metrics_tab:
        if report is not None:
            _metrics(report)
    with calibration:
        calibration_tab(run)
    with mis_tab:
        if report is not None:
            _misclassified(info, report)
        else:
            st.caption("Evaluate the run first.")
    with sus_tab:
        suspicious(info, run)
    opened = st.session_state.get(OPEN)
    if opened is not None:
        neighbours = report.misclassified_frame()["image_id"].drop_duplicates().tolist() if report else []
        _detail(info, int(opened[0]), opened[1], [int(i) for i in neighbours])



run_page(
    main,
    title="Evaluate",
    caption=(
        "Judge a finished run on its validation images: confusion matrices and per-value scores, the "
        "images it gets wrong, and the labels it finds suspicious."
    ),
)
