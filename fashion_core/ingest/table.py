"""The canonical label table every reader produces, and the report of rows it rejected."""

from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from fashion_core.errors import LabelFileError, UnreadableFileError
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
            "image": self.image,
            "category": self.category,
            "file": self.file,
            "line": self.line,
            "first_file": self.first_file,
            "first_line": self.first_line,
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


MAX_LINE_BYTES = 64 * 1024  # a longer "line" is binary junk or a broken file, not a label row
MAX_FIELD_CHARS = 2048  # longer than any real path, URL or value name
MULTI_SEPARATOR = "|"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


@dataclass(frozen=True, slots=True)
class LabelLine:
    """One non-blank line of a label file: its fields, or why it cannot be split into fields."""

    line: int
    fields: list[str]
    problem: str | None = None


def read_label_lines(path: Path, expected: str) -> list[LabelLine]:
    """Split a label file into lines of fields; a malformed line carries its problem instead.

    Each physical line is parsed on its own, so a stray quote, a NUL byte, a non-UTF-8 byte or
    an over-long line costs that line only. Blank lines are left out.

    Args:
        path: The file.
        expected: What a good file looks like, for the error message.

    Raises:
        LabelFileError: if the file is missing, unreadable, empty, binary or UTF-16/32.
    """
    data = _read_bytes(path, expected)
    try:
        texts: list[str | None] = _split_lines(data.decode("utf-8-sig"))
    except UnicodeDecodeError:  # some lines are not UTF-8: find them one by one
        texts = [_decode_line(raw, i == 0) for i, raw in enumerate(_split_lines(data))]
    out = []
    for number, text in enumerate(texts, start=1):
        item = _parse_line(number, text)
        if item is not None:
            out.append(item)
    return out


def read_label_text(path: Path, expected: str) -> str:
    """A whole label file as UTF-8 text (JSON); missing, empty, binary or not UTF-8 is one clear error."""
    data = _read_bytes(path, expected)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(str(path), f"file is not UTF-8 text (byte {exc.start}); expected {expected}") from exc


def _read_bytes(path: Path, expected: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableFileError(
            str(path), f"cannot read file: {exc.strerror or exc}; check the path and its permissions"
        ) from exc
    if not data.strip():
        raise LabelFileError(str(path), f"file is empty; expected {expected}")
    if data.startswith(_UTF16_32_BOMS):
        raise LabelFileError(
            str(path), "file is UTF-16/UTF-32 text, not UTF-8; save it as UTF-8 and import again"
        )
    head = data[:65536]
    # One stray NUL spoils one line; many mean binary data (or UTF-16 without a byte-order mark).
    nuls = head.count(b"\x00")
    if nuls > 1 and nuls * 100 > len(head):
        raise LabelFileError(
            str(path), f"file is binary (or UTF-16), not a UTF-8 text label file; expected {expected}"
        )
    return data


def _split_lines(data: str | bytes) -> list:  # str or bytes alike
    newline, cr = ("\n", "\r") if isinstance(data, str) else (b"\n", b"\r")
    if newline not in data and cr in data:  # old Mac line ends
        return data.split(cr)
    lines = data.split(newline)
    return [line[:-1] if line.endswith(cr) else line for line in lines]


def _decode_line(raw: bytes, first: bool) -> str | None:
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return None


def _parse_line(number: int, text: str | None) -> LabelLine | None:
    """The fields of one line, a LabelLine with its problem, or None for a blank line."""
    if text is None:
        return LabelLine(number, [], "not UTF-8 text; save the file as UTF-8")
    if not text.strip():
        return None
    if len(text) > MAX_LINE_BYTES:
        return LabelLine(number, [], f"line is {len(text)} characters long (limit {MAX_LINE_BYTES})")
    if "\x00" in text:
        return LabelLine(number, [], "line contains a NUL byte (binary data)")
    if '"' in text:
        try:
            fields = next(csv.reader([text], strict=True))
        except csv.Error as exc:
            return LabelLine(number, [], f"malformed quotes ({exc}); quote whole fields, double inner quotes")
    else:
        fields = text.split(",")
    fields = [f.strip() for f in fields]
    if not any(fields):
        return LabelLine(number, fields, "row has only separators, no values")
    longest = max(range(len(fields)), key=lambda i: len(fields[i]))
    if len(fields[longest]) > MAX_FIELD_CHARS:
        return LabelLine(
            number,
            fields,
            f"field {longest + 1} is {len(fields[longest])} characters long (limit {MAX_FIELD_CHARS})",
        )
    return LabelLine(number, fields)


def name_problem(kind: str, name: str) -> str | None:
    """Why a category or value name read from a file cannot be stored, or None."""
    if MULTI_SEPARATOR in name:
        return (
            f"{kind} {name!r} contains '|', the multi-label separator; rename it"
            " (for several values use one row each, or the wide 0/1 layout)"
        )
    if any(ord(c) < 32 for c in name):
        return f"{kind} {name!r} contains control characters"
    return None


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
