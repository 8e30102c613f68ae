"""The Train page's new-run form: map, categories and backbone, then the options of ``TrainConfig``."""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from fashion_core.labels import ACTIVE, NO_MAP, LabelSource, map_names
from fashion_core.modeling import BACKBONES, FLIP_MODES, IMBALANCE_SCHEMES, SCHEDULES, TrainConfig
from fashion_core.views import trainable_categories
from ui.services import get_store

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


def _map_label(source: LabelSource, active: str | None) -> str:
    if source == ACTIVE:
        return f"active map ({active})" if active else "active map (none set: labels as they are)"
    return "no map (labels as they are)" if source == NO_MAP else str(source.name)


def data_and_model(dataset: str, active_map: str | None) -> tuple[LabelSource, list[str], str]:
    """Map, categories and backbone: outside the form, because the choices depend on them."""
    store = get_store()
    cols = st.columns(2)  # categories get a row of their own: eight chips need the width
    map_choice = cols[0].selectbox(
        "Label map", [ACTIVE, NO_MAP, *map(LabelSource.named, map_names(store))], key="train_map",
        format_func=lambda v: _map_label(v, active_map), help="Train on the labels as seen through this map.",
    )
    labelled = trainable_categories(store, dataset, map_choice)
    categories = st.multiselect(
        "Categories (one head each)", labelled, default=labelled, key=f"train_categories_{map_choice.to_config()}",
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


MODE_FIELDS = {"train_epochs": "epochs", "train_learning_rate": "learning_rate"}  # defaults differ per mode


def _mode_defaults(dataset: str, backbone: str) -> None:
    """Quick mode switched: its fields take that mode's defaults (quick mode affords many more epochs)."""
    defaults = TrainConfig.from_dict({"dataset": dataset, "backbone": backbone,
                                      "quick": bool(st.session_state.get("train_quick"))})
    for key, field in MODE_FIELDS.items():
        st.session_state[key] = getattr(defaults, field)


def train_form(dataset: str, map_choice: LabelSource, categories: list[str], backbone: str) -> dict[str, Any] | None:
    """The rest of the options, only those of the chosen mode; returns the config dict when Start is pressed."""
    # Outside the form: switching mode redraws the form with that mode's settings and defaults.
    quick = st.toggle("Quick mode (cached embeddings)", value=False, key="train_quick",
                      on_change=_mode_defaults, args=(dataset, backbone))
    st.caption("Quick mode computes each image's backbone features once, caches them, and trains only the "
               "heads on them: a retrain after a label change takes seconds. It trades away augmentation "
               "and fine-tuning (the backbone stays frozen), so accuracy is usually lower than a full run's. "
               + ("The form shows quick mode's settings only." if quick else
                  "Full mode (off) trains on the images with augmentation, then fine-tunes: minutes on a CPU."))
    defaults = TrainConfig.from_dict({"dataset": dataset, "backbone": backbone, "quick": quick})
    spec = BACKBONES[backbone]
    for key, field in MODE_FIELDS.items():
        st.session_state.setdefault(key, getattr(defaults, field))
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
        # No `value`: the mode's default is put in the session state above (and on a mode switch).
        epochs = cols[2].number_input("Epochs" if not quick else "Epochs (at most: stops when no longer improving)",
                                      1, 1000, key="train_epochs")
        learning_rate = cols[3].number_input("Learning rate", 1e-6, 1.0, format="%.5f", key="train_learning_rate")
        full: dict[str, Any] = {}
        if not quick:
            full["finetune_epochs"] = cols[2].number_input(
                "Fine-tune epochs", 0, 1000, defaults.finetune_epochs, key="train_finetune_epochs",
                help="Used by 'heads, then fine-tune'.")
            full["schedule"] = cols[3].selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(defaults.schedule),
                                                 format_func=SCHEDULE_TEXT.get, key="train_schedule")
            with st.expander("Fine-tuning (heads, then fine-tune)"):
                cols = st.columns(2)
                full["finetune_layers"] = float(cols[0].number_input(
                    "Share of backbone layers to fine-tune", 0.05, 1.0, defaults.finetune_layers, 0.05,
                    key="train_finetune_layers",
                    help="Counted from the top. The early layers are generic and the costliest to train on a CPU: "
                         "the top half trains 2-4x faster than all layers. 1.0 = all."))
                full["finetune_lr_factor"] = float(cols[1].number_input(
                    "Fine-tune learning rate factor", 0.01, 1.0, defaults.finetune_lr_factor, 0.05,
                    key="train_finetune_lr_factor", help="Fine-tune learning rate = learning rate x this."))
            with st.expander("Augmentation (applied on the fly)"):
                full["augmentation"] = _augmentation_inputs(defaults.augmentation)
        with st.expander("Imbalance and validation"):
            cols = st.columns(4)
            scheme = cols[0].selectbox("Imbalance", IMBALANCE_SCHEMES,
                                       index=IMBALANCE_SCHEMES.index(defaults.imbalance.scheme),
                                       key="train_imbalance",
                                       help="class_weights: rarer values weigh more; focal: focal loss.")
            gamma = cols[1].number_input("Focal gamma", 0.0, 10.0, defaults.imbalance.focal_gamma,
                                         key="train_focal_gamma")
            val_fraction = cols[2].number_input("Validation share", 0.05, 0.9, defaults.val_fraction, 0.05,
                                                key="train_val_fraction")
            seed = cols[3].number_input("Seed", 0, 2**31 - 1, defaults.seed, key="train_seed")
        if not st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:", key="train_start"):
            return None
    chosen_weights = weights_file.strip() if weights == "file" else weights
    if "finetune_epochs" in full:
        full["finetune_epochs"] = int(full["finetune_epochs"])
    return {
        "dataset": dataset, "labels": map_choice, "categories": categories or None, "backbone": backbone,
        "weights": chosen_weights, "image_size": int(image_size), "batch_size": int(batch_size),
        "epochs": int(epochs), "learning_rate": float(learning_rate), "quick": bool(quick), **full,
        "imbalance": {**dataclasses.asdict(defaults.imbalance), "scheme": scheme, "focal_gamma": float(gamma)},
        "val_fraction": float(val_fraction), "seed": int(seed),
    }
