"""The tf.data input pipeline: parallel decode and resize (the one decoder), cache, shuffle, augment, prefetch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from fashion_core.imaging.decode import DATASET_LIMITS, file_pixels, photo_pixels
from fashion_core.modeling.augment import batch_augmenter
from fashion_core.modeling.config import Augmentation
from fashion_core.modeling.heads import Head

AUTOTUNE = tf.data.AUTOTUNE
MAX_SHUFFLE_BUFFER = 4096
DECODE_GROUP = 16  # files decoded per Python call of the pipeline
Targets = dict[str, np.ndarray]

# TFRecord layout the pipeline reads (the TFRecord exporter writes the same):
#   image/encoded      bytes   the encoded image file (JPEG, PNG, ...)
#   label/<category>   int64*  value indices (one for single-choice; any number for multi-label)
#   labelled/<category> int64  1 if the image has a label in that category, else 0
TFRECORD_IMAGE_KEY = "image/encoded"
TFRECORD_LABEL_KEY = "label/{}"
TFRECORD_LABELLED_KEY = "labelled/{}"


def decode_and_resize(data: tf.Tensor, image_size: int) -> tf.Tensor:
    """Decode encoded image bytes to RGB and resize to a square; uint8 (S, S, 3).

    Through the one decoder (``imaging.decode.photo_pixels``: EXIF orientation, 16-bit,
    transparency, the antialiased resize), so training sees what prediction sees. uint8 is
    what gets cached: a quarter of float32's memory, and no precision is lost that the
    0..255 input had.
    """
    pixels = tf.numpy_function(
        lambda encoded: photo_pixels(_as_bytes(encoded), image_size, limits=DATASET_LIMITS), [data], tf.uint8,
        stateful=False,
    )
    return tf.ensure_shape(pixels, (image_size, image_size, 3))


def load_image(path: tf.Tensor | str, image_size: int) -> tf.Tensor:
    """Read and decode one image file to uint8 (S, S, 3), exactly as training sees it.

    A file that cannot be decoded stops the iteration with an error naming it (an
    ``ImageError`` from the decoder, inside TensorFlow's).
    """
    pixels = tf.numpy_function(
        lambda name: file_pixels(_as_bytes(name).decode(), image_size, name=_as_bytes(name).decode()), [path],
        tf.uint8, stateful=False,
    )
    return tf.ensure_shape(pixels, (image_size, image_size, 3))


def load_image_group(paths: tf.Tensor, image_size: int) -> tf.Tensor:
    """``load_image`` of a 1-D tensor of paths in one call: uint8 (N, S, S, 3)."""

    def decode(names: np.ndarray) -> np.ndarray:
        out = np.empty((len(names), image_size, image_size, 3), np.uint8)
        for i, name in enumerate(names):
            out[i] = file_pixels(_as_bytes(name).decode(), image_size, name=_as_bytes(name).decode())
        return out

    pixels = tf.numpy_function(decode, [paths], tf.uint8, stateful=False)
    return tf.ensure_shape(pixels, (None, image_size, image_size, 3))


def _as_bytes(value: bytes | np.ndarray) -> bytes:
    """A string tensor's value as ``numpy_function`` hands it over: bytes in tf.data, a 0-d array eagerly."""
    return value.item() if isinstance(value, np.ndarray) else value


def load_images(paths: Sequence[str], image_size: int, *, batch_size: int = 64) -> np.ndarray:
    """Decode a list of files to a float32 (N, S, S, 3) array in 0..255 (for prediction)."""
    ds = tf.data.Dataset.from_tensor_slices(list(map(str, paths)))
    ds = ds.map(lambda p: load_image(p, image_size), num_parallel_calls=AUTOTUNE).batch(batch_size)
    batches = [b.numpy() for b in ds]
    if not batches:
        return np.zeros((0, image_size, image_size, 3), np.float32)
    return np.concatenate(batches).astype(np.float32)


def image_dataset(
    paths: Sequence[str],
    targets: Targets,
    *,
    image_size: int,
    batch_size: int,
    training: bool,
    augmentation: Augmentation | None = None,
    cache: str | Path | None = "memory",
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of ``(float32 images 0..255, {head key: target})`` from image files.

    Args:
        paths: Absolute image paths.
        targets: Per head key, one target per path (see ``LabelTable.targets``).
        image_size: Side the images are resized to.
        batch_size: Global batch size.
        training: Shuffle each epoch and augment.
        augmentation: Augmentations to apply when training (None = none).
        cache: ``"memory"``, a file path prefix for an on-disk cache, or None. Only the
            resized uint8 images are cached, never the original files.
        seed: Shuffle and augmentation seed.
    """
    source = tf.data.Dataset.from_tensor_slices((list(map(str, paths)), targets))
    # Decoded a few files per call: one Python call per file would cost more than its decode.
    decoded = source.batch(DECODE_GROUP).map(
        lambda p, y: (load_image_group(p, image_size), y), num_parallel_calls=AUTOTUNE
    ).unbatch()
    # One image per path, but unbatch hides the count; declared, so Keras knows when a validation
    # pass ends instead of warning "Your input ran out of data" after every one of them.
    decoded = decoded.apply(tf.data.experimental.assert_cardinality(len(paths)))
    return finish_dataset(decoded, len(paths), batch_size=batch_size, training=training,
                          augmentation=augmentation, cache=cache, seed=seed)


def tfrecord_dataset(
    files: Sequence[str | Path],
    heads: Sequence[Head],
    *,
    image_size: int,
    batch_size: int,
    training: bool,
    augmentation: Augmentation | None = None,
    cache: str | Path | None = "memory",
    seed: int = 0,
    count: int | None = None,
) -> tf.data.Dataset:
    """The same batches as ``image_dataset``, read from TFRecord files (layout above).

    ``count`` (records, if known) sizes the shuffle buffer.
    """
    records = tf.data.TFRecordDataset([str(f) for f in files], num_parallel_reads=AUTOTUNE)
    parse = _tfrecord_parser(heads, image_size)
    decoded = records.map(parse, num_parallel_calls=AUTOTUNE)
    return finish_dataset(decoded, count or MAX_SHUFFLE_BUFFER, batch_size=batch_size, training=training,
                          augmentation=augmentation, cache=cache, seed=seed)


def finish_dataset(
    decoded: tf.data.Dataset,
    count: int,
    *,
    batch_size: int,
    training: bool,
    augmentation: Augmentation | None,
    cache: str | Path | None,
    seed: int,
) -> tf.data.Dataset:
    """Cache resized images, then shuffle, batch, augment (training only) and prefetch."""
    ds = decoded
    if cache == "memory":
        ds = ds.cache()
    elif cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        ds = ds.cache(str(cache))
    if training:
        ds = ds.shuffle(max(1, min(count, MAX_SHUFFLE_BUFFER)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augmentation is not None and augmentation.enabled:
        augmenter = batch_augmenter(augmentation, batch_size)
        # A seed pair per batch, new each epoch and the same for the same run seed.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda batch, pair: (augmenter(tf.cast(batch[0], tf.float32), pair), batch[1]),
            num_parallel_calls=AUTOTUNE,
        )
    else:
        ds = ds.map(lambda images, targets: (tf.cast(images, tf.float32), targets), num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    # Shard by element: file-based sharding cannot split a list of paths across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(AUTOTUNE)


def _tfrecord_parser(heads: Sequence[Head], image_size: int) -> Callable[[tf.Tensor], tuple[tf.Tensor, Any]]:
    spec = {TFRECORD_IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
    for head in heads:
        spec[TFRECORD_LABEL_KEY.format(head.name)] = tf.io.VarLenFeature(tf.int64)
        spec[TFRECORD_LABELLED_KEY.format(head.name)] = tf.io.FixedLenFeature([], tf.int64, default_value=0)

    def parse(serialized: tf.Tensor) -> tuple[tf.Tensor, Any]:
        ex = tf.io.parse_single_example(serialized, spec)
        targets = {}
        for head in heads:
            indices = tf.sparse.to_dense(ex[TFRECORD_LABEL_KEY.format(head.name)])
            labelled = ex[TFRECORD_LABELLED_KEY.format(head.name)] > 0
            targets[head.key] = _record_target(head, indices, labelled)
        return decode_and_resize(ex[TFRECORD_IMAGE_KEY], image_size), targets

    return parse


def _record_target(head: Head, indices: tf.Tensor, labelled: tf.Tensor) -> tf.Tensor:
    """Value indices -> the target ``LabelTable.targets`` would give (masked if unlabelled)."""
    if not head.multi:
        first = tf.cast(tf.concat([indices, [-1]], axis=0)[0], tf.int32)
        return tf.where(labelled, first, tf.constant(-1, tf.int32))
    hot = tf.minimum(tf.reduce_sum(tf.one_hot(indices, head.size, dtype=tf.float32), axis=0), 1.0)
    return tf.where(labelled, hot, -tf.ones([head.size]))
