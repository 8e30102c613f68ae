"""Tests for the tf.data pipeline: shapes, masked targets, augmentation, caching, the TFRecord seam."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from fashion_core.labels import NO_MAP, label_view
from fashion_core.modeling import Augmentation, build_label_table, image_dataset, load_images
from fashion_core.modeling.data import (
    TFRECORD_IMAGE_KEY,
    TFRECORD_LABEL_KEY,
    TFRECORD_LABELLED_KEY,
    tfrecord_dataset,
)
from fashion_core.modeling.table import MASKED, LabelTable
from fashion_core.store import LabelStore
from tests.core.modeling._tiny_data import make_dataset

SIZE = 40  # not the files' 32 px, so resizing is exercised


def _table(store: LabelStore, root: Path) -> LabelTable:
    make_dataset(store, root, n=16, categories=("colour", "size", "tags"))
    return build_label_table(label_view(store, "tiny", NO_MAP), root)


def _collect(ds: tf.data.Dataset) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    images, targets = [], {}
    for x, y in ds:
        images.append(x.numpy())
        for k, v in y.items():
            targets.setdefault(k, []).append(v.numpy())
    return np.concatenate(images), {k: np.concatenate(v) for k, v in targets.items()}


def test_batches_have_the_right_shapes_and_masked_targets(store: LabelStore, tmp_path: Path) -> None:
    table = _table(store, tmp_path / "data")
    ds = image_dataset(table.paths, table.targets(), image_size=SIZE, batch_size=5, training=False)

    first_x, first_y = next(iter(ds))
    images, targets = _collect(ds)

    assert first_x.shape == (5, SIZE, SIZE, 3) and first_x.dtype == tf.float32
    assert first_y["colour"].shape == (5,) and first_y["tags"].shape == (5, 2)
    assert images.shape == (16, SIZE, SIZE, 3)
    assert 0.0 <= images.min() and images.max() <= 255.0 and images.max() > 150
    expected = table.targets()
    for key in ("colour", "size", "tags"):
        np.testing.assert_array_equal(targets[key], expected[key])  # evaluation keeps the order
    assert (targets["colour"] == MASKED).sum() == 8  # half the images are labelled in size only
    np.testing.assert_array_equal(images, load_images(table.paths, SIZE))  # prediction sees the same pixels


def test_validation_batches_are_counted_so_keras_sees_where_a_pass_ends(store: LabelStore, tmp_path: Path) -> None:
    import warnings

    import keras

    table = _table(store, tmp_path / "data")
    size = table.targets()["size"]
    train = image_dataset(table.paths, {"size": size}, image_size=SIZE, batch_size=5, training=True)
    val = image_dataset(table.paths[:7], {"size": size[:7]}, image_size=SIZE, batch_size=5, training=False)
    assert int(val.cardinality()) == 2 and int(train.cardinality()) == 4  # 7 and 16 images in batches of 5
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, {"size": keras.layers.Dense(3, name="size")(pooled)})
    model.compile("adam", {"size": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=MASKED)})
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        history = model.fit(train.repeat(), steps_per_epoch=4, validation_data=val, epochs=3, verbose=0)
    assert len(history.history["val_loss"]) == 3
    # Unbatching hid the count, and Keras then warned after every validation pass (training's stderr).
    assert not [w for w in raised if "ran out of data" in str(w.message)]


def test_training_shuffles_and_augments_but_keeps_pairs(store: LabelStore, tmp_path: Path) -> None:
    table = _table(store, tmp_path / "data")
    plain = image_dataset(table.paths, table.targets(), image_size=SIZE, batch_size=16, training=False)
    augmented = image_dataset(table.paths, table.targets(), image_size=SIZE, batch_size=16, training=True,
                              augmentation=Augmentation(rotation_factor=0.1, brightness_factor=0.3), seed=1)

    x_plain, y_plain = _collect(plain)
    x_aug, y_aug = _collect(augmented)

    order = [int(np.argmin(np.abs(x_plain.mean(axis=(1, 2, 3)) - m))) for m in x_aug.mean(axis=(1, 2, 3))]
    assert sorted(y_aug["colour"].tolist()) == sorted(y_plain["colour"].tolist())
    assert not np.allclose(x_aug, x_plain[order], atol=1.0)  # pixels changed
    assert 0.0 <= x_aug.min() and x_aug.max() <= 255.0


def test_augmentations_repeat_with_the_seed_and_change_every_epoch(store: LabelStore, tmp_path: Path) -> None:
    table = _table(store, tmp_path / "data")

    def epochs(seed: int) -> list[np.ndarray]:
        ds = image_dataset(table.paths, table.targets(), image_size=SIZE, batch_size=16, training=True,
                           augmentation=Augmentation(), seed=seed)
        return [x.numpy() for x, _ in ds.repeat(2)]

    first, again, other = epochs(3), epochs(3), epochs(4)
    np.testing.assert_array_equal(first[0], again[0])  # a run repeats with its seed
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.allclose(first[0], other[0])
    assert not np.allclose(np.sort(first[0].mean(axis=(1, 2, 3))), np.sort(first[1].mean(axis=(1, 2, 3))))


def test_images_already_at_the_input_size_keep_their_decoded_pixels(store: LabelStore, tmp_path: Path) -> None:
    table = _table(store, tmp_path / "data")
    native = Image.open(table.paths[0]).size[0]  # the tiny files' side
    ds = image_dataset(table.paths[:1], {k: v[:1] for k, v in table.targets().items()}, image_size=native,
                       batch_size=1, training=False)
    image = next(iter(ds))[0].numpy()[0]
    decoded = np.asarray(Image.open(table.paths[0]).convert("RGB"))  # the one decoder is PIL's
    np.testing.assert_array_equal(image, decoded.astype(np.float32))


def test_file_cache_holds_the_resized_images(store: LabelStore, tmp_path: Path) -> None:
    table = _table(store, tmp_path / "data")
    cache = tmp_path / "cache" / "train"
    ds = image_dataset(table.paths, table.targets(), image_size=SIZE, batch_size=8, training=False, cache=cache)

    first, _ = _collect(ds)
    for p in table.paths:  # a cached epoch no longer reads the files
        Path(p).unlink()
    second, _ = _collect(ds)

    np.testing.assert_array_equal(first, second)
    cached = sum(f.stat().st_size for f in cache.parent.iterdir())
    assert cached < 16 * SIZE * SIZE * 3 * 2  # uint8 pixels of the resized images, not float32


def test_tfrecord_source_yields_the_same_batches(store: LabelStore, tmp_path: Path) -> None:
    table = _table(store, tmp_path / "data")
    targets = table.targets()
    record_file = tmp_path / "data.tfrecord"
    with tf.io.TFRecordWriter(str(record_file)) as writer:
        for i, path in enumerate(table.paths):
            writer.write(_example(Path(path).read_bytes(), table, i).SerializeToString())

    from_files, y_files = _collect(image_dataset(table.paths, targets, image_size=SIZE, batch_size=4, training=False))
    from_records, y_records = _collect(tfrecord_dataset([record_file], table.heads, image_size=SIZE, batch_size=4,
                                                        training=False))

    np.testing.assert_array_equal(from_records, from_files)
    for key in targets:
        np.testing.assert_array_equal(y_records[key], y_files[key])


def _example(encoded: bytes, table: LabelTable, row: int) -> tf.train.Example:
    feature = {TFRECORD_IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))}
    for head in table.heads:
        target = table.targets()[head.key][row]
        if head.multi:
            labelled, indices = bool(target[0] >= 0), [i for i, v in enumerate(target) if v == 1.0]
        else:
            labelled, indices = bool(target >= 0), ([int(target)] if target >= 0 else [])
        feature[TFRECORD_LABEL_KEY.format(head.name)] = tf.train.Feature(int64_list=tf.train.Int64List(value=indices))
        feature[TFRECORD_LABELLED_KEY.format(head.name)] = tf.train.Feature(
            int64_list=tf.train.Int64List(value=[int(labelled)]))
    return tf.train.Example(features=tf.train.Features(feature=feature))
