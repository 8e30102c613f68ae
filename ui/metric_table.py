"""Per-value metric tables (Evaluate) that stay readable: the value column as wide as its longest
name and pinned, every number in a narrow column with three decimals (unformatted floats such as
0.8333333333 and auto-sized value columns were cut off)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

NUMBER_HELP = {"ap": "average precision", "f1": "F1", "f2": "F2 (recall weighs 4x)", "support": "validation images"}
_PX_PER_CHAR, _PAD_PX, _MIN_PX = 8, 32, 120  # the grid's font is about 8 px a character at 14 px


def metric_table(frame: pd.DataFrame, *, key: str) -> None:
    """``frame``: a ``value`` column and number columns (counts as integers, scores as fractions)."""
    st.dataframe(frame, hide_index=True, key=key, column_config=metric_columns(frame))


def metric_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """Column settings: the value column sized to its longest entry, numbers small and formatted."""
    config: dict[str, Any] = {}
    for name in frame.columns:
        if name == "value":
            longest = max([len(str(v)) for v in frame[name]] + [len("value")])
            config[name] = st.column_config.TextColumn("value", width=max(_MIN_PX, longest * _PX_PER_CHAR + _PAD_PX),
                                                       pinned=True)
        elif pd.api.types.is_integer_dtype(frame[name]):
            config[name] = st.column_config.NumberColumn(name, width="small", format="%d", help=NUMBER_HELP.get(name))
        elif pd.api.types.is_float_dtype(frame[name]):
            config[name] = st.column_config.NumberColumn(name, width="small", format="%.3f", help=NUMBER_HELP.get(name))
    return config
