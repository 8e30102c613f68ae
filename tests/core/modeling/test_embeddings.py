"""Tests for the embedding cache: keyed by content hash, backbone, weights and input size."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from fashion_core.modeling import EmbeddingCache, build_backbone, compute_embeddings, weights_fingerprint
from tests.core.modeling._tiny_data import draw

pytestmark = pytest.mark.slow  # runs a (tiny, random) backbone


def _images(root: Path, n: int = 5) -> list[str]:
    paths = []
    for i in range(n):
        path = root / f"{i}.jpg"
        draw(path, ("red", "green", "blue")[i % 3], "large", seed=i)
        paths.append(str(path))
    return paths


def _backbone(size: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_backbone("mobilenet_v3_small", weights="none", image_size=size)


def test_features_are_cached_by_content_backbone_weights_and_size(tmp_path: Path) -> None:
    paths = _images(tmp_path / "img")
    backbone = _backbone(32)
    weights_id = weights_fingerprint(backbone)
    cache = EmbeddingCache(tmp_path / "emb")

    def run(model: keras.Model = backbone, wid: str = weights_id, size: int = 32, files: list[str] = paths):
        return compute_embeddings(
            model, files, cache, backbone_name="mobilenet_v3_small", weights_id=wid, image_size=size
        )

    first, stats1 = run()
    again, stats2 = run()
    copy = tmp_path / "elsewhere" / "copy.jpg"
    copy.parent.mkdir()
    shutil.copyfile(paths[0], copy)
    _, stats_copy = run(files=[str(copy)])
    _, stats_weights = run(wid="0" * 64)
    _, stats_size = run(model=_backbone(48), size=48)

    assert (stats1.misses, stats1.hits, stats1.hashed) == (5, 0, 5)
    assert (stats2.misses, stats2.hits, stats2.hashed) == (0, 5, 0)  # unchanged files are not even re-read
    np.testing.assert_allclose(again, first, rtol=1e-6)
    assert first.shape == (5, backbone.output_shape[-1])
    assert (stats_copy.hits, stats_copy.hashed) == (1, 1)  # same bytes at a new path: same features
    assert stats_weights.misses == 5 and stats_size.misses == 5
    cache.close()


def test_a_changed_file_is_hashed_and_computed_again(tmp_path: Path) -> None:
    paths = _images(tmp_path / "img", n=3)
    backbone = _backbone(32)
    cache = EmbeddingCache(tmp_path / "emb")
    kwargs = {
        "backbone_name": "mobilenet_v3_small",
        "weights_id": weights_fingerprint(backbone),
        "image_size": 32,
    }
    before, _ = compute_embeddings(backbone, paths, cache, **kwargs)

    draw(Path(paths[1]), "blue", "small", seed=99)  # new content at the same path
    stat = os.stat(paths[1])
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after, stats = compute_embeddings(backbone, paths, cache, **kwargs)

    assert (stats.hits, stats.misses, stats.hashed) == (2, 1, 1)
    np.testing.assert_allclose(after[[0, 2]], before[[0, 2]], rtol=1e-6)
    assert not np.allclose(after[1], before[1], rtol=1e-3, atol=0.0)  # random-init features are tiny
    cache.close()
