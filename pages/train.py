"""Train: configure a run, start it in the background, watch it live, compare finished runs."""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from fashion_core.training import jobs
from fashion_core.errors import FashionCoreError
from fashion_core.labels.maps import map_names
from fashion_core.modeling.backbones import BACKBONES
from fashion_core.modeling.config import FLIP_MODES, IMBALANCE_SCHEMES, NO_MAP, SCHEDULES, TrainConfig
from fashion_core.modeling.distribute import describe_devices
from fashion_core.views.runs import (
    comparison_figure,
    comparison_frame,
    curves_figure,
    history_frame,
    run_progress,
    runs_table,
    trainable_categories,
    val_accuracy,
)
from ui.services import active_dataset, get_store, get_workspace

SELECTED = "train_selected_run"  # the run shown in the live panel
SEEN_STATES = "train_seen_states"  # (run, state) pairs at the last poll: a change reruns the page
POLL_SECONDS = 2.0
ACTIVE_STATES = ("queued", "running")
SCHEDULE_TEXT = {
    "heads": "heads only (backbone frozen)",
    "finetune": "fine-tune everything",
    "heads_then_finetune": "heads, then fine-tune at a lower learning rate",
}
AUGMENTATIONS = (  # (switch, strength field, label, help)
    ("rotation", "rotation_factor", "Rotation", "fraction of a full turn"),
    ("translation", "translation_factor", "Translation", "fraction of the image side"),
    ("brightness", "brightness_factor", "Brightness", "relative change"),
    ("contrast", "contrast_factor", "Contrast", "relative change"),
)


def _map_label(value: str | None, active: str | None) -> str:
    if value is None:
        return f"active map ({active})" if active else "active map (none set: labels as they are)"
    return "no map (labels as they are)" if value == NO_MAP else value


def _data_and_model(dataset: str, active_map: str | None) -> tuple[str | None, list[str], str]:
    """Map, categories and backbone: outside the form, because the choices depend on them."""
    store = get_store()
    cols = st.columns(2)  # categories get a row of their own: eight chips need the width
    map_choice = cols[0].selectbox(
        "Label map", [None, NO_MAP, *map_names(store)], key="train_map",
        format_func=lambda v: _map_label(v, active_map), help="Train on the labels as seen through this map.",
    )
    labelled = trainable_categories(store, dataset, map_choice)
    categories = st.multiselect(
        "Categories (one head each)", labelled, default=labelled, key=f"train_categories_{map_choice}",
        help="One model learns all chosen categories; images unlabelled in a category do not count for its head.",
    )
    default = TrainConfig.__dataclass_fields__["backbone"].default
    names = list(BACKBONES)
    backbone = cols[1].selectbox("Backbone", names, index=names.index(default), key="train_backbone",
                                 format_func=lambda n: BACKBONES[n].label)
    return map_choice, categories, backbone


def _augmentation_inputs(defaults: Any) -> dict[str, Any]:
    aug: dict[str, Any] = {}
    cols = st.columns(5)
    aug["flip"] = cols[0].checkbox("Flip", value=defaults.flip, key="train_aug_flip")
    aug["flip_mode"] = cols[0].selectbox("Flip direction", FLIP_MODES, index=FLIP_MODES.index(defaults.flip_mode),
                                         key="train_aug_flip_mode")
    for col, (switch, factor, label, hint) in zip(cols[1:], AUGMENTATIONS):
        aug[switch] = col.checkbox(label, value=getattr(defaults, switch), key=f"train_aug_{switch}")
        aug[factor] = col.slider(f"{label} strength", 0.0, 0.5, float(getattr(defaults, factor)), 0.01,
                                 key=f"train_aug_{factor}", help=hint)
    return aug


def _form(dataset: str, map_choice: str | None, categories: list[str], backbone: str) -> dict[str, Any] | None:
    """The rest of the options; returns the config dict when Start is pressed."""
    defaults = TrainConfig(dataset=dataset, backbone=backbone)
    spec = BACKBONES[backbone]
    with st.form("train_form"):
        cols = st.columns(4)
        weights = cols[0].selectbox("Weights", [*spec.weight_choices, "file"],
                                    index=spec.weight_choices.index(spec.default_weights), key="train_weights",
                                    help="bundled: ImageNet weights shipped with the package (offline); "
                                         "imagenet: Keras download; none: random start; file: a local weights file.")
        weights_file = cols[0].text_input("Weights file", key="train_weights_file",
                                          placeholder="/path/to/weights" + spec.weight_suffixes[0],
                                          help="Read only when Weights is 'file'.")
        image_size = cols[1].number_input("Image size (px)", spec.min_size, 1024, max(defaults.image_size, spec.min_size),
                                          16, key="train_image_size")
        batch_size = cols[1].number_input("Batch size", 1, 1024, defaults.batch_size, key="train_batch_size")
        epochs = cols[2].number_input("Epochs", 1, 1000, defaults.epochs, key="train_epochs")
        finetune_epochs = cols[2].number_input("Fine-tune epochs", 0, 1000, defaults.finetune_epochs,
                                               key="train_finetune_epochs", help="Used by 'heads, then fine-tune'.")
        learning_rate = cols[3].number_input("Learning rate", 1e-6, 1.0, defaults.learning_rate, format="%.5f",
                                             key="train_learning_rate")
        schedule = cols[3].selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(defaults.schedule),
                                     format_func=SCHEDULE_TEXT.get, key="train_schedule")
        quick = st.toggle("Quick mode (cached embeddings)", value=defaults.quick, key="train_quick")
        st.caption("Quick mode computes each image's backbone features once, caches them, and trains only the "
                   "heads on them: a retrain after a label change takes seconds. It trades away augmentation "
                   "and fine-tuning (the backbone stays frozen), so accuracy is usually a little lower.")
        with st.expander("Fine-tuning (heads, then fine-tune)"):
            cols = st.columns(2)
            finetune_layers = cols[0].number_input(
                "Share of backbone layers to fine-tune", 0.05, 1.0, defaults.finetune_layers, 0.05,
                key="train_finetune_layers",
                help="Counted from the top. The early layers are generic and the costliest to train on a CPU: "
                     "the top half trains 2-4x faster than all layers. 1.0 = all.")
            finetune_lr_factor = cols[1].number_input(
                "Fine-tune learning rate factor", 0.01, 1.0, defaults.finetune_lr_factor, 0.05,
                key="train_finetune_lr_factor", help="Fine-tune learning rate = learning rate x this.")
        with st.expander("Augmentation (applied on the fly; ignored in quick mode)"):
            augmentation = _augmentation_inputs(defaults.augmentation)
        with st.expander("Imbalance and validation"):
            cols = st.columns(4)
            scheme = cols[0].selectbox("Imbalance", IMBALANCE_SCHEMES,
                                       index=IMBALANCE_SCHEMES.index(defaults.imbalance.scheme), key="train_imbalance",
                                       help="class_weights: rarer values weigh more; focal: focal loss.")
            gamma = cols[1].number_input("Focal gamma", 0.0, 10.0, defaults.imbalance.focal_gamma, key="train_focal_gamma")
            val_fraction = cols[2].number_input("Validation share", 0.05, 0.9, defaults.val_fraction, 0.05,
                                                key="train_val_fraction")
            seed = cols[3].number_input("Seed", 0, 2**31 - 1, defaults.seed, key="train_seed")
        if not st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:", key="train_start"):
            return None
    chosen_weights = weights_file.strip() if weights == "file" else weights
    return {
        "dataset": dataset, "map_name": map_choice, "categories": categories or None, "backbone": backbone,
        "weights": chosen_weights, "image_size": int(image_size), "batch_size": int(batch_size),
        "epochs": int(epochs), "finetune_epochs": int(finetune_epochs), "learning_rate": float(learning_rate),
        "finetune_layers": float(finetune_layers), "finetune_lr_factor": float(finetune_lr_factor),
        "schedule": schedule, "quick": bool(quick), "augmentation": augmentation,
        "imbalance": {**dataclasses.asdict(defaults.imbalance), "scheme": scheme, "focal_gamma": float(gamma)},
        "val_fraction": float(val_fraction), "seed": int(seed),
    }


def _start(config: dict[str, Any]) -> None:
    try:
        run_id = jobs.submit(get_workspace(), config)
    except FashionCoreError as exc:
        st.error(str(exc))
        return
    st.session_state[SELECTED] = run_id
    state = jobs.status(get_workspace(), run_id)["state"]
    st.toast(f"Run {run_id}: {state}." + (" It starts when the current run ends." if state == "queued" else ""))


def _pick_run(listed: list[dict[str, Any]]) -> dict[str, Any]:
    ids = [j["run"] for j in listed]
    chosen = st.session_state.get(SELECTED)
    if chosen not in ids:
        active = [j["run"] for j in listed if j["state"] == "running"]
        chosen = active[0] if active else ids[0]
    by_id = {j["run"]: j for j in listed}
    # No state in the option text: a selectbox keeps showing the text it was drawn with, so
    # "running" would stay after the run ended. The table and the panel below show the state.
    picked = st.selectbox("Run", ids, index=ids.index(chosen), key="train_run_pick")
    st.session_state[SELECTED] = picked
    return by_id[picked]


def _live_panel(job: dict[str, Any]) -> None:
    run_id, state = job["run"], job["state"]
    if state in ACTIVE_STATES and st.button("Cancel run", key=f"train_cancel_{run_id}", icon=":material/stop:"):
        try:
            job = jobs.cancel(get_workspace(), run_id)
        except FashionCoreError as exc:
            st.error(str(exc))
        state = job["state"]
    if state in ACTIVE_STATES:
        st.fragment(run_every=POLL_SECONDS)(_live_progress)(job["dataset"], run_id)
    elif state == "failed":
        st.error(f"The run failed: {job.get('error') or 'no reason recorded'}")
        if job.get("log_tail"):
            with st.expander("Last lines of log.txt", expanded=True):
                st.code(job["log_tail"], language=None)
    else:
        acc = val_accuracy(job.get("metrics"))
        st.success(f"Run {state}." + (" Best checkpoint kept." if job.get("model_sha256") else ""))
        if acc:
            st.dataframe([{"category": c, "val accuracy": round(a, 4)} for c, a in acc.items()], hide_index=True)
    history = history_frame(job["run_dir"])
    if not history.empty:
        st.plotly_chart(curves_figure(history), key=f"train_curves_{run_id}")
    with st.expander("Configuration"):
        st.json(job.get("config") or {})


PHASE_TEXT = {
    "starting": "starting the training process",
    "preparing": "reading the labels and splitting them",
    "building": "building the model and loading its weights",
    "embeddings": "computing backbone features (once per image, then cached)",
    "heads": "training the heads",
    "finetune": "fine-tuning the backbone with the heads",
}


def _running(job: dict[str, Any]) -> None:
    progress = run_progress(job)
    phase = job.get("phase") or "starting"
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
    if job.get("cancel_requested"):
        st.warning("Cancel requested: the run stops at its next step and keeps its best checkpoint.")
    if job.get("message"):
        st.caption(job["message"])


def _runs_section(listed: list[dict[str, Any]]) -> None:
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
        st.error(str(exc))
        return
    if _signature(listed) != st.session_state.get(SEEN_STATES):
        st.rerun()  # table, curves, comparison and polling follow the change
    job = next((j for j in listed if j["run"] == run_id), None)
    if job is None:
        st.rerun()
    elif job["state"] == "queued":
        st.info(f"Waiting in the queue (position {job.get('queue_position', '?')}); one run trains at a time.")
    else:
        _running(job)


def _signature(listed: list[dict[str, Any]]) -> tuple[tuple[str, str, Any], ...]:
    return tuple((j["run"], j["state"], j.get("epoch")) for j in listed)


info = active_dataset()
st.title("Train")
if info is None:
    st.info("No dataset yet. Import one first (see Home).")
    st.stop()
st.caption(f"Dataset **{info.name}** · one model with a head per category, trained in the background; "
           "you can leave this page or reload it, the run goes on.")

with st.container(border=True):
    st.subheader("New run")
    st.caption(describe_devices())
    try:
        map_choice, categories, backbone = _data_and_model(info.name, info.active_map)
        config = _form(info.name, map_choice, categories, backbone)
    except FashionCoreError as exc:
        st.error(str(exc))
        config = None
    if config is not None:
        _start(config)

st.subheader("Runs")
try:
    jobs.reconcile(get_workspace())  # a run whose process died while nobody watched shows as failed
    listed = jobs.list_jobs(get_workspace(), info.name)
except FashionCoreError as exc:
    st.error(str(exc))
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
