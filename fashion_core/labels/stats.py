"""Label counts per category and value, in the shape the CLI and charts share."""

from __future__ import annotations

import pandas as pd

from fashion_core.schema import Kind, Schema, split_value


def label_counts(schema: Schema, labels: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Count images per value for each category, values in schema order (zeros included).

    Args:
        schema: The dataset's (or the label map's output) schema.
        labels: A label table with ``category`` and ``value`` columns; multi-label values
            are ``|``-joined and each positive counts once.

    Returns:
        ``{category: {value: count}}``.
    """
    out: dict[str, dict[str, int]] = {}
    for cat in schema.categories:
        values = labels.loc[labels["category"] == cat.name, "value"]
        if cat.kind is Kind.MULTI:
            counts = values.map(split_value).explode().dropna().value_counts()
        else:
            counts = values.value_counts()
        out[cat.name] = {v: int(counts.get(v, 0)) for v in cat.values}
    return out


def labelled_images(labels: pd.DataFrame) -> dict[str, int]:
    """Number of labelled images per category."""
    return {str(k): int(v) for k, v in labels.groupby("category")["image_id"].nunique().items()}
