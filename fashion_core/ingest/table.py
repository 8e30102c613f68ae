"""The canonical label table every reader produces, and the report of rows it rejected."""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fashion_core.errors import LabelFileError
from fashion_core.schema import Schema


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One label of one image, as read from a source.

    Attributes:
        image: Path relative to the images root, with ``/`` separators.
        category: Category name.
        value: Value name; for multi-label categories the positives joined with ``|``.
        maybe: Values marked "maybe" (``m``), joined with ``|``; empty when none.
        source: File the row came from.
        line: 1-based line number in that file (0 for sources without lines).
        external_id: The source's own id of the image (JD), if any.
        url: Where the image was downloaded from (JD), if known.
    """

    image: str
    category: str
    value: str
    maybe: str
    source: str
    line: int
    external_id: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not imported, and why."""

    file: str
    line: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The same image and category given again; the first occurrence is the one kept."""

    image: str
    category: str
    file: str
    line: int
    first_file: str
    first_line: int
    same_value: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "image": self.image, "category": self.category, "file": self.file, "line": self.line,
            "first_file": self.first_file, "first_line": self.first_line,
            "same_value": self.same_value,
        }


@dataclass
class ParsedLabels:
    """What a reader returns: the schema, accepted rows, rejected rows and duplicates."""

    schema: Schema
    rows: list[LabelRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    def reject(self, file: str, line: int, reason: str) -> None:
        self.rejected.append(Rejection(file, line, reason))


def safe_relative_path(raw: str) -> str | None:
    """Normalise a label file's image path; None if it is absolute or leaves the images root.

    The check is on the text, so it costs nothing per row; ``../../etc/passwd``,
    ``/etc/passwd`` and ``a/../../b`` are all refused.
    """
    path = raw.strip().replace("\\", "/")
    if not path or path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return None
    norm = posixpath.normpath(path)
    if norm == "." or norm == ".." or norm.startswith("../"):
        return None
    return norm


def read_label_text(path: Path, expected: str) -> str:
    """Read a label file as UTF-8 text; a missing, empty or binary file is one clear error.

    Args:
        path: The file.
        expected: What a good file looks like, for the error message.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LabelFileError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise LabelFileError(str(path), f"file is empty; expected {expected}")
    if b"\x00" in data[:65536]:
        raise LabelFileError(str(path), f"file is binary, not a text label file; expected {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(
            str(path), f"file is not UTF-8 text (byte {exc.start}); expected {expected}"
        ) from exc


def csv_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based line number, fields) for each non-blank CSV row."""
    reader = csv.reader(io.StringIO(text))
    for fields in reader:
        if not fields or all(not f.strip() for f in fields):
            continue
        yield reader.line_num, fields


def dedupe(parsed: ParsedLabels) -> ParsedLabels:
    """Keep the first row of each (image, category); report the others as duplicates.

    A repeat with a different value is also a rejection, since we cannot tell which is right.
    """
    seen: dict[tuple[str, str], LabelRow] = {}
    kept: list[LabelRow] = []
    for row in parsed.rows:
        key = (row.image, row.category)
        first = seen.get(key)
        if first is None:
            seen[key] = row
            kept.append(row)
            continue
        same = first.value == row.value and first.maybe == row.maybe
        parsed.duplicates.append(
            Duplicate(row.image, row.category, row.source, row.line, first.source, first.line, same)
        )
        if not same:
            parsed.reject(
                row.source,
                row.line,
                f"conflicting duplicate of {first.source}:{first.line} for {row.image}"
                f" ({row.category}: {row.value!r} vs {first.value!r}); first kept",
            )
    parsed.rows = kept
    return parsed


def whole_file_error(path: Path, expected: str, sample: list[Rejection]) -> LabelFileError:
    """The error for a file in which not one row could be read."""
    first = sample[0].reason if sample else "no rows"
    return LabelFileError(
        str(path), f"no row could be read; this does not look like {expected} (first problem: {first})"
    )
