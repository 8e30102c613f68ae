"""Label-distribution tables and the plotly figures drawn from them (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fashion_core.labels.stats import label_counts, labelled_images
from fashion_core.schema import Category, Kind, Schema

ORDERS = ("schema", "count")
METRICS = ("count", "share")
NORMALIZATIONS = ("count", "row")
COUNT_COLUMNS = ["category", "kind", "position", "value", "count", "share", "images"]
SUMMARY_COLUMNS = [
    "category",
    "kind",
    "images",
    "values",
    "largest",
    "smallest",
    "imbalance_ratio",
    "zero_values",
    "rare_values",
]
BAR_COLOR = "#4c78a8"
RARE_COLOR = "#e45756"


@dataclass(frozen=True)
class Imbalance:
    """How uneven one category's values are.

    Attributes:
        ratio: Largest count / smallest non-zero count; None without any non-zero count.
            Values with no image are left out of the ratio (it would be infinite) and
            listed in ``zero_values`` instead.
        largest: The most frequent value (first in schema order on a tie), or None.
        largest_count: Its count.
        smallest: The least frequent value with a non-zero count, or None.
        smallest_count: Its count.
        zero_values: Values no image has.
    """

    ratio: float | None
    largest: str | None
    largest_count: int
    smallest: str | None
    smallest_count: int
    zero_values: tuple[str, ...]


def counts_table(schema: Schema, labels: pd.DataFrame) -> pd.DataFrame:
    """Counts and shares of every value of every category (zeros included).

    Args:
        schema: The schema the labels use (after the label map, if any).
        labels: A label table with ``image_id``, ``category`` and ``value`` columns.

    Returns:
        Columns ``COUNT_COLUMNS``, categories and values in schema order. ``count`` is the
        number of images with the value (for multi-label: with that class among their
        positives); ``share`` is count / ``images``, the images labelled in the category,
        so shares of a single-choice category add up to 1 and those of a multi-label one
        need not.
    """
    counts = label_counts(schema, labels)
    images = labelled_images(labels)
    rows = []
    for cat in schema.categories:
        n = images.get(cat.name, 0)
        for position, value in enumerate(cat.values):
            c = counts[cat.name][value]
            rows.append((cat.name, cat.kind.value, position, value, c, c / n if n else 0.0, n))
    table = pd.DataFrame(rows, columns=COUNT_COLUMNS)
    return table.astype({"position": "int64", "count": "int64", "share": "float64", "images": "int64"})


def default_min_count(table: pd.DataFrame, *, cap: int = 50, floor: int = 5) -> int:
    """A starting minimum for "too few images": half the median count of the values that have any.

    A fixed 50 is a fair bar for a real data set but flags every value of a small one (the demo
    has 20-60 images per value), which hides the truly rare ones. Half the median keeps the flag
    on the outliers; the cap keeps a large data set at the usual rule of thumb.
    """
    counts = table.loc[table["count"] > 0, "count"]
    if counts.empty:
        return floor
    return int(min(cap, max(floor, round(float(counts.median()) / 2))))


def category_counts(table: pd.DataFrame, category: str, *, order: str = "schema") -> pd.DataFrame:
    """One category's rows of a ``counts_table``, in schema order or largest count first."""
    if order not in ORDERS:
        raise ValueError(f"`order` must be one of {ORDERS}. Received: order={order!r}")
    rows = table[table["category"] == category]
    if order == "count":
        rows = rows.sort_values(["count", "position"], ascending=[False, True], kind="stable")
    return rows.reset_index(drop=True)


def imbalance(rows: pd.DataFrame) -> Imbalance:
    """The imbalance of one category from its ``category_counts`` rows."""
    rows = rows.sort_values("position")
    zero = tuple(rows.loc[rows["count"] == 0, "value"])
    nonzero = rows[rows["count"] > 0]
    if nonzero.empty:
        return Imbalance(None, None, 0, None, 0, zero)
    top = nonzero.loc[nonzero["count"].idxmax()]
    low = nonzero.loc[nonzero["count"].idxmin()]
    ratio = float(top["count"]) / float(low["count"])
    return Imbalance(ratio, str(top["value"]), int(top["count"]), str(low["value"]), int(low["count"]), zero)


def rare_values(rows: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """Rows whose count is under ``min_count`` (values with no image included), fewest first."""
    if int(min_count) < 0:
        raise ValueError(f"`min_count` must be at least 0. Received: min_count={min_count}")
    rare = rows[rows["count"] < int(min_count)]
    return rare.sort_values(["count", "position"], kind="stable").reset_index(drop=True)


def flag_rare(table: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """A copy of a counts table with a ``rare`` column: count under ``min_count``."""
    if int(min_count) < 0:
        raise ValueError(f"`min_count` must be at least 0. Received: min_count={min_count}")
    return table.assign(rare=table["count"] < int(min_count))


def summary_table(schema: Schema, table: pd.DataFrame, *, min_count: int) -> pd.DataFrame:
    """One row per category: images, largest and smallest value, imbalance, rare values."""
    rows = []
    for cat in schema.categories:
        mine = category_counts(table, cat.name)
        imb = imbalance(mine)
        rare = rare_values(mine, min_count)
        rows.append(
            {
                "category": cat.name,
                "kind": cat.kind.value,
                "images": int(mine["images"].iloc[0]) if len(mine) else 0,
                "values": len(cat.values),
                "largest": f"{imb.largest} ({imb.largest_count})" if imb.largest else "",
                "smallest": f"{imb.smallest} ({imb.smallest_count})" if imb.smallest else "",
                "imbalance_ratio": round(imb.ratio, 2) if imb.ratio is not None else None,
                "zero_values": len(imb.zero_values),
                "rare_values": ", ".join(f"{v} ({c})" for v, c in zip(rare["value"], rare["count"])),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def counts_figure(
    rows: pd.DataFrame, *, metric: str = "count", min_count: int = 0, title: str | None = None
) -> go.Figure:
    """Bars of one category's values (in the order of ``rows``); rare values in red.

    Args:
        rows: ``category_counts`` rows of one category.
        metric: ``"count"`` (images) or ``"share"`` (of the category's labelled images).
        min_count: Values with fewer images are drawn in ``RARE_COLOR``; with metric
            ``"count"`` the threshold is drawn as a dashed line.
        title: Figure title; default: the category name.
    """
    if metric not in METRICS:
        raise ValueError(f"`metric` must be one of {METRICS}. Received: metric={metric!r}")
    multi = len(rows) > 0 and rows["kind"].iloc[0] == Kind.MULTI.value
    rare = (rows["count"] < min_count).to_numpy()
    y = rows[metric].to_numpy()
    text = [f"{c:,}<br>{s:.1%}" for c, s in zip(rows["count"], rows["share"])]
    fig = go.Figure(
        go.Bar(
            x=rows["value"].astype(str).tolist(),
            y=y.tolist(),
            text=text,
            textposition="outside",
            cliponaxis=False,
            marker_color=[RARE_COLOR if r else BAR_COLOR for r in rare],
            customdata=np.stack([rows["count"], rows["share"]], axis=-1) if len(rows) else None,
            hovertemplate="%{x}<br>%{customdata[0]:,} images<br>%{customdata[1]:.1%}<extra></extra>",
        )
    )
    if metric == "count" and min_count > 0:
        fig.add_hline(
            y=min_count,
            line_dash="dash",
            line_color=RARE_COLOR,
            annotation_text=f"minimum {min_count:,}",
            annotation_position="top right",  # the first bar's count label sits at the left
            annotation_bgcolor="rgba(255,255,255,0.8)",
            layer="below",  # behind the bars and their count labels, which it used to cross out
        )
    unit = "images with the class" if multi else "images"
    fig.update_layout(
        title=title if title is not None else (rows["category"].iloc[0] if len(rows) else ""),
        xaxis_title="class" if multi else "value",
        yaxis_title=unit if metric == "count" else f"share of {unit.split(' ')[0]} labelled",
        yaxis_tickformat=".0%" if metric == "share" else ",",
        margin={"t": 60, "b": 40},
        showlegend=False,
    )
    return fig


def cooccurrence_matrix(category: Category, labels: pd.DataFrame) -> pd.DataFrame:
    """How many images have each pair of classes of a multi-label category together.

    Returns:
        A square frame indexed both ways by the category's values: cell (a, b) is the number
        of images with both a and b; the diagonal is each class's positives.
    """
    values = labels.loc[labels["category"] == category.name, "value"].astype(str)
    wrapped = "|" + values + "|"  # so "style_1" does not match "style_10"
    onehot = np.column_stack(
        [wrapped.str.contains(f"|{v}|", regex=False).to_numpy(dtype=np.int64) for v in category.values]
    )
    matrix = onehot.T @ onehot
    return pd.DataFrame(matrix, index=list(category.values), columns=list(category.values))


def cooccurrence_figure(matrix: pd.DataFrame, *, normalize: str = "count", title: str = "") -> go.Figure:
    """A heatmap of a ``cooccurrence_matrix``.

    Args:
        matrix: From ``cooccurrence_matrix``.
        normalize: ``"count"`` shows images; ``"row"`` shows P(column | row), the share of
            the row class's images that also have the column class (0 for an empty row).
        title: Figure title.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"`normalize` must be one of {NORMALIZATIONS}. Received: normalize={normalize!r}")
    z = matrix.to_numpy(dtype=float)
    if normalize == "row":
        diag = np.diag(z).copy()
        z = np.divide(z, diag[:, None], out=np.zeros_like(z), where=diag[:, None] > 0)
    text = [[f"{v:.0%}" if normalize == "row" else f"{int(v):,}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=list(matrix.columns),
            y=list(matrix.index),
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            hoverongaps=False,
            hovertemplate="%{y} & %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(title=title, yaxis_autorange="reversed", margin={"t": 60})
    return fig


def before_after_figure(table: pd.DataFrame, category: str) -> go.Figure:
    """Grouped bars of one category's counts before and after a label map (``before_after_counts``)."""
    values = table["value"].tolist()
    fig = go.Figure(
        [
            go.Bar(name="before", x=values, y=table["before"].tolist(), marker_color="#9ecae9"),
            go.Bar(
                name="after",
                x=values,
                y=table["after"].tolist(),
                marker_color=BAR_COLOR,
                text=table["after"].tolist(),
                textposition="outside",
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        title=f"{category}: before and after the draft map",
        yaxis_title="images",
        margin={"t": 90, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
    )
    return fig
