"""Evaluate's per-value tables are readable: the value column fits its longest name, numbers are
rounded to three decimals in narrow columns (long floats and auto-sized columns were cut off)."""

from __future__ import annotations

import pandas as pd

from ui.metric_table import metric_columns


def test_value_column_fits_the_longest_value_and_numbers_are_rounded() -> None:
    frame = pd.DataFrame({"value": ["Invisible", "Extra Long Sleeves"], "precision": [1.0, 0.8333333333],
                          "support": [8, 12], "tuned threshold": [0.5, 0.45]})
    config = metric_columns(frame)
    assert config["value"]["width"] >= len("Extra Long Sleeves") * 8
    assert config["value"]["pinned"] is True
    for name in ("precision", "tuned threshold"):
        assert config[name]["type_config"]["format"] == "%.3f" and config[name]["width"] == "small"
    assert config["support"]["type_config"]["format"] == "%d"
    short = metric_columns(pd.DataFrame({"value": ["S", "M"], "ap": [0.1, 0.2]}))
    assert short["value"]["width"] >= 120  # never narrower than its header and a few characters
