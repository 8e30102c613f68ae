"""Cached backbone features (quick mode), keyed by image content, backbone, weights and size."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fashion_core.modeling.data import AUTOTUNE, load_image_group


@dataclass
class EmbeddingStats:
    """What one ``compute_embeddings`` call did."""

    images: int = 0
    hits: int = 0  # features read from the cache
    misses: int = 0  # features computed by the backbone (and stored)
    hashed: int = 0  # files whose bytes had to be hashed (not in the path -> hash cache)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"images": self.images, "hits": self.hits, "misses": self.misses, "hashed": self.hashed,
                "seconds": round(self.seconds, 3)}


class EmbeddingCache:
    """Feature vectors on disk: ``<root>/<backbone>-<size>px-<weights id>/<sha[:2]>/<sha>.npy``.

    A file's content hash is remembered in ``<root>/hashes.db`` by (path, size, mtime_ns),
    so an unchanged file is never read again just to be hashed.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.root / "hashes.db"), timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
        )

    def close(self) -> None:
        self._db.close()

    def content_hashes(self, paths: Sequence[str], stats: EmbeddingStats | None = None) -> list[str]:
        """SHA-256 of each file's bytes, from the cache when size and mtime are unchanged."""
        known = {}
        for path, size, mtime, sha in self._db.execute("SELECT path, size, mtime_ns, sha256 FROM files"):
            known[path] = (size, mtime, sha)
        hashes, fresh = [], []
        for path in map(str, paths):
            st = os.stat(path)
            entry = known.get(path)
            if entry and entry[0] == st.st_size and entry[1] == st.st_mtime_ns:
                hashes.append(entry[2])
                continue
            sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            fresh.append((path, st.st_size, st.st_mtime_ns, sha))
            hashes.append(sha)
        if fresh:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", fresh)
        if stats is not None:
            stats.hashed += len(fresh)
        return hashes

    def key_dir(self, backbone: str, weights_id: str, image_size: int) -> Path:
        return self.root / f"{backbone}-{image_size}px-{weights_id[:16]}"

    def path(self, key_dir: Path, sha: str) -> Path:
        return key_dir / sha[:2] / f"{sha}.npy"

    def load(self, key_dir: Path, sha: str) -> np.ndarray | None:
        try:
            return np.load(self.path(key_dir, sha), allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return None  # absent or half-written: compute it again

    def save(self, key_dir: Path, sha: str, features: np.ndarray) -> None:
        """Write atomically, so two runs sharing the cache never read half a file."""
        target = self.path(key_dir, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, features.astype(np.float32), allow_pickle=False)
        os.replace(tmp, target)


def compute_embeddings(
    backbone: keras.Model,
    paths: Sequence[str],
    cache: EmbeddingCache,
    *,
    backbone_name: str,
    weights_id: str,
    image_size: int,
    batch_size: int = 32,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, EmbeddingStats]:
    """Features of every image, computing (frozen backbone, no augmentation) only the missing ones.

    Args:
        backbone: A model from ``backbones.build_backbone`` (raw pixels in, features out).
        paths: Absolute image paths.
        cache: Where features are kept.
        backbone_name: Registry name, part of the cache key.
        weights_id: Identity of the weights (``backbones.weights_fingerprint``), part of the key.
        image_size: Input side, part of the key.
        batch_size: Images per forward pass.
        on_batch: Called with (batches done, batches total) after each computed batch; it may
            raise to stop (cancel).

    Returns:
        ``(features (N, D) float32, stats)``.
    """
    start = time.perf_counter()
    stats = EmbeddingStats(images=len(paths))
    key_dir = cache.key_dir(backbone_name, weights_id, image_size)
    hashes = cache.content_hashes(paths, stats)
    found = [cache.load(key_dir, sha) for sha in hashes]
    missing = [i for i, f in enumerate(found) if f is None]
    stats.hits = len(paths) - len(missing)
    stats.misses = len(missing)
    for rows, features in _forward(backbone, [paths[i] for i in missing], image_size, batch_size, on_batch):
        for row, vector in zip(rows, features):
            index = missing[row]
            cache.save(key_dir, hashes[index], vector)
            found[index] = vector
    stats.seconds = time.perf_counter() - start
    dim = int(backbone.output_shape[-1])
    matrix = np.stack(found).astype(np.float32) if found else np.zeros((0, dim), np.float32)
    return matrix, stats


def _forward(backbone: keras.Model, paths: list[str], image_size: int, batch_size: int,
             on_batch: Callable[[int, int], None] | None):
    """Yield (row positions, features) batch by batch for ``paths``."""
    if not paths:
        return
    total = -(-len(paths) // batch_size)
    ds = tf.data.Dataset.from_tensor_slices(paths)
    ds = ds.batch(batch_size).map(lambda p: tf.cast(load_image_group(p, image_size), tf.float32),
                                  num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
    for done, images in enumerate(ds, start=1):
        first = (done - 1) * batch_size
        features = np.asarray(backbone.predict_on_batch(images))
        yield range(first, first + len(features)), features
        if on_batch is not None:
            on_batch(done, total)
