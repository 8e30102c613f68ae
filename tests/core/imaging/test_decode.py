"""The one decoder: every mode to the same RGB, EXIF applied, TF-equal resize; training and prediction agree."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_core.errors import ImageError
from fashion_core.imaging import DATASET_LIMITS, ImageLimits, UnknownFormatError, load_photo, photo_pixels
from fashion_core.imaging.decode import resize_pixels, to_rgb

SIZE = 24


def _scene(height: int = 30, width: int = 40) -> np.ndarray:
    """A smooth picture with a dark left third, so a rotation is visible."""
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([xx * 5 % 256, yy * 7 % 256, (xx + yy) * 3 % 256], -1).astype(np.uint8)
    pixels[:, : width // 3] //= 4
    return pixels


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def tricky_files() -> dict[str, bytes]:
    """One file per awkward case, written by PIL: name -> bytes."""
    rgb = Image.fromarray(_scene())
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    grey16 = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    return {
        "exif_rotated.jpg": _save(rgb, "JPEG", quality=95, exif=exif),
        "sixteen_bit.png": _save(Image.fromarray(grey16), "PNG"),
        "palette_transparent.png": _save(palette, "PNG", transparency=0),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG", quality=95),
        "grey.png": _save(rgb.convert("L"), "PNG"),
        "one_bit.png": _save(rgb.convert("1"), "PNG"),
        "rgba.png": _save(Image.fromarray(np.dstack([_scene(), np.full((30, 40), 128, np.uint8)])), "PNG"),
    }


# -- modes ----------------------------------------------------------------------------------------


def test_sixteen_bit_grey_is_scaled_not_clipped_to_white() -> None:
    files = tricky_files()
    eight = np.asarray(Image.fromarray(_scene()).convert("L"))
    decoded = np.asarray(load_photo(files["sixteen_bit.png"]))
    assert decoded.shape == (30, 40, 3) and decoded.mean() < 200
    np.testing.assert_array_equal(decoded[..., 0], eight)  # v * 257 / 257: exactly the 8-bit picture
    assert (decoded[..., 0] == decoded[..., 2]).all()


def test_transparency_is_composited_on_white() -> None:
    files = tricky_files()
    palette = Image.open(io.BytesIO(files["palette_transparent.png"]))
    transparent = np.asarray(palette) == 0
    decoded = np.asarray(load_photo(files["palette_transparent.png"]))
    assert transparent.any() and (decoded[transparent] == 255).all()
    half = np.asarray(load_photo(files["rgba.png"]), dtype=int)
    expected = np.round(_scene().astype(float) * 128 / 255 + 255 * 127 / 255)
    assert np.abs(half - expected).max() <= 1  # alpha 128 over white


def test_every_mode_becomes_rgb_uint8() -> None:
    for name, data in tricky_files().items():
        pixels = photo_pixels(data, SIZE, limits=DATASET_LIMITS, name=name)
        assert pixels.shape == (SIZE, SIZE, 3) and pixels.dtype == np.uint8, name
    one_bit = np.asarray(load_photo(tricky_files()["one_bit.png"]))
    assert set(np.unique(one_bit)) <= {0, 255}
    assert to_rgb(Image.new("I;16", (2, 2), 65535)).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("I;16", (2, 2), 32896)).getpixel((0, 0)) == (128, 128, 128)


def test_exif_orientation_is_applied() -> None:
    decoded = load_photo(tricky_files()["exif_rotated.jpg"])
    assert decoded.size == (30, 40)  # width, height after the quarter turn
    top_third = np.asarray(decoded, dtype=float)[: 40 // 3].mean()
    assert top_third < np.asarray(decoded, dtype=float)[40 // 2 :].mean() / 2  # the dark side is now on top


def test_unknown_formats_and_limits_are_refused_with_the_name() -> None:
    gif = _save(Image.fromarray(_scene()), "GIF")
    with pytest.raises(UnknownFormatError, match=r"^x.gif: not a JPEG, PNG or WebP image$"):
        photo_pixels(gif, SIZE, name="x.gif")
    assert photo_pixels(gif, SIZE, limits=DATASET_LIMITS).shape == (SIZE, SIZE, 3)  # datasets may hold GIFs
    with pytest.raises(ImageError, match="`formats` must be some of"):
        ImageLimits(formats=("TIFF",))


# -- the resize -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width", "size"), [(90, 120, 48), (30, 40, 24), (20, 40, 64)])
def test_resize_matches_tensorflow_antialiased_bilinear(height: int, width: int, size: int) -> None:
    import tensorflow as tf

    pixels = _scene(height, width)
    reference = tf.image.resize(pixels, (size, size), antialias=True)
    reference = tf.cast(tf.clip_by_value(tf.round(reference), 0.0, 255.0), tf.uint8).numpy().astype(int)
    assert np.abs(resize_pixels(pixels, size).astype(int) - reference).max() <= 1
    same = resize_pixels(pixels, size)
    assert resize_pixels(same, size) is same  # already at size: not resampled


# -- training and prediction see the same pixels ----------------------------------------------------


def test_training_pipeline_and_predictor_see_the_same_pixels(tmp_path: Path) -> None:
    from fashion_core.modeling import image_dataset
    from fashion_core.serving import read_photo_file

    files = tricky_files()
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    targets = {"colour": np.zeros(len(paths), np.int32)}
    ds = image_dataset(paths, targets, image_size=SIZE, batch_size=len(paths), training=False, cache=None)
    trained_on = next(iter(ds))[0].numpy()
    for row, path in enumerate(paths):
        served = read_photo_file(path, SIZE, DATASET_LIMITS)  # what Predictor.predict_paths decodes
        asked = photo_pixels(Path(path).read_bytes(), SIZE, limits=DATASET_LIMITS)  # predict_bytes
        assert isinstance(served, np.ndarray), served
        assert np.abs(trained_on[row] - served.astype(np.float32)).max() <= 1, Path(path).name
        np.testing.assert_array_equal(served, asked)
    sixteen = trained_on[paths.index(str(tmp_path / "sixteen_bit.png"))]
    assert sixteen.mean() < 200  # not the white picture PIL's plain convert would give
