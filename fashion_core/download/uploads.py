"""URL lists uploaded in the app: saved under the workspace without overwriting, and their output folder."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from fashion_core.errors import DownloadError

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def save_list(lists_dir: str | os.PathLike[str], name: str, data: bytes) -> Path:
    """Save an uploaded URL list under ``lists_dir`` and return its path.

    The file keeps its (sanitised) name. A file of that name with other content is never
    overwritten (a running download may be reading it): the list is then saved as
    ``<stem>-<first 8 hex of its SHA-256><suffix>``, so uploading the same list again reuses it.

    Raises:
        DownloadError: if ``data`` is empty or the folder cannot be written.
    """
    if not data.strip():
        raise DownloadError(f"{name or 'the uploaded list'}: the list is empty")
    base = _safe_file_name(name)
    folder = Path(lists_dir)
    digest = hashlib.sha256(data).hexdigest()[:8]
    for candidate in (folder / base, folder / f"{Path(base).stem}-{digest}{Path(base).suffix}"):
        if not candidate.exists():
            return _write_atomic(candidate, data)
        if candidate.is_file() and candidate.read_bytes() == data:
            return candidate
    raise DownloadError(f"{folder / base}: a different list already has this name and hash; rename the file")


def default_out_dir(downloads_dir: str | os.PathLike[str], list_name: str) -> Path:
    """The default output folder of a list: ``<downloads_dir>/<list stem>`` (stem made safe)."""
    return Path(downloads_dir) / Path(_safe_file_name(list_name)).stem


def _safe_file_name(name: str) -> str:
    cleaned = _UNSAFE_NAME_CHARS.sub("_", Path(name or "").name).strip("._")[:100]
    if not cleaned:
        return "list.csv"
    return cleaned if Path(cleaned).suffix else f"{cleaned}.csv"


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{path}: cannot save the list ({exc.strerror or exc})") from None
    return path
