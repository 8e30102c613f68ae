"""What a run's answers say: evaluation, calibration, suspicious labels, merge suggestions, the label queue.

Names load lazily (PEP 562): these modules load numpy, pandas and modeling's helpers (TensorFlow when
called), so a page or command pays only for the names it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fashion_core.lazy import lazy_surface

if TYPE_CHECKING:
    from fashion_core.analysis import assist as assist
    from fashion_core.analysis import metrics as metrics
    from fashion_core.analysis.active_learning import rank_queue, select_batch
    from fashion_core.analysis.calibration import calibrate_run
    from fashion_core.analysis.category_scores import TUNING_METRICS
    from fashion_core.analysis.evaluation import (
        EVALUATION_FILE,
        EvaluationReport,
        evaluable_runs,
        evaluate_run,
        load_evaluation,
        tune_thresholds,
    )
    from fashion_core.analysis.label_queue import MODES as QUEUE_MODES
    from fashion_core.analysis.label_queue import (
        QueueItem,
        build_queue,
        labelable_categories,
        queue_item,
        record_label,
        undo_label,
    )
    from fashion_core.analysis.merge_suggestions import MergeSuggestion, suggest_merges
    from fashion_core.analysis.quantize import quantize_run
    from fashion_core.analysis.suspicious import (
        SUSPICIOUS_FILE,
        SuspiciousReport,
        can_relabel,
        find_suspicious_labels,
        load_suspicious,
        pending_review,
        review_label,
    )
    from fashion_core.analysis.trainer import train_and_calibrate
    from fashion_core.analysis.wrong_labels import planted_wrong_labels, read_wrong_labels, wrong_label_hits

# public name -> "module" or "module:name in it"; "" for a module offered itself
_WHERE: dict[str, str] = {
    "EVALUATION_FILE": "evaluation",
    "EvaluationReport": "evaluation",
    "MergeSuggestion": "merge_suggestions",
    "QUEUE_MODES": "label_queue:MODES",
    "QueueItem": "label_queue",
    "SUSPICIOUS_FILE": "suspicious",
    "SuspiciousReport": "suspicious",
    "TUNING_METRICS": "category_scores",
    "assist": "",
    "build_queue": "label_queue",
    "calibrate_run": "calibration",
    "can_relabel": "suspicious",
    "evaluable_runs": "evaluation",
    "evaluate_run": "evaluation",
    "find_suspicious_labels": "suspicious",
    "labelable_categories": "label_queue",
    "load_evaluation": "evaluation",
    "load_suspicious": "suspicious",
    "metrics": "",
    "pending_review": "suspicious",
    "planted_wrong_labels": "wrong_labels",
    "quantize_run": "quantize",
    "queue_item": "label_queue",
    "rank_queue": "active_learning",
    "read_wrong_labels": "wrong_labels",
    "record_label": "label_queue",
    "review_label": "suspicious",
    "select_batch": "active_learning",
    "suggest_merges": "merge_suggestions",
    "train_and_calibrate": "trainer",
    "tune_thresholds": "evaluation",
    "undo_label": "label_queue",
    "wrong_label_hits": "wrong_labels",
}

__all__ = [
    "EVALUATION_FILE", "EvaluationReport", "MergeSuggestion", "QUEUE_MODES", "QueueItem", "SUSPICIOUS_FILE",
    "SuspiciousReport", "TUNING_METRICS", "assist", "build_queue", "calibrate_run", "can_relabel", "evaluable_runs",
    "evaluate_run", "find_suspicious_labels", "labelable_categories", "load_evaluation", "load_suspicious",
    "metrics", "pending_review", "planted_wrong_labels", "quantize_run", "queue_item", "rank_queue",
    "read_wrong_labels", "record_label", "review_label", "select_batch", "suggest_merges", "train_and_calibrate",
    "tune_thresholds", "undo_label", "wrong_label_hits",
]


__getattr__, __dir__ = lazy_surface(__name__, globals(), _WHERE, __all__)
