"""How an image was made, in numbers: the pixel-level views of familiarity (``serving.calibration``).

The backbone's features alone let noise, drawings of other things and grayscale photos pass as
familiar; low-level statistics (edges, colour histograms, saturation) and colourfulness show how
an image was made. They run for every photo the API answers, beside the forward pass, so they
are vectorised over the batch; uint8 pixels (what the decoder gives) take an integer path with
the same numbers (``tests/core/serving/test_calibration.py`` checks both against a plain version).
"""

from __future__ import annotations

import numpy as np


def _channels_first(pixels: np.ndarray) -> np.ndarray:
    # (N, 3, S, S): every reduction below then runs over contiguous memory (reducing over a last axis
    # of 3 is ten times slower), which keeps familiarity cheap beside the API's forward pass
    return np.ascontiguousarray(np.asarray(pixels).transpose(0, 3, 1, 2))


def _saturation(c: np.ndarray) -> np.ndarray:
    """Max minus min channel of channels-first pixels, per pixel (exact in uint8)."""
    return np.maximum(np.maximum(c[:, 0], c[:, 1]), c[:, 2]) - np.minimum(np.minimum(c[:, 0], c[:, 1]), c[:, 2])


def _value_counts(rows: np.ndarray) -> np.ndarray:
    """Per row of uint8 values, how often each of 0..255 occurs: ``(R, 256)``."""
    return np.stack([np.bincount(r, minlength=256) for r in rows.reshape(len(rows), -1)])


_LEVELS = np.arange(256, dtype=np.float64)


def pixel_stats(pixels: np.ndarray) -> np.ndarray:
    """Low-level statistics of ``(N, S, S, 3)`` 0..255 pixels: edge energy, colour histograms, saturation.

    The backbone's features alone let much noise and many photos of other kinds pass as familiar
    (on the demo run: 65% of them flagged); how an image is made (drawn, photographed, noise) shows here.
    Per image: mean |dx| and |dy| per channel, an 8-bin histogram per channel (fractions), the mean
    saturation and the per-channel standard deviation, all on the 0..1 scale (34 numbers).
    """
    n = len(pixels)
    if not n:
        return np.zeros((0, 34), np.float32)
    if np.asarray(pixels).dtype != np.uint8:
        return _pixel_stats_float(pixels)
    # uint8 (what the decoder gives): the same numbers from integer work, ~3x faster. |a - b| is
    # max - min (no overflow); histograms, means and deviations come from each channel's value counts.
    c = _channels_first(pixels)
    size = c.shape[2] * c.shape[3]

    def mean_abs_step(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        step = np.maximum(a, b) - np.minimum(a, b)
        return step.reshape(n, 3, -1).sum(axis=2, dtype=np.uint64) / (step[0, 0].size * 255.0)

    dx, dy = mean_abs_step(c[..., 1:], c[..., :-1]), mean_abs_step(c[:, :, 1:], c[:, :, :-1])
    counts = _value_counts(c.reshape(n * 3, -1)).reshape(n, 3, 256)
    hist = counts.reshape(n, 3, 8, 32).sum(axis=3) / size  # 8 equal bins of 0..1: values 0-31, 32-63, ...
    mean = counts @ _LEVELS / size
    std = np.sqrt(np.maximum(counts @ (_LEVELS * _LEVELS) / size - mean**2, 0.0)) / 255.0
    sat = _saturation(c).reshape(n, -1).sum(axis=1, dtype=np.uint64) / (size * 255.0)
    return np.concatenate([dx, dy, hist.reshape(n, 24), sat[:, None], std], axis=1).astype(np.float32)


def _pixel_stats_float(pixels: np.ndarray) -> np.ndarray:
    n = len(pixels)
    c = _channels_first(np.asarray(pixels, np.float32)) * np.float32(1 / 255.0)
    dx, dy = np.abs(np.diff(c, axis=3)).mean((2, 3)), np.abs(np.diff(c, axis=2)).mean((2, 3))
    # 8 equal bins over 0..1 (1.0 in the last), counted for all images and channels in one bincount
    bins = np.minimum((c * 8).astype(np.int32), 7) + (np.arange(n * 3, dtype=np.int32) * 8).reshape(n, 3, 1, 1)
    hist = np.bincount(bins.ravel(), minlength=n * 24).reshape(n, 24) / (c.shape[2] * c.shape[3])
    sat = _saturation(c).mean((1, 2))[:, None]
    return np.concatenate([dx, dy, hist, sat, c.std((2, 3))], axis=1).astype(np.float32)


def colourfulness(pixels: np.ndarray) -> np.ndarray:
    """Per image, the 90th percentile of its pixels' saturation (max - min channel, 0..1).

    Grayscale photos (0) and nearly colourless ones pass the other two views too often: the backbone's
    features of a black-and-white photo sit near the drawn training images' (on the demo run 5 of 36
    scikit-image samples passed, 4 of them grayscale). Colour is a fact of how the training images
    were made, so its own view with a one-sided test (less colour than the validation images) catches them.
    """
    n = len(pixels)
    if not n:
        return np.zeros(0, np.float32)
    sat = _saturation(_channels_first(pixels)).reshape(n, -1)
    if sat.dtype != np.uint8:
        return (np.percentile(sat.astype(np.float64), 90, axis=1) / 255.0).astype(np.float32)
    # np.percentile's linear rule on the sorted values, read from the value counts (no sort)
    position = 0.9 * (sat.shape[1] - 1)
    below, frac = int(np.floor(position)), position - np.floor(position)
    ends = np.cumsum(_value_counts(sat), axis=1)  # ends[v]: how many values are <= v
    low = np.argmax(ends > below, axis=1)
    high = np.argmax(ends > below + 1, axis=1) if below + 1 < sat.shape[1] else low
    return ((low + frac * (high - low)) / 255.0).astype(np.float32)
