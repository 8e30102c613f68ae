"""Images of another kind for the familiarity bench: scikit-image's bundled sample images (no download)
and seeded noise images, written as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# skimage.data functions whose images ship inside the package (the others need a download: left out).
BUNDLED = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "colorwheel",
           "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms",
           "moon", "page", "retina", "rocket", "shepp_logan_phantom", "text", "stereo_motorcycle",
           "checkerboard", "binary_blobs", "lfw_subset")
NOISE_KINDS = ("uniform", "gaussian", "salt_pepper", "smooth", "gray_uniform")


def _rgb(img: np.ndarray) -> np.ndarray:
    """8-bit RGB from any sample image (grayscale copied to three channels, alpha dropped)."""
    a = np.asarray(img)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.clip((a - a.min()) / max(float(a.max() - a.min()), 1e-9) * 255, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return a[..., :3]


def write_skimage(out: Path) -> list[Path]:
    import skimage.data as data

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in BUNDLED:
        got = getattr(data, name)()
        images = list(got[:2]) if name == "stereo_motorcycle" else list(got[:10]) if name == "lfw_subset" else [got]
        for i, img in enumerate(images):
            path = out / f"{name}{'_' + str(i) if len(images) > 1 else ''}.png"
            Image.fromarray(_rgb(img)).save(path)
            paths.append(path)
    return paths


def write_noise(out: Path, per_kind: int = 4, size: int = 256, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in NOISE_KINDS:
        for i in range(per_kind):
            if kind == "uniform":
                a = rng.integers(0, 256, (size, size, 3))
            elif kind == "gaussian":
                a = rng.normal(128, 50, (size, size, 3))
            elif kind == "salt_pepper":
                a = (rng.random((size, size, 1)) < 0.5) * 255 * np.ones(3)
            elif kind == "smooth":  # blurred colour noise: blobs of colour
                small = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
                a = np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC))
            else:
                a = rng.integers(0, 256, (size, size, 1)) * np.ones(3)
            path = out / f"noise_{kind}_{i}.png"
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path)
            paths.append(path)
    return paths
