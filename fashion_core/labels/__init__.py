"""Which labels: the label view, label maps (model, apply, stored versions, regroup), stats, gallery, exports.

``gallery``, ``maps`` and ``regroup`` are offered as modules too: callers name their functions
qualified (``maps.add_steps`` and ``regroup.add_steps`` differ). ``export_folders`` and
``export_labels`` here are the functions, which shadow their modules' names.
"""

from fashion_core.labels import gallery, maps, regroup
from fashion_core.labels.apply_map import apply_label_map, mapped_schema
from fashion_core.labels.export_folders import export_folders
from fashion_core.labels.export_labels import LABEL_FORMATS, export_labels, render_labels
from fashion_core.labels.image_detail import (
    KEY_OF,
    history_table,
    new_label_index,
    relabel_category,
    shown_labels,
    suggestion_for,
    undo_choices,
)
from fashion_core.labels.label_map import LabelMap, MaybePolicy, Op, Step, parse_merge, parse_rename
from fashion_core.labels.maps import (
    activate_map,
    deactivate_map,
    delete_map,
    export_map,
    import_map,
    install_example_maps,
    list_maps,
    load_map,
    map_names,
    map_versions,
    save_map,
    undo_step,
)
from fashion_core.labels.regroup import (
    before_after_counts,
    form_step,
    preview_map,
    sample_by_value,
    save_draft,
    start_draft,
    steps_from_flags,
    steps_note,
)
from fashion_core.labels.stats import label_counts, labelled_images
from fashion_core.labels.view import ACTIVE, NO_MAP, LabelSource, LabelView, label_view

__all__ = [
    "ACTIVE", "KEY_OF", "LABEL_FORMATS", "NO_MAP", "LabelMap", "LabelSource", "LabelView", "MaybePolicy", "Op",
    "Step", "activate_map", "apply_label_map", "before_after_counts", "deactivate_map", "delete_map",
    "export_folders", "export_labels", "export_map", "form_step", "gallery", "history_table", "import_map",
    "install_example_maps", "label_counts", "label_view", "labelled_images", "list_maps", "load_map", "map_names",
    "map_versions", "mapped_schema", "maps", "new_label_index", "parse_merge", "parse_rename", "preview_map",
    "regroup", "relabel_category", "render_labels", "sample_by_value", "save_draft", "save_map", "shown_labels",
    "start_draft", "steps_from_flags", "steps_note", "suggestion_for", "undo_choices", "undo_step",
]
