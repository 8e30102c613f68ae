"""Figures of the Predict page: a category's most probable values as bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fashion_core.schema import Kind

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from fashion_core.serving.predictor import CategoryPrediction


def probability_figure(answer: CategoryPrediction, *, top: int | None = 5) -> go.Figure:
    """Horizontal bars of a category's most probable values (best on top), probabilities 0..1.

    Predicted values are dark (the top one; for multi-label, those at or above their
    threshold, which is marked by a tick on each bar).
    """
    import plotly.graph_objects as go

    shown = answer.values if top is None else answer.values[:top]
    picked = set(answer.positives) if answer.kind is Kind.MULTI else {answer.top.value}
    fig = go.Figure(
        go.Bar(
            x=[v.prob for v in shown][::-1],
            y=[v.value for v in shown][::-1],
            orientation="h",
            marker_color=["#4c78a8" if v.value in picked else "#b3c6de" for v in shown][::-1],
            text=[f"{v.prob:.1%}" for v in shown][::-1],
            textposition="auto",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    if answer.thresholds:  # multi-label: a tick at each value's threshold (tuned ones differ per value)
        fig.add_trace(
            go.Scatter(
                x=list(answer.thresholds[: len(shown)])[::-1],
                y=[v.value for v in shown][::-1],
                mode="markers",
                marker={"symbol": "line-ns-open", "size": 22, "color": "#333333", "line": {"width": 2}},
                name="threshold",
                hovertemplate="threshold %{x:.2f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=answer.category,
        xaxis={"range": [0, 1], "tickformat": ".0%"},
        showlegend=False,
        height=70 + 28 * len(shown),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig
