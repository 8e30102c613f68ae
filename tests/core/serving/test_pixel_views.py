"""The pixel-level views of familiarity: the fast batched statistics equal the plain per-image ones
that saved calibrations were fitted with, for uint8 (the decoder's) and float pixels."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_core.serving import colourfulness, pixel_stats


def _pixel_stats_per_image(pixels: np.ndarray) -> np.ndarray:
    """The statistics written plainly, one image at a time (what saved calibrations were fitted with)."""
    rows = []
    for img in np.asarray(pixels, np.float32) / 255.0:
        dx, dy = np.abs(np.diff(img, axis=1)).mean((0, 1)), np.abs(np.diff(img, axis=0)).mean((0, 1))
        hist = [np.histogram(img[..., c], bins=8, range=(0, 1))[0] / img[..., c].size for c in range(3)]
        sat = np.array([(img.max(-1) - img.min(-1)).mean()])
        rows.append(np.concatenate([dx, dy, *hist, sat, img.std((0, 1))]))
    return np.stack(rows)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_fast_pixel_statistics_equal_the_plain_per_image_ones(dtype: type) -> None:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (6, 20, 24, 3)).astype(dtype)
    pixels[0], pixels[1] = 255, 0  # every value on the last / first histogram edge
    pixels[2] = np.linspace(0, 255, 24)[None, :, None]  # values across every bin, non-integer as floats
    pixels[3, :, :, 1] = 31 if dtype == np.uint8 else 31.9  # one channel just under a histogram edge
    pixels[3, :10, :, 1] = 32  # and the rest on it
    np.testing.assert_allclose(pixel_stats(pixels), _pixel_stats_per_image(pixels), atol=1e-5)
    plain = np.percentile((pixels.max(-1) - pixels.min(-1)).reshape(6, -1).astype(np.float64) / 255.0, 90, axis=1)
    np.testing.assert_allclose(colourfulness(pixels), plain, atol=1e-6)
    assert pixel_stats(pixels[:0]).shape == (0, 34)
