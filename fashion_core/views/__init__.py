"""The figures and tables pages show (and the CLI prints); ``charts`` is offered as a module too."""

from fashion_core.views import charts
from fashion_core.views.charts import before_after_figure
from fashion_core.views.evaluation import confusion_figure, reliability_figure
from fashion_core.views.predict import probability_figure
from fashion_core.views.runs import (
    comparison_figure,
    comparison_frame,
    curves_figure,
    format_duration,
    history_frame,
    run_progress,
    runs_table,
    trainable_categories,
    val_accuracy,
)

__all__ = [
    "before_after_figure", "charts", "comparison_figure", "comparison_frame", "confusion_figure", "curves_figure",
    "format_duration", "history_frame", "probability_figure", "reliability_figure", "run_progress", "runs_table",
    "trainable_categories", "val_accuracy",
]
