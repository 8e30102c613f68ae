"""THE image decoder: checked bytes to an upright RGB uint8 array, the same for training, prediction and thumbnails.

PIL and NumPy only (no TensorFlow): the tf.data pipeline calls ``photo_pixels`` through
``tf.numpy_function``, the predictor and evaluation call it directly, thumbnails and
downloads use ``load_photo``/``upright_rgb``. One path, so what a model is trained on is
what it is asked about: EXIF orientation applied, 16-bit greyscale scaled (not clipped to
white), transparency on white, CMYK, palette and 1-bit images converted alike.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fashion_core.errors import ImageError

MB = 1024 * 1024
MAX_IMAGE_BYTES = 10 * MB
MAX_IMAGE_PIXELS = 40_000_000  # header-checked before decoding (decompression bombs)
PHOTO_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP")  # PIL names; nothing else reaches a decoder
# Datasets and downloads also hold GIF and BMP (TensorFlow's decoder read those for training).
DATASET_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "BMP": "BMP"}
WHITE = (255, 255, 255)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 0..65535 greyscale as PIL opens it


class UnknownFormatError(ImageError):
    """The bytes are not an image in one of the accepted formats."""


@dataclass(frozen=True)
class ImageLimits:
    """What an image may be: at most ``max_bytes`` in the file, ``max_pixels`` width x height, one of ``formats``."""

    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    formats: tuple[str, ...] = PHOTO_FORMATS

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ImageError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        unknown = [f for f in self.formats if f not in FORMAT_NAMES]
        if not self.formats or unknown:
            raise ImageError(f"`formats` must be some of {list(FORMAT_NAMES)}. Received: formats={self.formats!r}")

    @property
    def formats_text(self) -> str:
        """``JPEG, PNG or WebP``: the accepted formats for messages."""
        names = [FORMAT_NAMES[f] for f in self.formats]
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# A dataset's own files (training, evaluation, thumbnails): the importer already accepted them,
# so only Pillow's decompression-bomb bound applies, not the upload limits of a photo.
DATASET_LIMITS = ImageLimits(max_bytes=512 * MB, max_pixels=178_956_970, formats=DATASET_FORMATS)


def megabytes(n: int) -> str:
    """``12.3 MB`` (1 MB = 2**20 bytes), ``10 MB`` for whole numbers."""
    value = n / MB
    return f"{value:g} MB" if value == int(value) else f"{value:.1f} MB"


def open_photo(data: bytes, *, limits: ImageLimits = ImageLimits(), name: str | None = None) -> Image.Image:
    """Check an image's bytes and open it (header only: no pixel is decoded yet).

    Raises:
        ImageError: Too large a file, a format outside ``limits.formats``, too many pixels, or
            a broken header; the message starts with ``name:`` when a name is given.
    """
    where = f"{name}: " if name else ""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{where}expected the image file's bytes, got {type(data).__name__}")
    if len(data) > limits.max_bytes:
        raise ImageError(f"{where}file too large: {megabytes(len(data))} > {megabytes(limits.max_bytes)}")
    if not data:
        raise ImageError(f"{where}empty file")
    try:
        image = Image.open(io.BytesIO(data), formats=limits.formats)
    except Image.DecompressionBombError:
        raise ImageError(f"{where}image has too many pixels") from None
    except UnidentifiedImageError:
        raise UnknownFormatError(f"{where}not a {limits.formats_text} image") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt header can raise anything
        raise ImageError(f"{where}broken image ({short_reason(exc)})") from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageError(
            f"{where}image too large: {width} x {height} pixels > {limits.max_pixels / 1e6:g} megapixels"
        )
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16-bit greyscale scaled, transparent pixels on white.

    A plain ``convert("RGB")`` clips 16-bit values to 255 (a white picture) and turns
    transparent pixels black or random; CMYK, palette, 1-bit and greyscale convert as usual.
    """
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "F":
        return Image.fromarray(_eight_bit(image)).convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _eight_bit(image: Image.Image) -> np.ndarray:
    """16-bit (or 32-bit integer) greyscale to uint8 by 65535 -> 255; float images are taken as 0..255."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode != "F":
        values = values / 257.0
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def upright_rgb(image: Image.Image) -> Image.Image:
    """Decode a PIL image (if not yet), apply its EXIF orientation and convert it with ``to_rgb``."""
    image.load()  # decode now, so a truncated file fails here with a clear error
    return to_rgb(ImageOps.exif_transpose(image))


def load_photo(
    data: bytes,
    *,
    limits: ImageLimits = ImageLimits(),
    name: str | None = None,
    max_side: int | None = None,
    resample: Image.Resampling = Image.Resampling.BILINEAR,
) -> Image.Image:
    """Decode a checked image to an upright RGB PIL image.

    Args:
        data: The file's bytes.
        limits: Size and format limits (see ``ImageLimits``).
        name: File name for messages.
        max_side: Shrink (JPEGs already while decoding) so neither side exceeds this.
        resample: The filter of that shrinking.

    Raises:
        ImageError: See ``open_photo``; also ``broken image`` when decoding fails.
    """
    image = open_photo(data, limits=limits, name=name)
    try:
        if max_side:
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, much faster
        rgb = upright_rgb(image)
        if max_side and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), resample)
        return rgb
    except Exception as exc:  # noqa: BLE001 - decoders of untrusted bytes raise many types
        raise ImageError(f"{name + ': ' if name else ''}broken image ({short_reason(exc)})") from None


def resize_pixels(pixels: np.ndarray, image_size: int) -> np.ndarray:
    """Stretch uint8 ``(H, W, 3)`` pixels to ``(S, S, 3)``: antialiased bilinear, rounded.

    Resampled per channel in float, the pixels equal ``tf.image.resize(antialias=True)``
    followed by rounding (what training used before this decoder); an image already at size
    is returned as it is (resampling it would cost more than decoding it).
    """
    if pixels.shape[:2] == (image_size, image_size):
        return pixels
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(pixels[..., c], dtype=np.float32), "F").resize(
            (image_size, image_size), Image.Resampling.BILINEAR
        ))
        for c in range(pixels.shape[2])
    ]
    return np.clip(np.round(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


def photo_pixels(
    data: bytes, image_size: int, *, limits: ImageLimits = ImageLimits(), name: str | None = None
) -> np.ndarray:
    """An image as a model sees it: uint8 ``(S, S, 3)``, the whole picture stretched to a square.

    JPEGs are first decoded at a reduced DCT scale no smaller than ``S`` (a fast, clean
    downscale), so large photos cost little more than small ones; then ``resize_pixels``.

    Raises:
        ImageError: See ``load_photo``.
    """
    image = open_photo(data, limits=limits, name=name)
    try:
        image.draft("RGB", (image_size, image_size))
        pixels = np.asarray(upright_rgb(image), dtype=np.uint8)
        return resize_pixels(pixels, image_size)
    except Exception as exc:  # noqa: BLE001 - decoders of untrusted bytes raise many types
        raise ImageError(f"{name + ': ' if name else ''}broken image ({short_reason(exc)})") from None


def file_pixels(
    path: str, image_size: int, *, limits: ImageLimits = DATASET_LIMITS, name: str | None = None
) -> np.ndarray:
    """``photo_pixels`` of a file; its size limit is checked before it is read.

    Raises:
        ImageError: Unreadable (missing), too large or broken file; messages start with ``name:``.
    """
    where = f"{name}: " if name else ""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.max_bytes:
                raise ImageError(f"{where}file too large: {megabytes(size)} > {megabytes(limits.max_bytes)}")
            data = handle.read()
    except OSError as exc:
        raise ImageError(f"{where}cannot read the file ({exc.strerror or exc})") from None
    return photo_pixels(data, image_size, limits=limits, name=name)


def short_reason(exc: BaseException, limit: int = 100) -> str:
    """An exception's message cut to ``limit`` characters (for one-line problem reports)."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
