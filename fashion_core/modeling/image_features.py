"""Backbone features of image files through the workspace's embedding cache (for code outside modeling/)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fashion_core.modeling.backbones import build_backbone, weights_fingerprint
from fashion_core.modeling.embeddings import EmbeddingCache, compute_embeddings


def image_features(files: Sequence[str], cache_root: Path, *, backbone: str = "efficientnet_lite0",
                   weights: str = "bundled", image_size: int = 128, batch_size: int = 32,
                   on_batch: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Features (N, D) of ``files`` from a frozen pretrained backbone, computed only where not cached.

    Args:
        files: Absolute image paths.
        cache_root: The workspace's ``embeddings/`` folder (shared with quick-mode runs).
        backbone, weights, image_size: Which backbone, as in ``TrainConfig``.
        batch_size: Images per forward pass.
        on_batch: Called with (batches done, total) after each computed batch.

    Returns:
        ``(features, facts)`` with the cache statistics and the backbone used.
    """
    model = build_backbone(backbone, weights=weights, image_size=image_size)
    cache = EmbeddingCache(cache_root)
    try:
        features, stats = compute_embeddings(model, list(files), cache, backbone_name=backbone,
                                             weights_id=weights_fingerprint(model), image_size=image_size,
                                             batch_size=batch_size, on_batch=on_batch)
    finally:
        cache.close()
    return features, {**stats.to_dict(), "backbone": backbone, "weights": weights, "image_size": image_size}
