"""Read JD-style URL lists (``id,url,l1,...,l13``) row by row, without loading them whole."""

from __future__ import annotations

import codecs
import csv
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import numpy as np

from fashion_core.errors import DownloadError
from fashion_core.schema import JD_CLASS_COUNT

FIELDS = 2 + JD_CLASS_COUNT
MAX_LINE_BYTES = 64 * 1024  # a longer "line" is binary junk or a broken file, not a URL row
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class ListRow:
    """One data line of a list. ``error`` is set (``bad row: ...``) when the line is malformed."""

    line: int
    image_id: str
    url: str
    error: str | None = None


@dataclass(frozen=True)
class ListScan:
    """What a first pass over the list found: row count and which ids and URLs repeat.

    Repeats are kept as hashes, 8 bytes per row during the scan, so a list of millions of rows
    does not have to be held in memory to find them.
    """

    total: int
    repeated_url_hashes: frozenset[int]
    repeated_id_hashes: frozenset[int]


def check_list_file(path: str | Path) -> Path:
    """Return ``path`` if it looks like a readable text list; raise DownloadError otherwise.

    Raises:
        DownloadError: naming the file, if it is missing, a folder, unreadable, empty or binary.
    """
    path = Path(path)
    if not path.exists():
        raise DownloadError(f"{path}: list file not found")
    if not path.is_file():
        raise DownloadError(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise DownloadError(f"{path}: cannot read the list ({exc.strerror or exc})") from None
    if not head.strip():
        raise DownloadError(f"{path}: the list is empty")
    if b"\x00" in head or not _is_utf8_prefix(head):
        raise DownloadError(f"{path}: not a text list (binary or not UTF-8); expected 'id,url,l1..l13' lines")
    return path


def _is_utf8_prefix(head: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def scan_list(path: Path) -> ListScan:
    """Count the rows of a list and find repeated ids and URLs, in one streaming pass.

    Raises:
        DownloadError: if the list has no data row at all.
    """
    url_hashes, id_hashes = array("q"), array("q")
    total = 0
    for row in iter_rows(path):
        total += 1
        if row.error is None:
            url_hashes.append(hash(row.url))
            id_hashes.append(hash(row.image_id))
    if total == 0:
        raise DownloadError(f"{path}: the list has no rows (only a header or blank lines)")
    return ListScan(total, _repeated(url_hashes), _repeated(id_hashes))


def _repeated(hashes: array) -> frozenset[int]:
    values, counts = np.unique(np.frombuffer(hashes, dtype=np.int64), return_counts=True)
    return frozenset(int(v) for v in values[counts > 1])


def iter_rows(path: Path) -> Iterator[ListRow]:
    """Yield every data row of the list, malformed rows included (with ``error`` set).

    Blank lines are not rows. A first line ``id,url,...`` is a header and is skipped.
    """
    first = True
    with path.open("rb") as handle:
        for line_no, raw in _lines(handle):
            text = _decode(raw, first)
            if text is None:
                yield ListRow(line_no, "", "", "bad row: not UTF-8 text")
                first = False
                continue
            if not text.strip():
                continue
            if "\x00" in text:
                yield ListRow(line_no, "", "", "bad row: contains a NUL byte (binary data)")
                first = False
                continue
            try:
                fields = _split(text)
            except csv.Error as exc:
                yield ListRow(line_no, "", "", f"bad row: malformed quotes ({exc})")
                first = False
                continue
            if first and [f.lower() for f in fields[:2]] == ["id", "url"]:
                first = False
                continue
            first = False
            yield parse_fields(line_no, fields)


def _lines(handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes), or (line number, None) for a line longer than the limit."""
    line_no = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        line_no += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the over-long line
            yield line_no, None
            continue
        yield line_no, raw


def _decode(raw: bytes | None, first: bool) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8-sig" if first else "utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None


def _split(text: str) -> list[str]:
    # Plain split for the common case; csv only when quotes are used. One line at a time, so
    # a stray quote cannot swallow the lines after it; strict: malformed quoting is an error.
    fields = next(csv.reader([text], strict=True)) if '"' in text else text.split(",")
    return [f.strip() for f in fields]


def parse_fields(line: int, fields: list[str]) -> ListRow:
    """Check one row's fields: id, URL syntax, and 13 labels of 0 or 1."""
    image_id = fields[0] if fields else ""
    url = fields[1] if len(fields) > 1 else ""
    if len(fields) != FIELDS:
        found = f"expected {FIELDS} fields (id,url,l1..l{JD_CLASS_COUNT}), found {len(fields)}"
        return ListRow(line, image_id, url, f"bad row: {found}")
    if not image_id:
        return ListRow(line, image_id, url, "bad row: empty id")
    for position, flag in enumerate(fields[2:], start=1):
        if flag not in ("0", "1"):
            return ListRow(line, image_id, url, f"bad row: label l{position} is {flag!r}, expected 0 or 1")
    problem = url_syntax_problem(url)
    if problem:
        return ListRow(line, image_id, url, f"bad row: {problem}")
    return ListRow(line, image_id, url)


def url_syntax_problem(url: str) -> str | None:
    """Why ``url`` is not a URL at all, or None. (Scheme and address rules are in ``safety``.)"""
    if not url:
        return "empty URL"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return f"bad URL {url[:80]!r}: contains spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"bad URL {url[:80]!r}: {exc}"
    if not parts.scheme:
        return f"bad URL {url[:80]!r}: no scheme"
    return None
