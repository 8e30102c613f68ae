"""Turn downloaded bytes into a checked, upright RGB JPEG, and write files atomically."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

from PIL import Image

from fashion_core.download.report import RowFailure
from fashion_core.faults import fault_point
from fashion_core.imaging.decode import DATASET_FORMATS, upright_rgb

# Only the formats photos arrive in. Pillow would also open EPS (which runs Ghostscript), PSD,
# TIFF and others; untrusted bytes from the internet should not reach those decoders.
ALLOWED_FORMATS: tuple[str, ...] = DATASET_FORMATS


def normalise_image(
    body: bytes,
    *,
    max_pixels: int,
    resize_short_side: int | None = None,
    jpeg_quality: int = 90,
) -> bytes:
    """Decode ``body`` safely and re-encode it as an upright RGB JPEG.

    The pixel count is checked from the header, before any pixel is decoded, so a small file
    that claims 30000 x 30000 pixels (a decompression bomb) costs nothing.

    Args:
        body: The downloaded bytes.
        max_pixels: Largest width x height accepted.
        resize_short_side: Shrink so the short side is this long (never enlarge); None keeps size.
        jpeg_quality: Quality of the JPEG written.

    Returns:
        The JPEG bytes.

    Raises:
        RowFailure: ``not an image``, ``too many pixels (WxH)`` or ``broken image: ...``.
    """
    image = _open(body)
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise RowFailure(f"too many pixels ({width}x{height})")
        if width < 1 or height < 1:
            raise RowFailure("broken image: empty")
        try:
            return _convert(image, resize_short_side, jpeg_quality)
        except Image.DecompressionBombError:
            raise RowFailure(f"too many pixels ({width}x{height})") from None
        except Exception as exc:  # noqa: BLE001 - decoders of untrusted bytes raise many types
            raise RowFailure(f"broken image: {_short(exc)}") from None


def _open(body: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(body), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        # Pillow's own guard (twice Image.MAX_IMAGE_PIXELS) fires inside open().
        raise RowFailure("too many pixels") from None
    except Image.UnidentifiedImageError:
        raise RowFailure("not an image") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt header can raise anything
        raise RowFailure(f"broken image: {_short(exc)}") from None


def _convert(image: Image.Image, short_side: int | None, quality: int) -> bytes:
    target = _target_size(image.size, short_side)
    if target != image.size and image.format == "JPEG":
        image.draft(image.mode, target)  # decode JPEGs at a reduced scale: much faster
    rgb = upright_rgb(image)  # the one decoder's orientation and mode conversion (16-bit, alpha on white)
    target = _target_size(rgb.size, short_side)
    if target != rgb.size:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _target_size(size: tuple[int, int], short_side: int | None) -> tuple[int, int]:
    width, height = size
    if short_side is None or min(width, height) <= short_side:
        return size
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _short(exc: BaseException, limit: int = 80) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader (or a later run) sees either no file or the whole file, never half of one. The
    temporary name starts with a dot and ends with ``.part``.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    # os.open with 0o666 lets the umask decide permissions (mkstemp would force 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        fault_point("download:image-part")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
