"""Tests for the fused batch augmenter: each switch does what its Keras layer would, within its strength."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fashion_core.modeling import Augmentation
from fashion_core.modeling.augment import BatchAugmenter

SIDE = 41  # odd: the centre is a pixel
OFF = {"flip": False, "rotation": False, "translation": False, "brightness": False, "contrast": False}


def _only(**switches: object) -> Augmentation:
    return Augmentation(**{**OFF, **switches})


def _run(aug: Augmentation, images: np.ndarray, seed: int = 7) -> np.ndarray:
    return BatchAugmenter(aug)(tf.constant(images, tf.float32), tf.constant([seed, 1], tf.int64)).numpy()


def _dots(n: int, offsets: tuple[int, int] = (0, 0)) -> np.ndarray:
    """n black images, each with one white pixel at centre + offsets."""
    images = np.zeros((n, SIDE, SIDE, 3), np.float32)
    c = SIDE // 2
    images[:, c + offsets[0], c + offsets[1], :] = 255.0
    return images


def _centroid(image: np.ndarray) -> np.ndarray:
    weight = image[..., 0]
    rows, cols = np.indices(weight.shape)
    return np.array([(weight * rows).sum(), (weight * cols).sum()]) / weight.sum()


def test_horizontal_flip_mirrors_about_half_of_the_images_exactly() -> None:
    images = np.random.default_rng(0).uniform(0, 255, (32, SIDE, SIDE, 3)).astype(np.float32)
    out = _run(_only(flip=True), images)
    same = [np.array_equal(o, i) for o, i in zip(out, images)]
    mirrored = [np.allclose(o, i[:, ::-1], atol=1e-3) for o, i in zip(out, images)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 4 <= sum(mirrored) <= 28  # a coin per image, not one for the batch


def test_rotation_turns_about_the_centre_within_its_strength() -> None:
    factor = 0.05  # up to 18 degrees
    out = _run(_only(rotation=True, rotation_factor=factor), _dots(16, (0, 12)))
    c = SIDE // 2
    angles = []
    for image in out:
        r, col = _centroid(image) - c
        assert np.hypot(r, col) == pytest.approx(12, abs=0.6)  # the dot keeps its distance from the centre
        angles.append(np.degrees(np.arctan2(r, col)))
    assert max(abs(a) for a in angles) <= 360 * factor + 1
    assert np.ptp(angles) > 5  # each image turned by its own angle


def test_translation_shifts_within_its_strength() -> None:
    factor = 0.1  # up to 4.1 px at 41 px
    out = _run(_only(translation=True, translation_factor=factor), _dots(16))
    shifts = np.array([_centroid(image) - SIDE // 2 for image in out])
    assert np.abs(shifts).max() <= factor * SIDE + 0.5
    assert np.abs(shifts).max() > 1.0 and np.ptp(shifts[:, 0]) > 1.0 and np.ptp(shifts[:, 1]) > 1.0


def test_brightness_adds_one_shift_per_image_within_its_strength() -> None:
    images = np.random.default_rng(1).uniform(80, 170, (16, SIDE, SIDE, 3)).astype(np.float32)
    factor = 0.2  # up to 51 grey levels: nothing clips
    delta = _run(_only(brightness=True, brightness_factor=factor), images) - images
    per_image = delta.reshape(16, -1)
    assert np.allclose(per_image, per_image[:, :1], atol=1e-3)
    assert np.abs(per_image[:, 0]).max() <= factor * 255 + 1e-3 and np.ptp(per_image[:, 0]) > 10


def test_contrast_scales_about_each_channel_mean_within_its_strength() -> None:
    images = np.random.default_rng(2).uniform(90, 160, (16, SIDE, SIDE, 3)).astype(np.float32)
    factor = 0.3
    out = _run(_only(contrast=True, contrast_factor=factor), images)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), images.mean(axis=(1, 2)), atol=0.05)
    mean = images.mean(axis=(1, 2), keepdims=True)
    scale = ((out - mean) * (images - mean)).sum(axis=(1, 2, 3)) / ((images - mean) ** 2).sum(axis=(1, 2, 3))
    assert (scale >= 1 - factor - 1e-3).all() and (scale <= 1 + factor + 1e-3).all() and np.ptp(scale) > 0.1


def test_all_switches_keep_the_range_and_repeat_with_the_seed() -> None:
    images = np.random.default_rng(3).uniform(0, 255, (8, SIDE, SIDE, 3)).astype(np.float32)
    strong = Augmentation(rotation_factor=0.2, translation_factor=0.2, brightness_factor=0.5, contrast_factor=0.5)
    first, again, other = _run(strong, images, seed=5), _run(strong, images, seed=5), _run(strong, images, seed=6)
    assert first.shape == images.shape and first.min() >= 0.0 and first.max() <= 255.0
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_all_switches_off_changes_nothing() -> None:
    images = np.random.default_rng(4).uniform(0, 255, (4, SIDE, SIDE, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(Augmentation.off(), images), images)


def test_the_warp_samples_as_tensorflows_projective_transform_with_reflected_borders() -> None:
    from fashion_core.modeling.augment import _sample_bilinear

    rng = np.random.default_rng(5)
    images = tf.constant(rng.uniform(0, 255, (6, 24, 30, 3)), tf.float32)
    angle = rng.uniform(-0.6, 0.6, 6)
    affine = [np.cos(angle), np.sin(angle), rng.uniform(-12, 12, 6),
              -np.sin(angle) * rng.choice([-1, 1], 6), np.cos(angle), rng.uniform(-12, 12, 6)]
    affine = [tf.constant(a, tf.float32) for a in affine]
    zeros = tf.zeros([6])
    reference = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=tf.stack([*affine, zeros, zeros], axis=1), output_shape=[24, 30],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
    np.testing.assert_allclose(_sample_bilinear(images, tuple(affine)).numpy(), reference.numpy(), atol=0.01)


def test_a_short_last_batch_is_augmented_as_part_of_a_full_one() -> None:
    images = np.random.default_rng(6).uniform(0, 255, (8, SIDE, SIDE, 3)).astype(np.float32)
    augmenter = BatchAugmenter(Augmentation(), batch_size=8)
    seed = tf.constant([9, 1], tf.int64)
    full = augmenter(tf.constant(images), seed).numpy()
    short = augmenter(tf.constant(images[:5]), seed).numpy()
    assert short.shape == (5, SIDE, SIDE, 3)
    np.testing.assert_allclose(short, full[:5], atol=1e-4)  # the same draws: one compiled shape
