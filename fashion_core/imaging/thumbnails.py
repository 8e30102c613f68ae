"""Thumbnail disk cache: made once, in parallel, written atomically, served only from safe roots."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from fashion_core.errors import ImageError
from fashion_core.imaging.decode import DATASET_LIMITS, UnknownFormatError, load_photo

GALLERY_SIZE = 192  # longest side of a gallery tile, in pixels
PREVIEW_SIZE = 1024  # longest side of the detail view's image
MIN_SIZE, MAX_SIZE = 16, 2048

ProgressFn = Callable[[int, int], None]  # (thumbnails made so far, thumbnails to make)


class UnsafePathError(ImageError):
    """A path would make the app read a file outside the folders it may serve images from."""


@dataclass(frozen=True)
class ThumbnailCache:
    """Where thumbnails of one size live and how they are encoded.

    Attributes:
        root: The cache folder, normally ``Workspace.thumbnails_dir``.
        size: Longest side of a thumbnail in pixels (images are never enlarged).
        quality: JPEG quality of the cached files.
    """

    root: Path
    size: int = GALLERY_SIZE
    quality: int = 85

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if not MIN_SIZE <= int(self.size) <= MAX_SIZE:
            raise ValueError(f"`size` must be between {MIN_SIZE} and {MAX_SIZE}. Received: size={self.size}")
        if not 1 <= int(self.quality) <= 95:
            raise ValueError(f"`quality` must be between 1 and 95. Received: quality={self.quality}")


@dataclass
class ThumbnailReport:
    """The outcome of ``ensure_thumbnails``: a file per image, or the reason there is none.

    Attributes:
        thumbnails: Image path (relative to the images root) -> thumbnail file.
        problems: Image path -> why no thumbnail could be made (missing, broken, unsafe).
        made: How many thumbnails were generated now (the rest were cached).
    """

    thumbnails: dict[str, Path] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    made: int = 0


def safe_path(root: Path, rel_path: str | os.PathLike[str]) -> Path:
    """Resolve a path under ``root``, following symlinks, and refuse anything outside it.

    Args:
        root: A folder the app may read from (a dataset's images root, the thumbnail cache).
        rel_path: A path relative to ``root`` (as stored), or an absolute path to check.

    Returns:
        The resolved absolute path, inside the resolved ``root``.

    Raises:
        UnsafePathError: if the path (after ``..`` and symlinks) leaves ``root``.
    """
    real_root = Path(root).resolve()
    full = (real_root / Path(rel_path)).resolve()  # an absolute rel_path replaces the root here
    if not full.is_relative_to(real_root):
        raise UnsafePathError(f"Refusing to read {str(rel_path)!r}: it is outside {str(real_root)!r}.")
    return full


def thumbnail_key(dataset_id: int, rel_path: str, size_bytes: int, mtime_ns: int, thumb_size: int) -> str:
    """The cache key of one thumbnail: a changed file (size or mtime) gets a new key."""
    text = f"{int(dataset_id)}\0{rel_path}\0{int(size_bytes)}\0{int(mtime_ns)}\0{int(thumb_size)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def thumbnail_file(cache: ThumbnailCache, dataset_id: int, images_root: Path, rel_path: str) -> Path:
    """Where the thumbnail of an image is (or will be) cached; stats the image file.

    Raises:
        UnsafePathError: if ``rel_path`` leaves the images root.
        ImageError: if the image file is missing or not a regular file.
    """
    return _locate(cache, dataset_id, images_root, rel_path)[1]


def _locate(cache: ThumbnailCache, dataset_id: int, images_root: Path, rel_path: str) -> tuple[Path, Path]:
    """(safe source path, thumbnail path) of one image."""
    source = safe_path(images_root, rel_path)
    try:
        st = source.stat()
    except OSError as exc:
        raise ImageError(f"image file missing or unreadable: {rel_path} ({exc.strerror or exc})") from exc
    if not source.is_file():
        raise ImageError(f"image path is not a file: {rel_path}")
    key = thumbnail_key(dataset_id, rel_path, st.st_size, st.st_mtime_ns, cache.size)
    # Two levels of fan-out keep folders small with hundreds of thousands of files.
    return source, cache.root / str(int(dataset_id)) / str(cache.size) / key[:2] / f"{key}.jpg"


def make_thumbnail(source: Path, target: Path, *, size: int, quality: int = 85) -> Path:
    """Decode ``source``, shrink it to ``size`` (longest side) and write ``target`` atomically.

    The file is written under a temporary name in the target folder and then renamed, so a
    reader (or a second session making the same thumbnail) never sees half a file.

    Raises:
        ImageError: if the source is missing, broken or not an image.
    """
    try:
        data = source.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"image file missing: {source}") from exc
    except OSError as exc:
        raise ImageError(f"image file unreadable: {source} ({exc.strerror or exc})") from exc
    try:
        # The one decoder (EXIF, 16-bit, transparency on white); bicubic like PIL's own thumbnail().
        rgb = load_photo(data, limits=DATASET_LIMITS, max_side=size, resample=Image.Resampling.BICUBIC)
    except UnknownFormatError as exc:
        raise ImageError(f"not an image (unrecognised format): {source}") from exc
    except ImageError as exc:
        raise ImageError(f"broken image {source}: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jpg", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            rgb.save(fh, "JPEG", quality=quality)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def ensure_thumbnails(
    cache: ThumbnailCache,
    dataset_id: int,
    images_root: Path,
    paths: Iterable[str],
    *,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> ThumbnailReport:
    """Make the missing thumbnails of some images, in parallel, and say where each one is.

    Args:
        cache: The thumbnail cache (folder and size).
        dataset_id: The dataset's id (part of the cache key).
        images_root: The dataset's images root; paths leaving it are refused.
        paths: Image paths relative to the images root.
        workers: Threads for decoding (Pillow releases the GIL); default: twice the CPUs, at most 8.
        on_progress: Called with (made so far, to make) while generating; not called when
            everything was cached.

    Returns:
        A report with a thumbnail file per image, or the reason there is none. A bad image
        never stops the others.
    """
    report = ThumbnailReport()
    todo: list[tuple[str, Path, Path]] = []
    for rel in dict.fromkeys(paths):
        try:
            source, target = _locate(cache, dataset_id, images_root, rel)
        except ImageError as exc:
            report.problems[rel] = str(exc)
            continue
        if target.exists():
            report.thumbnails[rel] = target
        else:
            todo.append((rel, source, target))
    if todo:
        _make_all(cache, todo, report, workers or min(8, 2 * (os.cpu_count() or 1)), on_progress)
    return report


def _make_all(
    cache: ThumbnailCache,
    todo: Sequence[tuple[str, Path, Path]],
    report: ThumbnailReport,
    workers: int,
    on_progress: ProgressFn | None,
) -> None:
    def one(item: tuple[str, Path, Path]) -> tuple[str, Path | None, str | None]:
        rel, source, target = item
        try:
            return rel, make_thumbnail(source, target, size=cache.size, quality=cache.quality), None
        except ImageError as exc:
            return rel, None, str(exc)

    total = len(todo)
    if on_progress:
        on_progress(0, total)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, total))) as pool:
        for done, (rel, thumb, problem) in enumerate(pool.map(one, todo), start=1):
            if thumb is None:
                report.problems[rel] = problem or "unknown problem"
            else:
                report.thumbnails[rel] = thumb
                report.made += 1
            if on_progress:
                on_progress(done, total)


def served_file(path: Path, allowed_roots: Sequence[Path]) -> Path:
    """Check that a file about to be sent to the browser lies inside one of ``allowed_roots``.

    Raises:
        UnsafePathError: if it lies (after symlinks) outside all of them.
    """
    for root in allowed_roots:
        try:
            return safe_path(root, path)
        except UnsafePathError:
            continue
    raise UnsafePathError(
        f"Refusing to serve {str(path)!r}: it is outside {[str(r) for r in allowed_roots]}."
    )
