"""Figures of the Evaluate page: a single-choice category's confusion matrix as a heat map."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from fashion_core.analysis.evaluation import EvaluationReport


def confusion_figure(report: EvaluationReport, category: str, *, normalize: bool = False) -> go.Figure:
    """A plotly heat map of a single-choice category's confusion matrix (labels down, predictions across)."""
    import plotly.graph_objects as go

    frame = report.confusion_frame(category, normalize=normalize)
    text = frame.map(lambda v: f"{v:.2f}" if normalize else f"{int(v)}")
    fig = go.Figure(go.Heatmap(
        z=frame.to_numpy(), x=list(frame.columns), y=list(frame.index), text=text.to_numpy(),
        texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1 if normalize else None,
        hovertemplate="label %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
    ))
    fig.update_layout(xaxis_title="predicted", yaxis_title="label", yaxis_autorange="reversed",
                      height=max(320, 60 + 38 * len(frame)), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title=f"{category}: {'share of each label row' if normalize else 'images'}")
    return fig
