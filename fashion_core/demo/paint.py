"""Low-level drawing for the demo images: camera, colours, textures, backgrounds and layers."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType

import numpy as np
from PIL import Image, ImageDraw

Point = tuple[float, float]
RGB = tuple[int, int, int]

# Skin tones from light to dark, plus white, grey and black mannequins.
SKIN_TONES: tuple[RGB, ...] = (
    (250, 222, 196),
    (238, 196, 150),
    (222, 170, 120),
    (196, 136, 88),
    (150, 98, 60),
    (100, 64, 40),
    (232, 232, 228),
    (160, 160, 165),
    (70, 70, 76),
)
TEXTURES = ("plain", "stripes", "dots", "checks", "noise")
TEXTURE_P = (0.3, 0.22, 0.16, 0.16, 0.16)
BACKGROUNDS = ("solid", "gradient", "noise", "floor", "stripes")
BACKGROUND_P = (0.25, 0.3, 0.2, 0.15, 0.1)


@dataclass(frozen=True)
class Camera:
    """Maps world units (one head height, y down) onto a square canvas of ``pixels`` pixels."""

    cx: float
    cy: float
    size: float
    pixels: int

    def to_px(self, points: Sequence[Point]) -> list[Point]:
        scale = self.pixels / self.size
        half = self.pixels / 2
        return [((x - self.cx) * scale + half, (y - self.cy) * scale + half) for x, y in points]

    def length(self, world: float) -> float:
        return world * self.pixels / self.size


@dataclass(frozen=True)
class Fill:
    """A solid colour, optionally with a full-canvas texture image painted through a mask."""

    colour: RGB
    texture: Image.Image | None = None

    @property
    def outline(self) -> RGB:
        return shade(self.colour, 0.45)


def shade(colour: RGB, factor: float) -> RGB:
    """Return ``colour`` darkened (factor < 1) or lightened towards white (factor > 1)."""
    if factor <= 1:
        return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]
    mix = min(factor - 1, 1.0)
    return tuple(int(c + (255 - c) * mix) for c in colour)  # type: ignore[return-value]


def colour_distance(a: RGB, b: RGB) -> float:
    return math.dist(a, b)


def random_colour(rng: np.random.Generator, avoid: Sequence[RGB] = (), min_dist: float = 0) -> RGB:
    """Draw a colour over all hues, keeping at least ``min_dist`` from each colour in ``avoid``.

    Contrast is enforced against the figure's own colours only, never per label, so colour says
    nothing about the labelled value.
    """
    colour: RGB = (0, 0, 0)
    for _ in range(30):
        h, s, v = rng.random(), rng.uniform(0.0, 0.95), rng.uniform(0.18, 0.97)
        colour = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore[assignment]
        if all(colour_distance(colour, other) >= min_dist for other in avoid):
            break
    return colour


def random_skin(rng: np.random.Generator) -> RGB:
    base = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    return tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in base)  # type: ignore[return-value]


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _pattern_mask(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    """A boolean mask of the pattern's second colour, scaled to the canvas."""
    yy, xx = _grid(size)
    period = rng.uniform(0.035, 0.11) * size
    if kind == "stripes":
        angle = math.radians(float(rng.choice([0, 90, 45, 135])) + rng.normal(0, 6))
        u = xx * math.cos(angle) + yy * math.sin(angle) + rng.uniform(0, period)
        return (u / period) % 1.0 < rng.uniform(0.25, 0.6)
    if kind == "checks":
        ox, oy = rng.uniform(0, period, size=2)
        return ((np.floor((xx + ox) / period) + np.floor((yy + oy) / period)) % 2) == 0
    # dots
    ox, oy = rng.uniform(0, period, size=2)
    dx = (xx + ox) % period - period / 2
    dy = (yy + oy) % period - period / 2
    return dx * dx + dy * dy < (rng.uniform(0.18, 0.35) * period) ** 2


def _noise(rng: np.random.Generator, size: int, amplitude: float) -> np.ndarray:
    """Smooth colour noise: a coarse random grid scaled up, so it reads as fabric or mottling."""
    cells = int(rng.integers(6, 24))
    coarse = rng.normal(0, amplitude, size=(cells, cells, 3)).astype(np.float32)
    channels = [
        np.asarray(Image.fromarray(coarse[..., c], mode="F").resize((size, size), Image.BILINEAR))
        for c in range(3)
    ]
    fine = rng.normal(0, amplitude / 3, size=(size, size, 1)).astype(np.float32)
    return np.stack(channels, axis=-1) + fine


def make_fill(rng: np.random.Generator, pixels: int, colour: RGB) -> Fill:
    """A garment fill: ``colour`` with a random texture (plain, stripes, dots, checks or noise).

    The texture is computed at half the canvas size and scaled up: the canvas is supersampled
    twice, so this costs a quarter and looks the same in the final image.
    """
    kind = str(rng.choice(TEXTURES, p=TEXTURE_P))
    if kind == "plain":
        return Fill(colour)
    size = pixels // 2
    if kind == "noise":
        noisy = np.array(colour, dtype=np.float32) + _noise(rng, size, rng.uniform(12, 40))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), mode="RGB")
    else:
        second = shade(colour, rng.uniform(0.4, 0.7)) if rng.random() < 0.5 else random_colour(rng)
        mask = Image.fromarray(_pattern_mask(rng, size, kind).astype(np.uint8) * 255, mode="L")
        image = Image.new("RGB", (size, size), colour)
        image.paste(second, (0, 0), mask)
    return Fill(colour, image.resize((pixels, pixels), Image.NEAREST))


def make_background(
    rng: np.random.Generator, pixels: int, avoid: Sequence[RGB], kinds: Sequence[str] = BACKGROUNDS
) -> Image.Image:
    """A background: solid, gradient, noisy, wall-and-floor or faint stripes, away from ``avoid``.

    ``kinds`` limits the choice (weights renormalised). Computed at a quarter of the size and
    scaled up smoothly: backgrounds carry no fine detail.
    """
    size = max(pixels // 4, 8)
    weights = np.array([p for k, p in zip(BACKGROUNDS, BACKGROUND_P) if k in kinds])
    kind = str(rng.choice([k for k in BACKGROUNDS if k in kinds], p=weights / weights.sum()))
    first = np.array(random_colour(rng, avoid, 70), dtype=np.float32)
    second = np.array(random_colour(rng, avoid, 70), dtype=np.float32)
    yy, xx = _grid(size)
    if kind == "solid":
        rgb = np.broadcast_to(first, (size, size, 3))
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(angle) + yy * math.sin(angle)) / (size * 1.5) + 0.5
        t = np.clip(t, 0, 1)[..., None]
        rgb = first * (1 - t) + (first * 0.6 + second * 0.4) * t
    elif kind == "noise":
        rgb = first + _noise(rng, size, rng.uniform(10, 30))
    elif kind == "floor":
        horizon = rng.uniform(0.55, 0.9) * size
        rgb = np.where((yy > horizon)[..., None], first * 0.55 + second * 0.45, first)
    else:
        rgb = np.where(_pattern_mask(rng, size, "stripes")[..., None], first, first * 0.85 + second * 0.15)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    return image.resize((pixels, pixels), Image.BILINEAR)


def arc(centre: Point, rx: float, ry: float, t0: float, t1: float, steps: int = 12) -> list[Point]:
    """Points on an ellipse from angle ``t0`` to ``t1`` (radians; y down, so pi/2 is the bottom)."""
    return [(centre[0] + rx * math.cos(t), centre[1] + ry * math.sin(t)) for t in np.linspace(t0, t1, steps)]


def mirror(points: Sequence[Point]) -> list[Point]:
    return [(-x, y) for x, y in points]


class Painter:
    """Draws world-space shapes onto one canvas through a camera."""

    def __init__(self, camera: Camera, background: Image.Image) -> None:
        self.camera = camera
        self.canvas = background
        self._draw = ImageDraw.Draw(self.canvas)
        self._outline_px = max(2, round(camera.pixels / 110))

    def layer(self, fill: Fill, outline: RGB | None = None) -> Layer:
        """Start a layer: shapes added to it share one fill and one outline around their union."""
        return Layer(self, fill, fill.outline if outline is None else outline)

    def line(self, points: Sequence[Point], colour: RGB, width: float) -> None:
        px_width = max(1, round(self.camera.length(width)))
        self._draw.line(self.camera.to_px(points), fill=colour, width=px_width, joint="curve")

    def dot(self, centre: Point, radius: float, colour: RGB) -> None:
        (x, y), r = self.camera.to_px([centre])[0], max(1.0, self.camera.length(radius))
        self._draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)

    def paste(self, fill: Fill, mask: Image.Image, outline: RGB) -> None:
        """Paint ``fill`` through ``mask``, then ``outline`` along the inside of the mask's edge."""
        box = mask.getbbox()
        if box is None:
            return
        # Work on the layer's bounding box only: most layers cover a small part of the canvas.
        part = mask.crop(box)
        texture = fill.texture.crop(box) if fill.texture is not None else fill.colour
        self.canvas.paste(texture, box, part)
        self.canvas.paste(outline, box, _inner_edge(part, self._outline_px))


def _inner_edge(mask: Image.Image, width: int) -> Image.Image:
    """The pixels of ``mask`` within ``width`` pixels of its border (an erosion by shifted ANDs)."""
    inside = np.asarray(mask) > 127
    core = inside.copy()
    for k in range(1, width + 1):
        core[k:, :] &= inside[:-k, :]
        core[:-k, :] &= inside[k:, :]
        core[:, k:] &= inside[:, :-k]
        core[:, :-k] &= inside[:, k:]
        # Beyond the crop box lies nothing of the shape, so its rim is always edge.
        core[:k, :] = core[-k:, :] = False
        core[:, :k] = core[:, -k:] = False
    return Image.fromarray(((inside & ~core) * 255).astype(np.uint8), mode="L")


class Layer:
    """A mask that collects shapes and is painted (fill, then outline) when the block ends."""

    def __init__(self, painter: Painter, fill: Fill, outline: RGB) -> None:
        self.painter = painter
        self.fill = fill
        self.outline = outline
        self.mask = Image.new("L", painter.canvas.size, 0)
        self._draw = ImageDraw.Draw(self.mask)

    def polygon(self, points: Sequence[Point]) -> None:
        self._draw.polygon(self.painter.camera.to_px(points), fill=255)

    def ellipse(self, centre: Point, rx: float, ry: float) -> None:
        (x, y) = self.painter.camera.to_px([centre])[0]
        px, py = self.painter.camera.length(rx), self.painter.camera.length(ry)
        self._draw.ellipse((x - px, y - py, x + px, y + py), fill=255)

    def erase(self, points: Sequence[Point]) -> None:
        self._draw.polygon(self.painter.camera.to_px(points), fill=0)

    def __enter__(self) -> Layer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.painter.paste(self.fill, self.mask, self.outline)
