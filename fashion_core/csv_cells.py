"""Cells of the CSV files the studio writes, made safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (CSV injection). Following OWASP's rule, such a cell gets a
leading single quote, and a cell holding a quote or separator is quoted by the csv writer. Numbers
are left alone (``-3`` stays a number). Every CSV writer of the studio goes through here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from numbers import Number
from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [value if isinstance(value, Number) else safe_cell(value) for value in row]


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell (and column name) made safe."""
    out = frame.copy()
    out.columns = [safe_cell(str(c)) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(safe_cell)
    return out


def frame_to_csv(frame: pd.DataFrame) -> str:
    """``frame`` (without its index) as CSV text with safe cells.

    Written by the csv module, which quotes a cell holding a carriage return (pandas' writer
    leaves it bare, splitting the row).
    """
    rows = frame.astype(object).where(frame.notna(), "").itertuples(index=False, name=None)
    return rows_to_csv([[str(c) for c in frame.columns], *rows])


class SafeWriter:
    """A ``csv.writer`` whose rows are made safe first (same ``writerow``/``writerows``)."""

    def __init__(self, handle: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(handle, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeDictWriter(csv.DictWriter):
    """A ``csv.DictWriter`` whose values are made safe first."""

    def _dict_to_list(self, rowdict: dict[str, Any]) -> list[Any]:  # both writerow and writerows use it
        return safe_row(super()._dict_to_list(rowdict))


def rows_to_csv(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    SafeWriter(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180; a bare \r in a cell is quoted
    return buffer.getvalue()


def plain_cell(value: Any) -> Any:
    """Undo ``safe_cell`` when the studio reads back a CSV it wrote (a manifest on resume)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(plain_cell)
    return out
