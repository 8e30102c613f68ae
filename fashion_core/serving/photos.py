"""Photos for prediction: files found in folders, files and URLs read under the limits, decoded by the one decoder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_core.errors import DownloadError, ImageError, UnsafeURLError
from fashion_core.imaging.decode import MAX_IMAGE_BYTES, ImageLimits, file_pixels, megabytes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
URL_TIMEOUT_S = 10.0
DECODE_WORKERS = 2  # PIL decodes outside the GIL; the machine this targets has 2 cores


@dataclass(frozen=True)
class ImageProblem:
    """A photo of a batch that could not be predicted, and why (reported, never dropped)."""

    path: str
    reason: str


def read_photo_file(path: str, image_size: int, limits: ImageLimits) -> np.ndarray | ImageProblem:
    """A file's pixels as the model sees them, or the reason it has none (never raises for a bad file)."""
    try:
        return file_pixels(path, image_size, limits=limits)
    except ImageError as exc:
        return ImageProblem(path, str(exc))


def collect_image_paths(inputs: Iterable[str | Path]) -> tuple[list[str], list[ImageProblem]]:
    """Files as given and image files found (recursively, sorted) in folders; missing ones reported."""
    paths: list[str] = []
    problems: list[ImageProblem] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(ImageProblem(str(item), "folder holds no JPEG, PNG or WebP image"))
            paths += [str(p) for p in found]
        elif path.is_file():
            paths.append(str(item))
        else:
            problems.append(ImageProblem(str(item), "no such file or folder"))
    return list(dict.fromkeys(paths)), problems


def fetch_image_bytes(
    url: str, *, allow_private: bool = False, max_bytes: int = MAX_IMAGE_BYTES, timeout: float = URL_TIMEOUT_S
) -> bytes:
    """Download one photo under the downloader's safety rules (schemes, addresses, size, time-outs).

    Raises:
        UnsafeURLError: A refused scheme, address or malformed URL.
        ImageError: The body is larger than ``max_bytes``.
        DownloadError: Any other failure (HTTP status, time-out, connection error).
    """
    from fashion_core.download.config import DownloadConfig
    from fashion_core.download.fetch import Fetcher
    from fashion_core.download.report import RowFailure, reason_kind

    config = DownloadConfig(
        workers=1,
        per_host_limit=1,
        connect_timeout=min(5.0, timeout),
        read_timeout=timeout,
        total_timeout=2 * timeout,
        retries=1,
        backoff=0.2,
        max_retry_after=2.0,
        max_bytes=max_bytes,
        allow_private=allow_private,
    )
    url = str(url).strip()
    try:
        with Fetcher(config) as fetcher:
            return fetcher.fetch(url).body
    except RowFailure as exc:
        kind = reason_kind(exc.reason)
        if kind in ("refused address", "bad scheme", "bad URL"):
            raise UnsafeURLError(f"{url}: {exc.reason}") from None
        if kind == "too large":
            size = f"{megabytes(exc.nbytes)} > " if exc.nbytes else "more than "
            raise ImageError(f"{url}: file too large: {size}{megabytes(max_bytes)}") from None
        raise DownloadError(f"could not fetch {url}: {exc.reason}") from None


@dataclass(frozen=True)
class DecodedBatch:
    """One batch of files decoded for a model: the good ones' pixels and the others' problems.

    Attributes:
        names: The batch's files in input order.
        ok: Positions in ``names`` of the decoded files (the rows of ``pixels``).
        pixels: uint8 ``(len(ok), S, S, 3)``.
        problems: The files that could not be decoded.
    """

    names: list[str]
    ok: list[int]
    pixels: np.ndarray
    problems: list[ImageProblem]


def decode_batches(
    paths: Sequence[str | Path], image_size: int, limits: ImageLimits, *, batch_size: int, workers: int = DECODE_WORKERS
) -> Iterator[DecodedBatch]:
    """Decode files batch by batch in threads (PIL decodes outside the GIL); bad files are reported.

    Raises:
        ImageError: ``batch_size`` is not a positive integer.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ImageError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    names = [str(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for first in range(0, len(names), batch_size):
            chunk = names[first : first + batch_size]
            decoded = list(pool.map(lambda n: read_photo_file(n, image_size, limits), chunk))
            ok = [i for i, px in enumerate(decoded) if not isinstance(px, ImageProblem)]
            pixels = (np.stack([decoded[i] for i in ok]) if ok
                      else np.zeros((0, image_size, image_size, 3), np.uint8))
            yield DecodedBatch(chunk, ok, pixels, [px for px in decoded if isinstance(px, ImageProblem)])
