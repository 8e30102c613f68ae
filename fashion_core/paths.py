"""Names that come from data and become parts of file paths, and server folders a page may name: checked here."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from fashion_core.errors import UnsafePathError

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


_UNSAFE_PART = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def safe_part(name: object) -> str:
    """``name`` (a dataset, category, value or map name from data) as one safe path part.

    Separators, characters Windows refuses and control characters become ``_``; leading dots
    (``..``, hidden files) and trailing dots and spaces go; an empty result is ``_``. The result
    never leaves the folder it is joined to.
    """
    text = _UNSAFE_PART.sub("_", str(name)).strip().rstrip(". ")
    text = re.sub(r"^\.+", "_", text)
    while len(text.encode("utf-8")) > MAX_ID_BYTES:
        text = text[:-1]
    return text or "_"


def confine(path: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]) -> Path:
    """``path`` resolved (symlinks followed), if it is one of ``roots`` or inside one of them.

    The check is made after resolving, so neither ``..`` nor a symlink can lead out.

    Raises:
        UnsafePathError: naming the path and the allowed folders.
    """
    allowed = [Path(r).expanduser().resolve() for r in roots]
    try:
        target = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL character
        raise UnsafePathError(f"{path}: not a usable path ({exc})") from None
    if any(target == root or root in target.parents for root in allowed):
        return target
    shown = ", ".join(str(r) for r in allowed) or "(none configured)"
    raise UnsafePathError(f"{path} is outside the folders the studio may use here: {shown}.")


def join_inside(base: str | os.PathLike[str], *names: object) -> Path:
    """``base / safe_part(n) / ...``, checked (after resolving) to stay inside ``base``."""
    target = Path(base).joinpath(*(safe_part(n) for n in names))
    return confine(target, [base])


DATA_ROOTS_ENV = "FASHION_STUDIO_DATA_ROOTS"  # folders (os.pathsep-separated) the app may name


def data_roots(workspace_root: str | os.PathLike[str]) -> list[Path]:
    """The folders the app may read from or write to when a page names a server folder.

    The workspace always; more through ``$FASHION_STUDIO_DATA_ROOTS`` (``/data:/srv/images``).
    """
    extra = [p for p in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return [Path(workspace_root).resolve(), *(Path(p).expanduser().resolve() for p in extra)]
