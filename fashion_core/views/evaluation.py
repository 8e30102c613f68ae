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


def reliability_figure(head: dict, category: str) -> go.Figure:
    """A category's reliability diagram before and after temperature scaling (``calibration.json``'s
    ``heads[category]``): mean probability per bin across, how often it was right up; the diagonal is perfect."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot", "color": "grey"}))
    for key, colour in (("before", "#d62728"), ("after", "#1f77b4")):
        bins = head[key]["bins"]
        fig.add_trace(go.Scatter(
            x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins], mode="lines+markers",
            name=f"{key} (ECE {head[key]['ece']:.3f})", line={"color": colour},
            marker={"size": [6 + min(14, b["count"] ** 0.5) for b in bins]},
            customdata=[b["count"] for b in bins],
            hovertemplate="probability %{x:.2f}<br>right %{y:.2f}<br>%{customdata} predictions<extra></extra>"))
    fig.update_layout(xaxis_title="predicted probability", yaxis_title="share right", height=360,
                      xaxis_range=[0, 1], yaxis_range=[0, 1.02], margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title=f"{category}: T = {head['temperature']:.2f}, {head['images']} validation images",
                      legend={"orientation": "h", "y": -0.2})
    return fig
