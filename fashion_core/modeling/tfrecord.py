"""TFRecord export of a dataset (sharded, image bytes + every category's labels) and its reader.

Shards are named ``<prefix>-00000-of-00012.tfrecord``; ``schema.json`` beside them holds the
schema (after the label map) so the reader needs nothing else. Paths go through
``tf.io.gfile``, so the folder may be local or on cloud storage (``gs://...``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_core.errors import FashionCoreError
from fashion_core.labels.view import ACTIVE, LabelSource, label_view
from fashion_core.schema import Kind, Schema, split_value
from fashion_core.store import LabelStore

SCHEMA_FILE = "schema.json"
UNLABELLED = -1


@dataclass(frozen=True)
class TFRecordExport:
    """What an export wrote."""

    out_dir: str
    shards: list[str]
    examples: int
    skipped: list[dict[str, Any]]  # images that could not be read, with the reason

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "shards": self.shards, "examples": self.examples, "skipped": self.skipped}


def label_arrays(schema: Schema, labels_of_image: dict[str, str]) -> dict[str, np.ndarray]:
    """Per category: the value index (single-choice, -1 if unlabelled) or a multi-hot vector
    (multi-label), plus ``mask/<category>`` = 1 where the image is labelled in it."""
    out: dict[str, np.ndarray] = {}
    for cat in schema.categories:
        value = labels_of_image.get(cat.name)
        out[f"mask/{cat.name}"] = np.array([0 if value is None else 1], np.int64)
        if cat.kind is Kind.SINGLE:
            out[f"label/{cat.name}"] = np.array([UNLABELLED if value is None else cat.index(value)], np.int64)
        else:
            hot = np.zeros(len(cat.values), np.int64)
            for v in split_value(value):
                hot[cat.index(v)] = 1
            out[f"label/{cat.name}"] = hot
    return out


def export_tfrecords(
    store: LabelStore,
    dataset: str,
    out_dir: str | Path,
    *,
    source: LabelSource = ACTIVE,
    shard_size: int = 2000,
    prefix: str = "data",
    on_progress: Callable[[int, int], None] | None = None,
) -> TFRecordExport:
    """Write a dataset's images (original file bytes) and labels as sharded TFRecords.

    Args:
        store: The label store.
        dataset: Dataset name.
        out_dir: Local folder or a ``tf.io.gfile`` URL.
        source: Which labels (default: through the dataset's active map).
        shard_size: Examples per shard.
        prefix: Shard file name prefix.
        on_progress: Called with (done, total).
    """
    import tensorflow as tf

    if shard_size < 1:
        raise FashionCoreError(f"shard_size must be at least 1. Received: shard_size={shard_size}")
    view = label_view(store, dataset, source)
    root = store.dataset(dataset).images_root
    per_image: dict[int, dict[str, str]] = {}
    paths: dict[int, str] = {}
    for image_id, path, cat, value in view.labels[["image_id", "path", "category", "value"]].itertuples(index=False):
        per_image.setdefault(int(image_id), {})[cat] = value
        paths[int(image_id)] = path
    ids = sorted(per_image)
    n_shards = max(1, math.ceil(len(ids) / shard_size))
    out = str(out_dir).rstrip("/")
    tf.io.gfile.makedirs(out)
    shards, skipped, written = [], [], 0
    for s in range(n_shards):
        name = f"{out}/{prefix}-{s:05d}-of-{n_shards:05d}.tfrecord"
        with tf.io.TFRecordWriter(name) as writer:
            for image_id in ids[s * shard_size : (s + 1) * shard_size]:
                try:
                    data = (root / paths[image_id]).read_bytes()
                except OSError as exc:
                    skipped.append({"image_id": image_id, "path": paths[image_id], "reason": str(exc)})
                    continue
                writer.write(_example(tf, image_id, paths[image_id], data, view.schema, per_image[image_id]))
                written += 1
                if on_progress:
                    on_progress(written + len(skipped), len(ids))
        shards.append(name)
    with tf.io.gfile.GFile(f"{out}/{SCHEMA_FILE}", "w") as f:
        f.write(json.dumps({"schema": view.schema.to_dict(), "map": view.map_name, "dataset": dataset,
                            "examples": written, "shards": [Path(s).name for s in shards]}, indent=1))
    return TFRecordExport(out, shards, written, skipped)


def _example(tf: Any, image_id: int, path: str, data: bytes, schema: Schema, labels: dict[str, str]) -> bytes:
    feats = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
        "image/path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.encode()])),
        "image/id": tf.train.Feature(int64_list=tf.train.Int64List(value=[image_id])),
    }
    for key, arr in label_arrays(schema, labels).items():
        feats[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=arr.tolist()))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def read_schema(folder: str | Path) -> Schema:
    """The schema written beside a TFRecord export."""
    import tensorflow as tf

    path = f"{str(folder).rstrip('/')}/{SCHEMA_FILE}"
    if not tf.io.gfile.exists(path):
        raise FashionCoreError(f"{path}: no schema file; is this a folder written by export_tfrecords?")
    with tf.io.gfile.GFile(path) as f:
        return Schema.from_dict(json.loads(f.read())["schema"])


def read_tfrecords(folder: str | Path, *, decode: bool = True, image_size: int | None = None) -> tuple[Any, Schema]:
    """Turn exported shards back into a ``tf.data.Dataset`` of ``(image, labels)``.

    Args:
        folder: The export folder (local or a ``tf.io.gfile`` URL).
        decode: Decode images to uint8 RGB tensors; otherwise yield the encoded bytes.
        image_size: If given (and decoding), resize to a square of this size.

    Returns:
        The dataset and the schema. ``labels`` maps ``label/<category>`` and
        ``mask/<category>`` to tensors, and ``image/id``/``image/path`` to the image's id/path.
    """
    import tensorflow as tf

    schema = read_schema(folder)
    files = sorted(tf.io.gfile.glob(f"{str(folder).rstrip('/')}/*.tfrecord"))
    if not files:
        raise FashionCoreError(f"{folder}: no .tfrecord shards found")
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/path": tf.io.FixedLenFeature([], tf.string),
        "image/id": tf.io.FixedLenFeature([], tf.int64),
    }
    for cat in schema.categories:
        width = 1 if cat.kind is Kind.SINGLE else len(cat.values)
        spec[f"label/{cat.name}"] = tf.io.FixedLenFeature([width], tf.int64)
        spec[f"mask/{cat.name}"] = tf.io.FixedLenFeature([1], tf.int64)

    def parse(record: Any) -> tuple[Any, dict[str, Any]]:
        ex = tf.io.parse_single_example(record, spec)
        image = ex.pop("image/encoded")
        if decode:
            image = tf.io.decode_image(image, channels=3, expand_animations=False)
            if image_size:
                image = tf.cast(tf.image.resize(image, (image_size, image_size)), tf.uint8)
        return image, ex

    ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE), schema
