"""Names that come from data and become parts of file paths: checked here, once."""

from __future__ import annotations

_FORBIDDEN_ID_CHARS = frozenset('/\\:*?"<>|')
MAX_ID_BYTES = 200  # leaves room for ".jpg" and a temporary suffix within the usual 255 bytes


def image_id_problem(image_id: str) -> str | None:
    """Why ``image_id`` cannot be a file name, or None when it can.

    Ids become ``<out>/<id>.jpg``; anything that could leave the output folder, hide the file
    or break on another file system is refused.
    """
    if not image_id:
        return "empty id"
    if ".." in image_id or image_id.startswith("."):
        return f"unsafe id {image_id!r}: must not contain '..' or start with '.'"
    bad = sorted({c for c in image_id if c in _FORBIDDEN_ID_CHARS or ord(c) < 32 or ord(c) == 127})
    if bad:
        return f"unsafe id {image_id!r}: forbidden characters {''.join(bad)!r}"
    if image_id != image_id.strip():
        return f"unsafe id {image_id!r}: leading or trailing spaces"
    if len(image_id.encode("utf-8")) > MAX_ID_BYTES:
        return f"unsafe id: longer than {MAX_ID_BYTES} bytes"
    return None
